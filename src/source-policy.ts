/**
 * The source policy this installation's connectors run under: the operator's rules (QANATIX_SOURCE_ALLOW,
 * QANATIX_SOURCE_DENY, on top of the built-in denies) and the platform's own database, described from the
 * pool that talks to it: every address it answers on (all of this machine's when it runs here), its ports, its
 * names and its marker (migration 0004).
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type pg from 'pg';
import { BUILT_IN_DENY_RULES, type PlatformDatabase, type SourcePolicy } from '../connectors/source-policy';
import { canonicalAddress, inNetwork, networkList, parseSourceRule, type SourceRule } from '../connectors/source-rules';

export interface SourceRules {
  /** When not empty, connectors reach only these. */
  allow: SourceRule[];
  /** Denied in addition to the built-in entries. */
  deny: SourceRule[];
}

const MARKER_TABLE = 'qanatix_installation';
/** Addresses that reach this machine whatever its interfaces are: loopback and "this host". */
const THIS_MACHINE = ['127.0.0.0/8', '::1', '0.0.0.0/8', '::'];

/** Rules from a comma- or space-separated list; throws naming `variable` and the entry that is wrong. */
export function parseSourceRules(text: string | undefined, variable: string): SourceRule[] {
  return (text ?? '')
    .split(/[\s,]+/)
    .filter(Boolean)
    .map((entry) => {
      try {
        return parseSourceRule(entry);
      } catch (err) {
        throw new Error(`${variable}: ${(err as Error).message}`);
      }
    });
}

const platforms = new WeakMap<pg.Pool, Promise<PlatformDatabase>>();

/** The policy for connectors of the installation whose store `pool` talks to (described once per pool). */
export async function sourcePolicy(pool: pg.Pool, rules: SourceRules): Promise<SourcePolicy> {
  let platform = platforms.get(pool);
  if (!platform) {
    platform = describePlatform(pool);
    platforms.set(pool, platform);
    platform.catch(() => platforms.delete(pool));
  }
  return { deny: [...BUILT_IN_DENY_RULES, ...rules.deny], allow: rules.allow, platform: await platform };
}

async function describePlatform(pool: pg.Pool): Promise<PlatformDatabase> {
  const { rows } = await pool.query<{ database: string; port: string; address: string | null; marker: string | null }>(
    `select current_database() as database, current_setting('port') as port, host(inet_server_addr()) as address,
            obj_description(to_regclass($1), 'pg_class') as marker`,
    [MARKER_TABLE],
  );
  const server = rows[0]!;
  const configured = configuredTarget(pool.options);
  const addresses = [...(server.address ? [server.address] : []), ...(configured.host ? await addressesOf(configured.host) : [])].map(
    canonicalAddress,
  );
  const local = configured.host === null || addresses.some(isThisMachine);
  return {
    networks: local ? [...new Set([...addresses, ...THIS_MACHINE, ...interfaceAddresses()])] : [...new Set(addresses)],
    ports: [...new Set([Number(server.port), configured.port])],
    databases: [...new Set([server.database, ...(configured.database ? [configured.database] : [])])],
    marker: server.marker ? { table: MARKER_TABLE, comment: server.marker } : null,
  };
}

/** Host (null: a unix socket), port and database the pool connects with. */
function configuredTarget(options: pg.PoolOptions): { host: string | null; port: number; database: string | null } {
  let host = options.host ?? null;
  let port = Number(options.port ?? 5432);
  let database = options.database ?? null;
  if (options.connectionString) {
    const url = new URL(options.connectionString);
    host = url.searchParams.get('host') ?? url.hostname.replace(/^\[(.*)\]$/, '$1');
    port = Number(url.searchParams.get('port') ?? (url.port || 5432));
    database = decodeURIComponent(url.pathname.slice(1)) || null;
  }
  return { host: host && !host.startsWith('/') ? decodeURIComponent(host) : null, port, database };
}

async function addressesOf(host: string): Promise<string[]> {
  if (isIP(host)) return [host];
  try {
    return (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
  } catch {
    return [];
  }
}

const thisMachine = networkList(THIS_MACHINE);

function isThisMachine(address: string): boolean {
  return inNetwork(thisMachine, address) || interfaceAddresses().includes(address);
}

function interfaceAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .map((i) => canonicalAddress(i!.address));
}
