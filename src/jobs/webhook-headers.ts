// Checks a job's `headers` (SPEC §2) so that every one of them is sent as written on every fire (SPEC §4).
import { JobInputError } from './errors.js';
import { quote } from './time.js';

/** The longest header name taken; the schema bounds the count of headers and the length of each value. */
export const headerNameLengthMax = 256;

/**
 * Bytes of all of a job's headers as sent (`name: value` and CRLF each). Node's HTTP server takes 16 KiB of headers
 * by default and answers 431 past it; this leaves 4 KiB of those for the request line and the headers the node
 * sets on a fire. One value may be up to 8 KiB, the line limit of nginx's default buffers.
 */
export const headersBytesMax = 12 * 1024;

/** An HTTP token (RFC 9110 §5.6.2): the only names an HTTP client writes as given. */
const token = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/**
 * A field value (RFC 9110 §5.5) kept to visible ASCII, with spaces and tabs only between visible characters. No
 * control character can be sent (undici refuses one, and CR/LF would start another header); undici also refuses
 * any character past U+00FF, and a byte of 0x80-0xFF (obs-text) reads differently on each receiver. Whitespace at
 * either end is dropped by every receiver's parser, so the value would not arrive as stored.
 */
const fieldValue = /^(?:[\x21-\x7e](?:[\t\x20-\x7e]*[\x21-\x7e])?)?$/;

/**
 * Headers a fire sets itself on every attempt (SPEC §4; `user-agent` names the sending node, and the
 * `webhook-*` ones are the signature). A job's value would be replaced without a word, so it is refused instead.
 */
const nodeSetHeaders: ReadonlySet<string> = new Set([
  'content-type', 'user-agent', 'traceparent', 'x-job-id', 'x-fire-id', 'x-attempt', 'x-scheduled-at',
  'webhook-id', 'webhook-timestamp', 'webhook-signature',
]);
/**
 * Connection and framing headers (RFC 9110 §7.6.1, §7.2, §8.4, §8.6, §10.1.1; RFC 9112 §6.1): the HTTP client
 * writes them for its own connection and body. undici refuses most of them outright, so such a job could never
 * fire; a `Content-Encoding` would tell the receiver to decode the node's plain JSON body as gzip or the like.
 */
const connectionHeaders: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'expect', 'host',
  'content-length', 'content-encoding',
]);

/** A copy of a job's headers, each checked: a token name, a sendable value, no name twice, none the node owns. */
export function normalizeWebhookHeaders(input: Readonly<Record<string, string>>): Record<string, string> {
  const seen = new Map<string, string>();
  let bytes = 0;
  for (const [name, value] of Object.entries(input)) {
    const problem = nameProblem(name) ?? valueProblem(value);
    if (problem !== null) throw refusal(name, `header ${quote(name)} ${problem}`);
    const lower = name.toLowerCase();
    const first = seen.get(lower);
    if (first !== undefined) {
      throw refusal(name, `headers ${quote(first)} and ${quote(name)} are one header (names ignore case); give it once`);
    }
    seen.set(lower, name);
    bytes += name.length + value.length + 4;
  }
  if (bytes > headersBytesMax) {
    throw new JobInputError('invalid_request', 'headers', `headers come to ${bytes} bytes as sent; at most ${headersBytesMax} are `
      + 'taken, so that a receiver with the common 16 KiB limit takes every fire');
  }
  return { ...input };
}

function refusal(name: string, message: string): JobInputError {
  return new JobInputError('invalid_request', `headers.${name}`, message);
}

function nameProblem(name: string): string | null {
  if (name.length > headerNameLengthMax) return `has a name longer than ${headerNameLengthMax} characters`;
  if (!token.test(name)) {
    const bad = [...name].find((c) => !token.test(c));
    const what = bad === undefined ? 'an empty name' : `${codePointOf(bad)} in its name`;
    return `has ${what}; a name is an HTTP token (RFC 9110 §5.6.2): letters, digits and !#$%&'*+-.^_\`|~`;
  }
  // Valid token, but JSON.parse and object spreads treat it as the prototype, not as a key.
  if (name === '__proto__') return 'is not supported';
  const lower = name.toLowerCase();
  if (nodeSetHeaders.has(lower)) return 'is set by the node on every fire (SPEC §4) and cannot be given';
  if (connectionHeaders.has(lower)) {
    return "is a connection or framing header, which the node's HTTP client controls; it cannot be given";
  }
  return null;
}

function valueProblem(value: string): string | null {
  if (fieldValue.test(value)) return null;
  const bad = [...value].find((c) => !/[\t\x20-\x7e]/.test(c));
  if (bad !== undefined) {
    return `has ${codePointOf(bad)} in its value; a value is visible ASCII, with spaces and tabs between characters`;
  }
  return 'has a value that starts or ends with a space or tab; receivers drop those, so it would not arrive as given';
}

/** `U+0001`: names a character without writing it into the message. */
function codePointOf(character: string): string {
  return `U+${(character.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}
