/**
 * Whether a notify URL may be called. It is the tenant's text, so it is held to the connectors' source policy (the
 * built-in and operator denies, the operator's allow list) and, being called from inside the installation, more:
 * loopback, private, link-local, multicast and reserved addresses are refused unless an operator allow rule names
 * them, and plain http:// is taken only for a host such a rule names. Checked on the addresses the name resolves to;
 * a delivery connects to exactly those (`NotifyTarget.addresses`), so DNS that changes after the check reaches nothing.
 */
import { isIP } from 'node:net';
import { ConnectorError } from '../../connectors/connector-error';
import { SourceDeniedError } from '../../connectors/source-denied-error';
import { refuseUnlessAllowed, resolveEndpoint, type SourceEndpoint, type SourcePolicy } from '../../connectors/source-policy';
import { canonicalAddress, inNetwork, networkList, ruleMatches } from '../../connectors/source-rules';
import { redactUrl } from '../../connectors/notify-config';

/** Never a public webhook receiver: reached only where an operator allow rule names the address or the host. */
const INTERNAL = networkList([
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '224.0.0.0/4',
  '240.0.0.0/4',
  '::/96',
  '::1',
  '64:ff9b::/96',
  'fc00::/7',
  'fe80::/10',
  'ff00::/8',
]);

const LOCALHOST = /(^|\.)localhost\.?$/i;

export interface NotifyTarget {
  url: URL;
  /** The checked addresses of the URL's host: connect to these and nothing else. */
  addresses: string[];
}

const FIELD = ['notify', 'url'];

/**
 * Resolves and checks a notify URL; throws `SourceDeniedError` at `notify.url` when it may not be called. `strict`
 * (before a delivery): a name that does not resolve is an error; otherwise (saving) it is checked by name only.
 */
export async function checkNotifyTarget(href: string, policy: SourcePolicy, strict: boolean): Promise<NotifyTarget> {
  const url = new URL(href);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const endpoint: SourceEndpoint = { field: 'notify.url', host, port };
  const shown = redactUrl(href);
  let addresses: string[];
  try {
    addresses = (await resolveEndpoint(endpoint, policy, strict)) ?? [];
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new ConnectorError('unreachable', `${shown}: host "${host}" not found${code ? ` (${code})` : ''} - check notify.url`, { code });
  }
  try {
    refuseUnlessAllowed(policy, endpoint, addresses);
  } catch (err) {
    if (!(err instanceof SourceDeniedError)) throw err;
    throw new SourceDeniedError(
      FIELD,
      `${shown}: ${err.message.replace(/ - change connection_config\.notify\.url/, ' - change notify.url')}`,
    );
  }
  const named = (address?: string) =>
    policy.allow.some((r) => ruleMatches(r, address === undefined ? { name: host } : { address }, port, false));
  const operatorAllowed = named() || (addresses.length > 0 && addresses.every((a) => named(a)));
  const internal = (what: string) =>
    new SourceDeniedError(
      FIELD,
      `${shown} reaches ${what}, an internal address (loopback, private, link-local or reserved): ` +
        'notifications go to public hosts - change notify.url, or ask the operator to allow this host in QANATIX_SOURCE_ALLOW',
    );
  // Names that are this machine by definition (RFC 6761), however the resolver of the moment answers for them.
  if (LOCALHOST.test(host) && !operatorAllowed) throw internal(host);
  for (const address of addresses) {
    if (inNetwork(INTERNAL, address) && !named() && !named(address)) throw internal(canonicalAddress(address));
  }
  if (url.protocol === 'http:' && !operatorAllowed) {
    throw new SourceDeniedError(
      FIELD,
      `${shown} is plain http:// - write https://, or ask the operator to allow this host in QANATIX_SOURCE_ALLOW`,
    );
  }
  return { url, addresses: isIP(host) ? [canonicalAddress(host)] : addresses };
}
