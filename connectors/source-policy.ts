/**
 * What a connector may reach. The caller (the API, the worker) describes the platform's own database and the
 * operator's rules in a `SourcePolicy`; connectors only apply it, on the addresses names resolve to, never on
 * how a host is spelled: `localhost`, `127.1`, `[::ffff:127.0.0.1]` and a name pointing at 127.0.0.1 are one
 * address. Deny rules win over allow rules; the platform database is refused whatever the rules say.
 */
import { lookup, resolveSrv } from 'node:dns/promises';
import { isIP, type BlockList } from 'node:net';
import { ConnectorError } from './connector-error';
import { SourceDeniedError } from './source-denied-error';
import { BUILT_IN_DENY, canonicalAddress, inNetwork, networkList, parseSourceRule, ruleMatches, type SourceRule } from './source-rules';

/** One server a connection config points at, as its driver will see it. */
export interface SourceEndpoint {
  /** The `connection_config` field that names it: `dsn`, `uri`, `host`. */
  field: string;
  /** Decoded, without IPv6 brackets. */
  host: string;
  /** Null when the driver learns the port on its own (a server another server named). */
  port: number | null;
  /** The PostgreSQL database the connection opens; compared with the platform's. */
  database?: string;
  /** `host` names a DNS SRV record (`mongodb+srv://`) that lists the servers. */
  srv?: boolean;
}

/** The platform's own PostgreSQL database, as the caller knows it. */
export interface PlatformDatabase {
  /** Addresses and networks it answers on; all of this machine's when it runs here. */
  networks: readonly string[];
  ports: readonly number[];
  /** Compared without regard to case. */
  databases: readonly string[];
  /**
   * A table only the platform database has and the comment on it naming this installation: a PostgreSQL
   * connector looks for it right after connecting, which catches what addresses cannot (a proxy, a second
   * listen address, DNS that changed).
   */
  marker: { table: string; comment: string } | null;
}

export interface SourceResolver {
  /** Every address of a host name, as the drivers' own connects would get them. */
  addresses(host: string): Promise<string[]>;
  /** The targets of a DNS SRV record. */
  services(name: string): Promise<Array<{ name: string; port: number }>>;
}

export interface SourcePolicy {
  /** Never reached (built-in entries included). */
  deny: readonly SourceRule[];
  /** When not empty, only these are reached. */
  allow: readonly SourceRule[];
  platform: PlatformDatabase | null;
  /** Tests substitute their own; the default is the system resolver the drivers use. */
  resolver?: SourceResolver;
}

