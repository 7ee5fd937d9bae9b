// The kinds of value a config key holds (port, host, duration, size, peers, tokens, ...), each parsing text or saying what it expects.
import { isIP } from 'node:net';

/**
 * A value that does not parse. The loader turns it into one line,
 * `config: <KEY> <expectation> (<detail>)`, quoting the whole value when there is no detail,
 * so a parser names only what it expects and, for lists, which entry is wrong.
 */
export class ValueError extends Error {
  /** Completes "config: KEY …", e.g. `must be an integer 1-65535`. */
  readonly expectation: string;
  /** Replaces the default `got "<value>"`; never holds a secret, because it is printed as is. */
  readonly detail: string | null;

  constructor(expectation: string, detail: string | null = null) {
    super(expectation);
    this.name = 'ValueError';
    this.expectation = expectation;
    this.detail = detail;
  }
}

/** How one kind of value is written on the command line and turned into its typed form. */
export interface ValueKind<T> {
  /** Shown after the flag in `--help`, e.g. `<port>`. */
  readonly placeholder: string;
  /** Throws ValueError when the text is not a value of this kind. */
  readonly parse: (text: string) => T;
  /** Boolean flags may be given bare (`--force-new-cluster` means true). */
  readonly isBoolean: boolean;
}

function kind<T>(placeholder: string, parse: (text: string) => T, isBoolean = false): ValueKind<T> {
  return { placeholder, parse, isBoolean };
}

/** Quotes a value for an error line, escaping newlines so that the line stays one line. */
export function quote(text: string): string {
  const shown = text.length > 80 ? `${text.slice(0, 77)}...` : text;
  return JSON.stringify(shown);
}

// ---------------------------------------------------------------------------
// Numbers, durations and sizes

// Leading zeros and signs are refused: "08080" is more likely a typo than a port.
const wholeNumber = /^(?:0|[1-9][0-9]*)$/;

