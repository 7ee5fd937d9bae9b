// Checks a job's webhook URL, and tells private, loopback and link-local addresses apart (WEBHOOK_DENY_PRIVATE, SPEC §6).
import { JobInputError } from './errors.js';
import { quote } from './time.js';

/**
 * The URL as it will be requested (WHATWG-normalized: `http://Example.COM` → `http://example.com/`).
 * Only http and https; no user:password (credentials belong in `headers`). With `denyPrivate`, a host that is
 * `localhost`, `*.localhost` or a literal private address is refused; names are resolved and checked again at
 * fire time, since DNS can point anywhere.
 */
export function normalizeWebhookUrl(value: string, denyPrivate: boolean, field = 'webhook_url'): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch (err) {
    // The URL constructor reports a malformed URL with a TypeError (ERR_INVALID_URL).
    if (err instanceof TypeError) throw new JobInputError('invalid_request', field, `${field} ${quote(value)} is not a URL`);
    throw err;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new JobInputError('invalid_request', field, `${field} must be an http or https URL; got ${quote(value)}`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new JobInputError('invalid_request', field, `${field} must not carry credentials; send them in headers`);
  }
  if (denyPrivate && isPrivateHost(url.hostname)) {
    throw new JobInputError(
      'private_webhook_url', field, `${field} host ${quote(url.hostname)} is private, loopback or link-local`,
    );
  }
  return url.href;
}

/** A URL hostname (as `URL.hostname` writes it: IPv6 in brackets, IPv4 in dotted decimal) that must not be called. */
export function isPrivateHost(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost') || isPrivateAddress(name);
}

/**
 * True for an IP address that is not publicly routable: unspecified and "this network" (0.0.0.0/8, ::),
 * private (10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10), shared (100.64/10), loopback (127/8, ::1),
 * link-local (169.254/16, fe80::/10), IETF/benchmark (192.0.0/24, 198.18/15), multicast and reserved
 * (224/4, 240/4, ff00::/8); IPv4 inside IPv6 (mapped, compatible, NAT64 64:ff9b::/96, 6to4 2002::/16) is
 * judged by its IPv4. Takes a literal address (brackets and a %zone allowed); a name is not an address: false.
 */
export function isPrivateAddress(ip: string): boolean {
  const bare = ip.replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, '');
  const v4 = parseIpv4(bare);
  if (v4 !== null) return isPrivateIpv4(v4);
  const v6 = parseIpv6(bare);
  return v6 !== null && isPrivateIpv6(v6);
}

/** The four octets of a dotted-decimal IPv4 address, or null. */
function parseIpv4(text: string): number[] | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const octets = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : NaN));
  return octets.every((o) => o <= 255) ? octets : null;
}

function isPrivateIpv4([a = 0, b = 0, c = 0]: readonly number[]): boolean {
  return (
    a === 0 || a === 10 || a === 127 || a >= 224 ||
    (a === 100 && b >= 64 && b <= 127) ||
    (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 192 && b === 0 && c === 0) ||
    (a === 198 && (b === 18 || b === 19))
  );
}

/** The eight 16-bit groups of an IPv6 address (with `::` and a dotted IPv4 tail allowed), or null. */
function parseIpv6(text: string): number[] | null {
  if (!text.includes(':') || text.length > 45) return null;
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groupsOf = (part: string): number[] | null => {
    if (part === '') return [];
    const groups: number[] = [];
    const pieces = part.split(':');
    for (const [i, piece] of pieces.entries()) {
      if (i === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseIpv4(piece);
        if (v4 === null) return null;
        groups.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
      } else if (/^[0-9a-f]{1,4}$/i.test(piece)) {
        groups.push(parseInt(piece, 16));
      } else {
        return null;
      }
    }
    return groups;
  };
  const head = groupsOf(halves[0] ?? '');
  const tail = groupsOf(halves[1] ?? '');
  if (head === null || tail === null) return null;
  if (halves.length === 1) return head.length === 8 ? head : null;
  const zeros = 8 - head.length - tail.length;
  return zeros >= 1 ? [...head, ...new Array<number>(zeros).fill(0), ...tail] : null;
}

function isPrivateIpv6(g: readonly number[]): boolean {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g;
  const embedded = (hi: number, lo: number): number[] => [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff];
  const upperZero = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0;
  if (upperZero && g5 === 0) return g6 === 0 || isPrivateIpv4(embedded(g6, g7)); // :: , ::1 and ::a.b.c.d
  if (upperZero && g5 === 0xffff) return isPrivateIpv4(embedded(g6, g7)); // ::ffff:a.b.c.d
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) {
    return isPrivateIpv4(embedded(g6, g7));
  }
  if (g0 === 0x2002) return isPrivateIpv4(embedded(g1, g2));
  return (g0 & 0xfe00) === 0xfc00 || (g0 & 0xffc0) === 0xfe80 || (g0 & 0xffc0) === 0xfec0 || (g0 & 0xff00) === 0xff00;
}
