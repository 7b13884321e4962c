/**
 * A source after its check: the drivers connect to the addresses that were checked, not to whatever a name
 * resolves to a moment later. Drivers that take a socket (pg, mysql2) get `socket()`; drivers that take a DNS
 * lookup function (MongoDB) get `lookup`, which also checks the servers a server names (replica set members).
 */
import { isIP, Socket, type LookupFunction } from 'node:net';
import { SourceDeniedError } from './source-denied-error';
import {
  checkEndpoints,
  refuseUnlessAllowed,
  resolveEndpoint,
  type CheckedAnswers,
  type SourceEndpoint,
  type SourcePolicy,
} from './source-policy';

export class SourceReach {
  private constructor(
    private readonly policy: SourcePolicy,
    private readonly endpoints: readonly SourceEndpoint[],
    private readonly answers: CheckedAnswers,
  ) {}

  /** Resolves and checks every endpoint (see `checkEndpoints`, strict). */
  static async check(endpoints: readonly SourceEndpoint[], policy: SourcePolicy): Promise<SourceReach> {
    return new SourceReach(policy, endpoints, await checkEndpoints(endpoints, policy, true));
  }

  /** What was checked: the endpoints and the addresses each name resolved to (a pool kept across runs is keyed by it). */
  get checked(): { endpoints: readonly SourceEndpoint[]; answers: Array<[string, readonly string[]]> } {
    return { endpoints: this.endpoints, answers: [...this.answers].sort((a, b) => a[0].localeCompare(b[0])) };
  }

  /** What a PostgreSQL connector looks for after connecting (see `PlatformDatabase.marker`). */
  get marker(): { table: string; comment: string } | null {
    return this.policy.platform?.marker ?? null;
  }

  /**
   * An unconnected socket whose `connect(port, host)` goes to the checked addresses of `host`, for a host and
   * port that were checked; anything else (another host, a unix socket path) fails with `SourceDeniedError`.
   */
  socket(): Socket {
    const socket = new Socket();
    const connect = socket.connect.bind(socket) as (options: { port: number; host: string; lookup: LookupFunction }) => Socket;
    socket.connect = ((port: unknown, host: unknown) => {
      const answer = this.checkedAnswer(port, host);
      if (answer instanceof Error) process.nextTick(() => socket.destroy(answer));
      else connect({ port: port as number, host: host as string, lookup: answerWith(answer) });
      return socket;
    }) as Socket['connect'];
    return socket;
  }

  /** A socket already connecting to `host:port` (drivers that take a socket factory). */
  connect(port: number, host: string): Socket {
    return this.socket().connect(port, host).setNoDelay(true).setKeepAlive(true);
  }

  /** `dns.lookup` for a driver: checked names answer as checked; others are resolved and checked now (port unknown). */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    const checked = this.answers.get(hostname.toLowerCase());
    const met: SourceEndpoint = { field: this.endpoints[0]?.field ?? 'uri', host: hostname, port: null };
    const answer = checked
      ? Promise.resolve(checked)
      : resolveEndpoint(met, this.policy, true).then((addresses) => {
          refuseUnlessAllowed(this.policy, met, addresses ?? []);
          return addresses ?? [];
        });
    answer.then(
      (addresses) => answerWith(addresses)(hostname, options, callback),
      (err: Error) => callback(err as NodeJS.ErrnoException, '', 4),
    );
  };

  private checkedAnswer(port: unknown, host: unknown): readonly string[] | Error {
    const asked = typeof port === 'number' && typeof host === 'string' ? { port, host: host.toLowerCase() } : null;
    const endpoint = asked && this.endpoints.find((e) => e.port === asked.port && e.host.toLowerCase() === asked.host);
    if (!endpoint) {
      const field = this.endpoints[0]?.field ?? 'dsn';
      const fix = `write the host and port in connection_config.${field} only`;
      return new SourceDeniedError([field], `the driver asked to connect to a server other than the one checked - ${fix}`);
    }
    if (isIP(endpoint.host) !== 0) return [endpoint.host];
    return (
      this.answers.get(endpoint.host.toLowerCase()) ??
      new SourceDeniedError([endpoint.field], `${endpoint.host} was not checked - try again`)
    );
  }
}

/** A lookup function that answers with `addresses` whatever it is asked (both the single and the `all` form). */
function answerWith(addresses: readonly string[]): LookupFunction {
  return (_hostname, options, callback) => {
    const list = addresses.map((address) => ({ address, family: isIP(address) }));
    if (options.all) callback(null, list);
    else callback(null, list[0]?.address ?? '', list[0]?.family ?? 4);
  };
}
