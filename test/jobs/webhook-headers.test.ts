// A job's headers at create and PATCH: only headers a fire can send as written are taken (SPEC §2, §4, §6).
import t, { type Test } from 'tap';
import type { NormalizeOptions } from '../../src/jobs/fields.js';
import { applyPatch, normalizeCreate } from '../../src/jobs/job.js';
import { headersBytesMax, normalizeWebhookHeaders } from '../../src/jobs/webhook-headers.js';
import { refusal } from './refusal.js';

const options: NormalizeOptions = {
  nowMs: Date.parse('2026-06-01T12:00:00Z'), maxPayloadBytes: 64 * 1024, denyPrivateWebhooks: false, generatedId: 'gen-1',
};
const unico = (headers: unknown): Record<string, unknown> =>
  ({ id: 'job-1', type: 'unico', timestamp: '2026-11-26T10:00:00Z', webhook_url: 'https://example.com/hook', headers });
const stored = normalizeCreate(unico({}), options);

/** The refusal of `headers` at create, checked to be the same at PATCH. */
function refused(t: Test, headers: Record<string, string>): { code: string; field: string; message: string } {
  const atCreate = refusal(() => normalizeCreate(unico(headers), options));
  t.strictSame(refusal(() => applyPatch(stored, { headers }, options)), atCreate, `PATCH refuses ${JSON.stringify(headers).slice(0, 80)} alike`);
  t.equal(atCreate.code, 'invalid_request', JSON.stringify(headers).slice(0, 80));
  t.notMatch(atCreate.message, /[\r\n]/, 'one line');
  return atCreate;
}

t.test('ordinary headers are taken and kept exactly as written', async (t) => {
  const headers = {
    Authorization: 'Bearer x', 'X-Custom': 'a b', 'x-tabbed': 'a\tb', 'X-Empty': '', 'X-Json': '{"a":[1,"b"]}',
    "X-Token!#$%&'*+.^_`|~": '~!@#$%^&*()_+-=[]{};:\'",.<>/?\\|`', Accept: 'application/json', 'Idempotency-Key': 'k-1',
  };
  t.strictSame(normalizeCreate(unico(headers), options).headers, headers);
  t.strictSame(applyPatch(stored, { headers }, options).headers, headers);
  t.strictSame(applyPatch(normalizeCreate(unico(headers), options), { headers: {} }, options).headers, {}, 'PATCH to none');
});

t.test('a value with a control character or a character outside ASCII is refused, naming the header', async (t) => {
  const cases: [string, RegExp][] = [
    ['a\u0001b', /U\+0001/], ['€', /U\+20AC/], ['é', /U\+00E9/], ['a\u007fb', /U\+007F/], ['a\u0000b', /U\+0000/],
    ['a\rb', /U\+000D/], ['a\nX-Injected: 1', /U\+000A/], ['\u{1F600}', /U\+1F600/], ['a\u0085b', /U\+0085/],
  ];
  for (const [value, codePoint] of cases) {
    const r = refused(t, { 'X-C': value });
    t.equal(r.field, 'headers.X-C');
    t.match(r.message, /^header "X-C" has U\+[0-9A-F]{4,5} in its value; a value is visible ASCII/, JSON.stringify(value));
    t.match(r.message, codePoint);
  }
});

t.test('a value that starts or ends with a space or tab is refused: receivers would drop it', async (t) => {
  for (const value of [' a', 'a ', '\ta', 'a\t', ' ']) {
    const r = refused(t, { 'X-C': value });
    t.equal(r.field, 'headers.X-C');
    t.match(r.message, /"X-C" has a value that starts or ends with a space or tab/, JSON.stringify(value));
  }
});

t.test('a name that is not an HTTP token is refused, naming the rule', async (t) => {
  const cases: [string, RegExp][] = [
    ['Bad Name', /U\+0020 in its name/], ['X:A', /U\+003A/], ['X-É', /U\+00C9/], ['', /an empty name/],
    ['a\nb', /U\+000A/], ['(x)', /U\+0028/], ['x"y', /U\+0022/],
  ];
  for (const [name, problem] of cases) {
    const r = refused(t, { [name]: 'v' });
    t.equal(r.field, `headers.${name}`);
    t.match(r.message, problem, JSON.stringify(name));
    t.match(r.message, /a name is an HTTP token \(RFC 9110 §5\.6\.2\)/);
  }
  t.match(refused(t, { ['X'.repeat(257)]: 'v' }).message, /longer than 256/);
  t.strictSame(Object.keys(normalizeCreate(unico({ ['X'.repeat(256)]: 'v' }), options).headers), ['X'.repeat(256)]);
});