function parseWhole(text: string): number | null {
  if (!wholeNumber.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : null;
}

export const port = kind('<port>', (text) => {
  const n = parseWhole(text);
  if (n === null || n < 1 || n > 65_535) throw new ValueError('must be an integer 1-65535');
  return n;
});

export const positiveInteger = kind('<n>', (text) => {
  const n = parseWhole(text);
  if (n === null || n < 1) throw new ValueError('must be a positive integer');
  return n;
});

/** A positive integer, or none when empty (a key whose default is "no limit"). */
export const optionalPositiveInteger = kind('<n>', (text): number | null =>
  text === '' ? null : positiveInteger.parse(text),
);

const durationUnitsMs: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const sizeUnitsBytes: Readonly<Record<string, number>> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/** Writes a whole number of ms in the largest unit that divides it (`90000` → `90s`). */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** Writes a whole number of bytes in the largest binary unit that divides it (`65536` → `64KiB`). */
export function formatBytes(bytes: number): string {
  for (const [unit, size] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}B`;
}

/** A whole number with an optional unit from `units`; null when malformed or beyond a safe integer. */
function parseWithUnit(text: string, units: Readonly<Record<string, number>>): number | null {
  const m = /^(0|[1-9][0-9]*)([A-Za-z]*)$/.exec(text);
  if (m === null) return null;
  const [, digits = '', unit = ''] = m;
  const scale = unit === '' ? 1 : units[unit];
  if (scale === undefined) return null;
  const n = Number(digits) * scale;
  return Number.isSafeInteger(n) ? n : null;
}

/** A duration of at least `minMs`, in ms: `250ms`, `90s`, `15m`, `2h`, `7d`, or a bare number of ms. */
export function duration(minMs: number): ValueKind<number> {
  const expectation =
    minMs === 0 ? 'must be a duration, written 250ms, 90s, 15m, 2h, 7d or whole ms (0 allowed)'
    : minMs === 1
      ? 'must be a positive duration, written 250ms, 90s, 15m, 2h, 7d or whole ms'
      : `must be a duration of at least ${formatDuration(minMs)}, written 250ms, 90s, 15m, 2h, 7d or whole ms`;
  return kind('<duration>', (text) => {
    const ms = parseWithUnit(text, durationUnitsMs);
    if (ms === null || ms < minMs) throw new ValueError(expectation);
    return ms;
  });
}

/** A size in bytes within [minBytes, maxBytes]: `64KiB`, `1MiB`, `512B`, or a bare number of bytes. */
export function size(minBytes: number, maxBytes: number): ValueKind<number> {
  const expectation = `must be a size from ${formatBytes(minBytes)} to ${formatBytes(maxBytes)}, written 64KiB, 1MiB or whole bytes`;
  return kind('<size>', (text) => {
    const bytes = parseWithUnit(text, sizeUnitsBytes);
    if (bytes === null || bytes < minBytes || bytes > maxBytes) throw new ValueError(expectation);
    return bytes;
  });
}

// ---------------------------------------------------------------------------
// Words

export const boolean = kind(
  '<true|false>',
  (text) => {
    // Exactly these two words: "1", "yes" or "TRUE" are refused rather than guessed at (SPEC §5).
    if (text === 'true') return true;
    if (text === 'false') return false;
    throw new ValueError('must be true or false');
  },
  true,
);

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof logLevels)[number];

function isLogLevel(text: string): text is LogLevel {
  return (logLevels as readonly string[]).includes(text);
}

export const logLevel = kind('<level>', (text): LogLevel => {
  if (!isLogLevel(text)) throw new ValueError(`must be one of ${logLevels.join(', ')}`);
  return text;
});

// Node ids and tenants appear in URLs (`DELETE /cluster/nodes/{id}`), fire records and metric labels,
// so they are kept to characters that need no escaping anywhere.
const namePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const nameRule = '1-64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit';

export const nodeId = kind('<id>', (text) => {
  if (!namePattern.test(text)) throw new ValueError(`must be ${nameRule}`);
  return text;
});

/** A non-empty string taken as is (a path). */
export const path = kind('<path>', (text) => {
  if (text === '') throw new ValueError('must not be empty');
  return text;
});

/** A path, or none when empty. */
export const optionalPath = kind('<path>', (text): string | null => (text === '' ? null : text));

/** A secret string, or none when empty. */
export const secret = kind('<secret>', (text): string | null => (text === '' ? null : text));

// ---------------------------------------------------------------------------
// Hosts, addresses and URLs

const hostLabel = '[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?';
const hostName = new RegExp(`^${hostLabel}(?:\\.${hostLabel})*\\.?$`);

/** A host name or IP address, with IPv6 brackets removed (`[::1]` → `::1`); null when neither. */
function parseHost(text: string): string | null {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (isIP(bare) !== 0) return bare;
  return bare === text && text.length <= 253 && hostName.test(text) ? text : null;
}

export const host = kind('<host>', (text) => {
  const parsed = parseHost(text);
  if (parsed === null) throw new ValueError('must be a host name or an IP address');
  return parsed;
});

/** True for the addresses that mean "every interface". */
export function isWildcardHost(h: string): boolean {
  return h === '0.0.0.0' || h === '::';
}

/** `host:port`, with an IPv6 host in brackets so that the port stays unambiguous. */
export function formatAddress(h: string, p: number): string {
  return isIP(h) === 6 ? `[${h}]:${p}` : `${h}:${p}`;
}

/** A cluster member's client URL, kept as its origin (`http://10.0.0.1:8080`). */
export const joinUrl = kind('<url>', (text): string | null => {
  if (text === '') return null;
  const expectation = "must be the http:// or https:// URL of a cluster member's client port, like http://10.0.0.1:8080";
  if (!URL.canParse(text)) throw new ValueError(expectation);
  const url = new URL(text);
  const isBare = url.pathname === '/' && url.search === '' && url.hash === '' && url.username === '' && url.password === '';
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !isBare) throw new ValueError(expectation);
  return url.origin;
});

// ---------------------------------------------------------------------------
// Lists

export interface Peer {
  readonly id: string;
  /** `host:port` of the node's Raft port, IPv6 hosts in brackets. */
  readonly address: string;
}

/** Splits a comma-separated list, trimming spaces; an empty entry is an error, not silently skipped. */
function entries(text: string): string[] {
  const list = text.split(',').map((e) => e.trim());
  list.forEach((e, i) => {
    if (e === '') throw new ValueError(`entry ${i + 1} must not be empty`);
  });
  return list;
}

function parsePeer(entry: string, index: number): Peer {
  const expectation = `entry ${index + 1} must be id=host:port, the id ${nameRule} and the port 1-65535`;
  const m = /^([^=]*)=(\[[^\]]*\]|[^:]*):([^:]*)$/.exec(entry);
  const [, id = '', rawHost = '', rawPort = ''] = m ?? [];
  const h = parseHost(rawHost);
  const p = parseWhole(rawPort);
  if (m === null || !namePattern.test(id) || h === null || p === null || p < 1 || p > 65_535) {
    throw new ValueError(expectation, `got ${quote(entry)}`);
  }
  return { id, address: formatAddress(h, p) };
}

