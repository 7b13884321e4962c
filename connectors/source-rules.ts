/**
 * Operator rules for the hosts connectors may reach: networks (`10.0.0.0/8`, `fd00::/8`), single addresses,
 * host names (`db.example.com`, or `*.corp.example` for every name below it), each with an optional port
 * (`10.0.0.0/8:5432`, `[fd00::/8]:5432`, `db.example.com:3306`).
 */
import { BlockList, isIP } from 'node:net';

export interface SourceRule {
  /** As written, for messages. */
  text: string;
  /** Null: any port. */
  port: number | null;
  /** The addresses a network rule covers; null for a name rule. */
  network: BlockList | null;
  /** A name rule's host name, lower case, without a trailing dot. */
  name: string | null;
  /** `*.name`: names below `name` match, `name` itself does not. */
  subdomains: boolean;
}

/**
 * Denied whatever the operator configures: they answer on every cloud host and never hold a source.
 * Each entry says why; the README lists them.
 */
export const BUILT_IN_DENY: ReadonlyArray<{ rule: string; why: string }> = [
  { rule: '169.254.0.0/16', why: 'IPv4 link-local, where clouds serve instance metadata and credentials (169.254.169.254, 169.254.170.2)' },
  { rule: 'fe80::/10', why: 'IPv6 link-local' },
  { rule: 'fd00:ec2::254', why: 'AWS instance metadata over IPv6' },
  { rule: '100.100.100.200', why: 'Alibaba Cloud instance metadata' },
  { rule: 'metadata.google.internal', why: 'Google Cloud instance metadata, by name' },
  { rule: '0.0.0.0/8', why: '"this host" under another name: write 127.0.0.1 or the host name instead' },
  { rule: '::', why: '"this host" in IPv6: write ::1 or the host name instead' },
];

const LABEL = '[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?';
const HOST_NAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*\\.?$`, 'i');

/** True for a DNS name or an IP address; false for anything a driver could read as a path, a list or an escape. */
export function isHostName(host: string): boolean {
  return host.length <= 253 && (isIP(host) !== 0 || HOST_NAME.test(host));
}

/**
 * One spelling per address: IPv6 compressed and lower case without a zone, IPv4-mapped IPv6 as plain IPv4
 * (`::ffff:7f00:1` and `[::ffff:127.0.0.1]` are 127.0.0.1). Anything else is returned as given.
 */
export function canonicalAddress(address: string): string {
  const bare = address.replace(/^\[(.*)\]$/, '$1').split('%')[0] as string;
  if (isIP(bare) !== 6) return bare;
  const v6 = new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(v6);
  if (!mapped) return v6;
  const high = parseInt(mapped[1] as string, 16);
  const low = parseInt(mapped[2] as string, 16);
  return [high >> 8, high & 255, low >> 8, low & 255].join('.');
}

/** A `BlockList` of networks written as `address` or `address/prefix`; throws on a malformed entry. */
export function networkList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) addNetwork(list, entry);
  return list;
}

/** Whether `address` (any spelling) is in `list`. */
export function inNetwork(list: BlockList, address: string): boolean {
  const canonical = canonicalAddress(address);
  const family = isIP(canonical);
  return family !== 0 && list.check(canonical, family === 4 ? 'ipv4' : 'ipv6');
}

/** Parses one rule; throws an Error saying what is wrong with it. */
export function parseSourceRule(text: string): SourceRule {
  const rule = text.trim();
  const fail = (why: string): never => {
    const expected = 'write a network (10.0.0.0/8, [fd00::/8]), an address, or a host name (*.example.com), optionally with :port';
    throw new Error(`"${rule}" is not a source rule: ${why} - ${expected}`);
  };
  let target = rule;
  let port: number | null = null;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(rule);
  if (bracketed) {
    target = bracketed[1] as string;
    if (isIP(target.split('/')[0] as string) !== 6) fail('brackets hold an IPv6 address or network');
    port = bracketed[2] === undefined ? null : portOf(bracketed[2], fail);
  } else if ((rule.match(/:/g) ?? []).length === 1) {
    const colon = rule.lastIndexOf(':');
    target = rule.slice(0, colon);
    port = portOf(rule.slice(colon + 1), fail);
  }
  const [address, prefix] = target.split('/');
  if (isIP(address as string) !== 0) {
    const network = new BlockList();
    try {
      addNetwork(network, target);
    } catch (err) {
      fail((err as Error).message);
    }
    return { text: rule, port, network, name: null, subdomains: false };
  }
  if (prefix !== undefined) fail('a network needs an IP address before the /');
  const subdomains = target.startsWith('*.');
  const name = (subdomains ? target.slice(2) : target).toLowerCase().replace(/\.$/, '');
  if (!name || !HOST_NAME.test(name)) fail('not a host name');
  return { text: rule, port, network: null, name, subdomains };
}

/**
 * Whether a rule covers a host name or an address at a port. `port` null means the port is not known (a name
 * a driver resolves on its own): then `portless` says whether a rule limited to one port counts.
 */
export function ruleMatches(
  rule: SourceRule,
  target: { name?: string; address?: string },
  port: number | null,
  portless: boolean,
): boolean {
  if (rule.port !== null && (port === null ? !portless : rule.port !== port)) return false;
  if (rule.network && target.address !== undefined) return inNetwork(rule.network, target.address);
  if (rule.name !== null && target.name !== undefined) {
    const name = target.name.toLowerCase().replace(/\.$/, '');
    return rule.subdomains ? name.endsWith(`.${rule.name}`) : name === rule.name;
  }
  return false;
}

function addNetwork(list: BlockList, entry: string): void {
  const [raw, prefixText] = entry.split('/');
  const address = canonicalAddress(raw as string);
  const family = isIP(address);
  if (family === 0) throw new Error(`${raw} is not an IP address`);
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (prefixText === undefined) {
    list.addAddress(address, type);
    return;
  }
  const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= (family === 4 ? 32 : 128))) throw new Error(`/${prefixText} is not a prefix length for ${type}`);
  list.addSubnet(address, prefix, type);
}

function portOf(text: string, fail: (why: string) => never): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) fail(`${text} is not a port between 1 and 65535`);
  return port;
}