t.test('two names that differ only in case are one header, refused as given twice', async (t) => {
  for (const headers of [{ 'X-A': '1', 'x-a': '2' }, { authorization: 'a', AUTHORIZATION: 'b' }]) {
    const [first, second] = Object.keys(headers);
    const r = refused(t, headers);
    t.equal(r.field, `headers.${second}`);
    t.equal(r.message, `headers "${first}" and "${second}" are one header (names ignore case); give it once`);
  }
});

t.test('connection and framing headers are refused: the HTTP client writes them', async (t) => {
  const cases: Record<string, string> = {
    Connection: 'close', 'Keep-Alive': 'timeout=5', 'Proxy-Connection': 'keep-alive', 'Transfer-Encoding': 'chunked',
    TE: 'trailers', Trailer: 'X-A', Upgrade: 'websocket', Expect: '100-continue', Host: 'example.org', 'Content-Length': '5',
    expect: '100-continue', HOST: 'x', 'Content-Encoding': 'gzip',
  };
  for (const [name, value] of Object.entries(cases)) {
    const r = refused(t, { [name]: value });
    t.equal(r.field, `headers.${name}`);
    t.equal(r.message, `header "${name}" is a connection or framing header, which the node's HTTP client controls; it cannot be given`);
  }
});

t.test('headers the node sets on every fire are refused, not silently replaced', async (t) => {
  const names = [
    'Content-Type', 'User-Agent', 'user-agent', 'traceparent', 'X-Job-Id', 'x-fire-id', 'X-Attempt', 'X-Scheduled-At',
    'webhook-id', 'Webhook-Timestamp', 'webhook-signature',
  ];
  for (const name of names) {
    const r = refused(t, { [name]: 'mine' });
    t.equal(r.field, `headers.${name}`);
    t.equal(r.message, `header "${name}" is set by the node on every fire (SPEC §4) and cannot be given`);
  }
  t.match(refused(t, JSON.parse('{"__proto__": "x"}') as Record<string, string>), { field: 'headers.__proto__', message: /not supported/ });
});

t.test('the count and value-length limits stay', async (t) => {
  const many = (n: number): Record<string, string> => Object.fromEntries(Array.from({ length: n }, (_, i) => [`X-H${i}`, 'v']));
  t.equal(Object.keys(normalizeCreate(unico(many(64)), options).headers).length, 64);
  t.match(refused(t, many(65)), { field: 'headers', message: /64/ });
  t.equal(normalizeCreate(unico({ 'X-Long': 'v'.repeat(8192) }), options).headers['X-Long']?.length, 8192);
  t.match(refused(t, { 'X-Long': 'v'.repeat(8193) }), { field: 'headers.X-Long', message: /8192/ });
});

t.test('all headers together are at most headersBytesMax as sent, so that a 16 KiB receiver takes every fire', async (t) => {
  // 'X-Hn' (4) + ': ' + value + CRLF: three headers of 4,088 characters come to exactly 12,288 bytes.
  const sized = (valueChars: number): Record<string, string> =>
    Object.fromEntries([0, 1, 2].map((i) => [`X-H${i}`, 'v'.repeat(valueChars)]));
  t.equal(Object.keys(normalizeCreate(unico(sized(4088)), options).headers).length, 3, 'exactly the limit is taken');
  const over = refused(t, sized(4089));
  t.equal(over.field, 'headers');
  t.match(over.message, /12291 bytes as sent; at most 12288/);
  t.equal(headersBytesMax, 12 * 1024);
});

t.test('the rule is the domain function itself: a copy, each header checked', async (t) => {
  const input = { 'X-A': '1' };
  const output = normalizeWebhookHeaders(input);
  t.strictSame(output, input);
  t.not(output, input, 'a copy');
});