/** The first value that occurs twice in `values`, or undefined. */
function firstRepeat(values: readonly string[]): string | undefined {
  return values.find((value, i) => values.indexOf(value) !== i);
}

export const peers = kind('<id=host:port,...>', (text): readonly Peer[] => {
  if (text.trim() === '') throw new ValueError('must list at least one node as id=host:port');
  const list = entries(text).map(parsePeer);
  const repeatedId = firstRepeat(list.map((peer) => peer.id));
  if (repeatedId !== undefined) throw new ValueError('must name each node once', `${quote(repeatedId)} appears twice`);
  const repeatedAddress = firstRepeat(list.map((peer) => peer.address));
  if (repeatedAddress !== undefined) {
    throw new ValueError('must give each node its own address', `${quote(repeatedAddress)} appears twice`);
  }
  return list;
});

export interface ApiToken {
  readonly token: string;
  /** The tenant the token acts for; null for an operator token, which sees every tenant and the cluster routes. */
  readonly tenant: string | null;
  readonly readOnly: boolean;
}

// RFC 6750 b64token: what may follow "Bearer " in an Authorization header, so every listed token can be sent.
const tokenPattern = /^[A-Za-z0-9\-._~+/]+=*$/;

function parseApiToken(entry: string, index: number): ApiToken {
  const parts = entry.split(':');
  // "x:read" is the read-only operator token x, never tenant "x" with token "read" (SPEC §6).
  const readOnly = parts.length > 1 && parts[parts.length - 1] === 'read';
  const [first = '', second] = readOnly ? parts.slice(0, -1) : parts;
  const tokenParts = readOnly ? parts.length - 1 : parts.length;
  const token = second ?? first;
  const tenant = second === undefined ? null : first;
  if (tokenParts > 2 || !tokenPattern.test(token) || (tenant !== null && !namePattern.test(tenant))) {
    // The entry itself is a secret, so the message names its position, never its text.
    throw new ValueError(
      `entry ${index + 1} must be token or tenant:token, optionally followed by :read,` +
        ` where a token is made of A-Z a-z 0-9 - . _ ~ + / = and a tenant is ${nameRule}`,
    );
  }
  return { token, tenant, readOnly };
}

export const apiTokens = kind('<[tenant:]token[:read],...>', (text): readonly ApiToken[] => {
  if (text.trim() === '') return [];
  const list = entries(text).map(parseApiToken);
  const tokens = list.map((t) => t.token);
  const repeated = firstRepeat(tokens);
  if (repeated !== undefined) {
    const first = tokens.indexOf(repeated);
    const second = tokens.indexOf(repeated, first + 1);
    throw new ValueError('must not list a token twice', `entries ${first + 1} and ${second + 1}`);
  }
  return list;
});

/**
 * Webhook signing secrets, comma-separated so that keys rotate (SPEC §4); a `whsec_` secret must be base64.
 * Kept as the text given: the webhook client parses the same format for each job's own `signing_secret`.
 */
export const signingSecrets = kind('<secret,...>', (text): string | null => {
  if (text === '') return null;
  text.split(',').forEach((s, i) => {
    const isBadWhsec = s.startsWith('whsec_') && !/^whsec_(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$/.test(s);
    if (s === '' || isBadWhsec) {
      throw new ValueError(`entry ${i + 1} must be a non-empty secret, and after whsec_ valid base64`);
    }
  });
  return text;
});