export const systemResolver: SourceResolver = {
  async addresses(host) {
    return (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
  },
  async services(name) {
    return (await resolveSrv(name)).map((s) => ({ name: s.name, port: s.port }));
  },
};

export const BUILT_IN_DENY_RULES: readonly SourceRule[] = BUILT_IN_DENY.map((d) => parseSourceRule(d.rule));

/** The built-in denies and nothing else: what `createConnector` applies when its caller gives no policy. */
export const BUILT_IN_POLICY: SourcePolicy = { deny: BUILT_IN_DENY_RULES, allow: [], platform: null };

/** Checked names and their addresses, lower-case name → addresses. */
export type CheckedAnswers = Map<string, readonly string[]>;

/**
 * Resolves and checks every endpoint; throws `SourceDeniedError` for the first refused one. A name that does
 * not resolve is skipped when `strict` is false (saving a config connects nowhere), and is an `unreachable`
 * error when it is true (about to connect: nothing unchecked may be reached).
 */
export async function checkEndpoints(endpoints: readonly SourceEndpoint[], policy: SourcePolicy, strict: boolean): Promise<CheckedAnswers> {
  const answers: CheckedAnswers = new Map();
  for (const endpoint of endpoints) {
    for (const target of endpoint.srv ? await srvTargets(endpoint, policy, strict) : [endpoint]) {
      const addresses = await resolveEndpoint(target, policy, strict);
      if (addresses === null) {
        refuseDeniedName(policy, target);
        continue;
      }
      refuseUnlessAllowed(policy, target, addresses);
      answers.set(target.host.toLowerCase(), addresses);
    }
  }
  return answers;
}

/** Throws `SourceDeniedError` when `endpoint`, at `addresses`, is the platform database or outside the rules. */
export function refuseUnlessAllowed(policy: SourcePolicy, endpoint: SourceEndpoint, addresses: readonly string[]): void {
  const { host, port, field } = endpoint;
  const fix = `change connection_config.${field}`;
  if (isPlatformDatabase(policy.platform, endpoint, addresses)) {
    const what = `${where(endpoint)}/${endpoint.database} is this installation's own database`;
    throw new SourceDeniedError([field], `${what}: connectors may not read it - ${fix} to the database you want to pull from`);
  }
  refuseDeniedName(policy, endpoint);
  for (const address of addresses) {
    const denied = policy.deny.find((r) => ruleMatches(r, { address }, port, true));
    if (denied) {
      const what = `${where(endpoint)} is on a denied network (${canonicalAddress(address)}, rule ${denied.text})`;
      throw new SourceDeniedError([field], `${what} - ${fix}, or ask the operator`);
    }
  }
  if (policy.allow.length === 0) return;
  const allowedName = policy.allow.some((r) => ruleMatches(r, { name: host }, port, false));
  const allowedAddresses =
    addresses.length > 0 && addresses.every((address) => policy.allow.some((r) => ruleMatches(r, { address }, port, false)));
  if (!allowedName && !allowedAddresses) {
    throw new SourceDeniedError(
      [field],
      `${where(endpoint)} is not among the source hosts this installation allows - ${fix}, or ask the operator to allow it`,
    );
  }
}

const platformNetworks = new WeakMap<PlatformDatabase, BlockList>();

function isPlatformDatabase(platform: PlatformDatabase | null, endpoint: SourceEndpoint, addresses: readonly string[]): boolean {
  if (!platform || endpoint.database === undefined || endpoint.port === null || !platform.ports.includes(endpoint.port)) return false;
  const database = endpoint.database.toLowerCase();
  if (!platform.databases.some((d) => d.toLowerCase() === database)) return false;
  let networks = platformNetworks.get(platform);
  if (!networks) platformNetworks.set(platform, (networks = networkList(platform.networks)));
  return addresses.some((address) => inNetwork(networks, address));
}

/** The addresses of an endpoint (an IP literal is its own); null when it does not resolve and `strict` is false. */
export async function resolveEndpoint(endpoint: SourceEndpoint, policy: SourcePolicy, strict: boolean): Promise<string[] | null> {
  if (isIP(endpoint.host) !== 0) return [canonicalAddress(endpoint.host)];
  try {
    const addresses = (await (policy.resolver ?? systemResolver).addresses(endpoint.host)).map(canonicalAddress);
    if (addresses.length) return addresses;
  } catch (err) {
    if (strict) throw unresolved(endpoint, (err as { code?: string }).code);
    return null;
  }
  if (strict) throw unresolved(endpoint, undefined);
  return null;
}

async function srvTargets(endpoint: SourceEndpoint, policy: SourcePolicy, strict: boolean): Promise<SourceEndpoint[]> {
  // The record's own name is checked against name rules before anything it lists is looked at.
  refuseDeniedName(policy, endpoint);
  try {
    const targets = await (policy.resolver ?? systemResolver).services(`_mongodb._tcp.${endpoint.host}`);
    return targets.map((t) => ({ field: endpoint.field, host: t.name, port: t.port }));
  } catch (err) {
    if (strict) throw unresolved(endpoint, (err as { code?: string }).code);
    return [];
  }
}

function refuseDeniedName(policy: SourcePolicy, endpoint: SourceEndpoint): void {
  const named = policy.deny.find((r) => ruleMatches(r, { name: endpoint.host }, endpoint.port, true));
  if (named) {
    const fix = `change connection_config.${endpoint.field}, or ask the operator`;
    throw new SourceDeniedError([endpoint.field], `${where(endpoint)} is a denied source host (rule ${named.text}) - ${fix}`);
  }
}

function where({ host, port }: SourceEndpoint): string {
  return port === null ? host : `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}

function unresolved(endpoint: SourceEndpoint, code: string | undefined): ConnectorError {
  return new ConnectorError(
    'unreachable',
    `cannot reach ${endpoint.host}: host "${endpoint.host}" not found${code ? ` (${code})` : ''} - check the host in connection_config.${endpoint.field}`,
    { code: code ?? 'ENOTFOUND' },
  );
}
