// Each kind of config value: what it accepts, what it turns it into, and what it says about text it refuses.
import t from 'tap';
import type { Test } from 'tap';
import * as kinds from '../../src/config/value-parsers.js';
import { ValueError } from '../../src/config/value-parsers.js';
import type { ValueKind } from '../../src/config/value-parsers.js';

/** The ValueError that parsing `text` throws, as `expectation | detail`, or a note that it parsed. */
function refusal<T>(kind: ValueKind<T>, text: string): string {
  try {
    return `parsed ${JSON.stringify(kind.parse(text))}`;
  } catch (err) {
    if (!(err instanceof ValueError)) throw err;
    return err.detail === null ? err.expectation : `${err.expectation} | ${err.detail}`;
  }
}

function accepts<T>(t: Test, kind: ValueKind<T>, cases: readonly (readonly [string, T])[]): void {
  for (const [text, expected] of cases) t.strictSame(kind.parse(text), expected, `${JSON.stringify(text)} parses`);
}

function refuses<T>(t: Test, kind: ValueKind<T>, texts: readonly string[], expectation: string): void {
  for (const text of texts) t.equal(refusal(kind, text), expectation, `${JSON.stringify(text)} is refused`);
}

t.test('ports are integers from 1 to 65535 written without sign, spaces or leading zeros', async (t) => {
  accepts(t, kinds.port, [['1', 1], ['80', 80], ['65535', 65_535]]);
  refuses(t, kinds.port, ['', '0', '65536', '-1', '+80', ' 80', '80 ', '080', '80.0', '8e3', 'x', '99999999999999999999'],
    'must be an integer 1-65535');
  t.equal(kinds.port.placeholder, '<port>');
  t.equal(kinds.port.isBoolean, false);
});

t.test('positive integers refuse zero and anything that is not a whole number', async (t) => {
  accepts(t, kinds.positiveInteger, [['1', 1], ['10000000', 10_000_000], ['9007199254740991', Number.MAX_SAFE_INTEGER]]);
  refuses(t, kinds.positiveInteger, ['', '0', '-3', '1.5', '1e3', '9007199254740992', '01', '10_000'],
    'must be a positive integer');
});

t.test('an optional positive integer is none when empty', async (t) => {
  accepts(t, kinds.optionalPositiveInteger, [['', null], ['5', 5]]);
  refuses(t, kinds.optionalPositiveInteger, ['0', 'x'], 'must be a positive integer');
});

t.test('durations take ms, s, m, h or d, or a bare number of milliseconds', async (t) => {
  const d = kinds.duration(1);
  accepts(t, d, [
    ['250ms', 250], ['90s', 90_000], ['15m', 900_000], ['2h', 7_200_000], ['7d', 604_800_000], ['1500', 1500], ['1', 1],
  ]);
  refuses(t, d, ['', '0', '0s', '1.5s', '-1s', '10 s', ' 10s', '10S', '10sec', '1w', '010s', 'ms', 's10', '99999999999d'],
    'must be a positive duration, written 250ms, 90s, 15m, 2h, 7d or whole ms');
  t.equal(d.placeholder, '<duration>');
});

t.test('a duration that may be 0 takes 0 and refuses what is not a duration', async (t) => {
  const d = kinds.duration(0);
  accepts(t, d, [['0', 0], ['0s', 0], ['30m', 1_800_000]]);
  refuses(t, d, ['', '-1s', '1.5s', 'never'], 'must be a duration, written 250ms, 90s, 15m, 2h, 7d or whole ms (0 allowed)');
});

t.test('a duration with a minimum refuses anything shorter and names the minimum', async (t) => {
  const d = kinds.duration(50);
  accepts(t, d, [['50ms', 50], ['50', 50], ['1s', 1000]]);
  refuses(t, d, ['49ms', '49', '0s', 'x'], 'must be a duration of at least 50ms, written 250ms, 90s, 15m, 2h, 7d or whole ms');
  t.equal(refusal(kinds.duration(60_000), '59s'),
    'must be a duration of at least 1m, written 250ms, 90s, 15m, 2h, 7d or whole ms');
});

t.test('sizes take B, KiB, MiB or GiB, or a bare number of bytes, within their bounds', async (t) => {
  const s = kinds.size(1, 1024 * 1024);
  accepts(t, s, [['64KiB', 65_536], ['1MiB', 1_048_576], ['65536', 65_536], ['512B', 512], ['1', 1]]);
  refuses(t, s, ['', '0', '2MiB', '1048577', '1GiB', '64kib', '64KB', '64K', '1.5KiB', '64 KiB'],
    'must be a size from 1B to 1MiB, written 64KiB, 1MiB or whole bytes');
  t.equal(refusal(kinds.size(1024, 3 * 1024 ** 3), '1'), 'must be a size from 1KiB to 3GiB, written 64KiB, 1MiB or whole bytes');
  t.strictSame(kinds.size(1, 2 * 1024 ** 3).parse('2GiB'), 2 * 1024 ** 3);
});

t.test('booleans are exactly true or false and may be given bare as flags', async (t) => {
  accepts(t, kinds.boolean, [['true', true], ['false', false]]);
  refuses(t, kinds.boolean, ['', 'TRUE', 'True', '1', '0', 'yes', 'no', ' true'], 'must be true or false');
  t.equal(kinds.boolean.isBoolean, true);
  t.equal(kinds.boolean.placeholder, '<true|false>');
});

t.test('log levels are pino level names', async (t) => {
  t.strictSame(kinds.logLevels, ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
  for (const level of kinds.logLevels) t.equal(kinds.logLevel.parse(level), level);
  refuses(t, kinds.logLevel, ['', 'INFO', 'verbose', 'warning'], 'must be one of fatal, error, warn, info, debug, trace, silent');
});

t.test('node ids are 1-64 URL-safe characters starting with a letter or digit', async (t) => {
  accepts(t, kinds.nodeId, [['node1', 'node1'], ['scheduled-db-0', 'scheduled-db-0'], ['a.b_c', 'a.b_c'], ['x'.repeat(64), 'x'.repeat(64)]]);
  refuses(t, kinds.nodeId, ['', '-a', '.a', '_a', 'a b', 'a/b', 'a=b', 'a:b', 'é', 'x'.repeat(65)],
    'must be 1-64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit');
});

t.test('hosts are names or IP addresses, and IPv6 loses its brackets', async (t) => {
  accepts(t, kinds.host, [
    ['localhost', 'localhost'], ['10.0.0.1', '10.0.0.1'], ['0.0.0.0', '0.0.0.0'], ['::', '::'], ['::1', '::1'],
    ['[::1]', '::1'], ['fe80::1', 'fe80::1'], ['node-0.db.svc.cluster.local', 'node-0.db.svc.cluster.local'],
    ['compose_node1', 'compose_node1'], ['example.com.', 'example.com.'],
  ]);
  refuses(t, kinds.host, ['', 'a b', '-a', 'a-', 'a..b', 'http://a', 'a:80', '[a]', '[::1', 'a/b', `${'a'.repeat(64)}.b`],
    'must be a host name or an IP address');
});

t.test('wildcard hosts are the two any-interface addresses', async (t) => {
  t.equal(kinds.isWildcardHost('0.0.0.0'), true);
  t.equal(kinds.isWildcardHost('::'), true);
  t.equal(kinds.isWildcardHost('127.0.0.1'), false);
  t.equal(kinds.isWildcardHost('::1'), false);
});

t.test('addresses put IPv6 hosts in brackets and leave others bare', async (t) => {
  t.equal(kinds.formatAddress('10.0.0.1', 7000), '10.0.0.1:7000');
  t.equal(kinds.formatAddress('node-1', 7000), 'node-1:7000');
  t.equal(kinds.formatAddress('::1', 7000), '[::1]:7000');
});

t.test('paths must not be empty, optional paths and secrets are none when empty', async (t) => {
  accepts(t, kinds.path, [['./data', './data'], ['/var/lib/db', '/var/lib/db']]);
  refuses(t, kinds.path, [''], 'must not be empty');
  accepts(t, kinds.optionalPath, [['', null], ['/etc/tls/cert.pem', '/etc/tls/cert.pem']]);
  accepts(t, kinds.secret, [['', null], ['s3cret value', 's3cret value']]);
});

t.test('the join URL is an http or https origin with nothing after the port', async (t) => {
  accepts(t, kinds.joinUrl, [
    ['', null], ['http://10.0.0.1:8080', 'http://10.0.0.1:8080'], ['http://node-0:8080/', 'http://node-0:8080'],
    ['https://db.example.com', 'https://db.example.com'], ['http://[::1]:8080', 'http://[::1]:8080'],
  ]);
  refuses(t, kinds.joinUrl, ['x', '10.0.0.1:8080', 'ftp://a:21', 'http://a:8080/jobs', 'http://a:8080?x=1', 'http://u:p@a:8080', 'http://a:8080#x'],
    "must be the http:// or https:// URL of a cluster member's client port, like http://10.0.0.1:8080");
});

t.test('PEERS parses a comma-separated list of id=host:port, spaces around commas allowed', async (t) => {
  t.strictSame(kinds.peers.parse('node1=10.0.0.1:7000, node2=node-2.db:7000 ,node3=[::1]:7002'), [
    { id: 'node1', address: '10.0.0.1:7000' },
    { id: 'node2', address: 'node-2.db:7000' },
    { id: 'node3', address: '[::1]:7002' },
  ]);
  t.strictSame(kinds.peers.parse('a=h:1'), [{ id: 'a', address: 'h:1' }]);
});

t.test('a malformed PEERS entry is named by its position and quoted', async (t) => {
  const expectation = 'must be id=host:port, the id 1-64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit and the port 1-65535';
  const cases: readonly (readonly [string, string])[] = [
    ['a=h:1,b=h2', 'entry 2 ' + expectation + ' | got "b=h2"'],
    ['a', 'entry 1 ' + expectation + ' | got "a"'],
    ['a=h:0', 'entry 1 ' + expectation + ' | got "a=h:0"'],
    ['a=h:65536', 'entry 1 ' + expectation + ' | got "a=h:65536"'],
    ['=h:1', 'entry 1 ' + expectation + ' | got "=h:1"'],
    ['a b=h:1', 'entry 1 ' + expectation + ' | got "a b=h:1"'],
    ['a=h h:1', 'entry 1 ' + expectation + ' | got "a=h h:1"'],
    ['a=::1:7000', 'entry 1 ' + expectation + ' | got "a=::1:7000"'],
    ['a=h:1:2', 'entry 1 ' + expectation + ' | got "a=h:1:2"'],
    ['a=b=h:1', 'entry 1 ' + expectation + ' | got "a=b=h:1"'],
    ['a=http://h:1', 'entry 1 ' + expectation + ' | got "a=http://h:1"'],
  ];
  for (const [text, expected] of cases) t.equal(refusal(kinds.peers, text), expected, text);
});

t.test('PEERS refuses empty lists, empty entries, repeated ids and repeated addresses', async (t) => {
  t.equal(refusal(kinds.peers, ''), 'must list at least one node as id=host:port');
  t.equal(refusal(kinds.peers, ' '), 'must list at least one node as id=host:port');
  t.equal(refusal(kinds.peers, 'a=h:1,,b=h:2'), 'entry 2 must not be empty');
  t.equal(refusal(kinds.peers, 'a=h:1,'), 'entry 2 must not be empty');
  t.equal(refusal(kinds.peers, 'a=h:1,b=h:2,a=h:3'), 'must name each node once | "a" appears twice');
  t.equal(refusal(kinds.peers, 'a=h:1,b=h:1'), 'must give each node its own address | "h:1" appears twice');
  t.equal(refusal(kinds.peers, 'a=[::1]:1,b=[::1]:1'), 'must give each node its own address | "[::1]:1" appears twice');
});

t.test('API_TOKENS parses operator, tenant and read-only tokens', async (t) => {
  t.strictSame(kinds.apiTokens.parse(''), []);
  t.strictSame(kinds.apiTokens.parse('  '), []);
  t.strictSame(kinds.apiTokens.parse('op-token, acme:acme-token ,ops:read,acme:viewer:read,read,a.b_c~+/x=='), [
    { token: 'op-token', tenant: null, readOnly: false },
    { token: 'acme-token', tenant: 'acme', readOnly: false },
    { token: 'ops', tenant: null, readOnly: true },
    { token: 'viewer', tenant: 'acme', readOnly: true },
    { token: 'read', tenant: null, readOnly: false },
    { token: 'a.b_c~+/x==', tenant: null, readOnly: false },
  ]);
});

t.test('a malformed API_TOKENS entry is named by position, never by its secret text', async (t) => {
  const expectation =
    'must be token or tenant:token, optionally followed by :read, where a token is made of A-Z a-z 0-9 - . _ ~ + / =' +
    ' and a tenant is 1-64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit';
  for (const [text, entry] of [
    ['good,bad token', 2], ['a:b:c', 1], [':read', 1], ['acme:', 1], [':tok', 1], ['-acme:tok', 1], ['tok=x', 1],
    ['a:b:c:read', 1], ['x,y,z\u00e9', 3],
  ] as const) {
    t.equal(refusal(kinds.apiTokens, text), `entry ${entry} ${expectation}`, text);
  }
  t.equal(refusal(kinds.apiTokens, 'a,,b'), 'entry 2 must not be empty');
  t.equal(refusal(kinds.apiTokens, 'x,acme:y,acme:x:read'), 'must not list a token twice | entries 1 and 3');
});

t.test('webhook signing secrets accept text and base64 whsec_ keys, comma-separated', async (t) => {
  accepts(t, kinds.signingSecrets, [
    ['', null], ['plain text secret', 'plain text secret'], ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'],
    ['whsec_YWJj,old', 'whsec_YWJj,old'], ['whsec_YQ==', 'whsec_YQ=='], ['whsec_YWI=', 'whsec_YWI='],
  ]);
  const expectation = 'must be a non-empty secret, and after whsec_ valid base64';
  t.equal(refusal(kinds.signingSecrets, 'whsec_'), `entry 1 ${expectation}`);
  t.equal(refusal(kinds.signingSecrets, 'a,whsec_abc'), `entry 2 ${expectation}`);
  t.equal(refusal(kinds.signingSecrets, 'a,whsec_a!b='), `entry 2 ${expectation}`);
  t.equal(refusal(kinds.signingSecrets, 'a,,b'), `entry 2 ${expectation}`);
});

t.test('durations and sizes print in the largest unit that divides them', async (t) => {
  t.equal(kinds.formatDuration(250), '250ms');
  t.equal(kinds.formatDuration(1000), '1s');
  t.equal(kinds.formatDuration(1500), '1500ms');
  t.equal(kinds.formatDuration(90_000), '90s');
  t.equal(kinds.formatDuration(900_000), '15m');
  t.equal(kinds.formatDuration(7_200_000), '2h');
  t.equal(kinds.formatDuration(604_800_000), '7d');
  t.equal(kinds.formatDuration(0), '0ms');
  t.equal(kinds.formatBytes(1), '1B');
  t.equal(kinds.formatBytes(1000), '1000B');
  t.equal(kinds.formatBytes(65_536), '64KiB');
  t.equal(kinds.formatBytes(1_048_576), '1MiB');
  t.equal(kinds.formatBytes(1536), '1536B');
  t.equal(kinds.formatBytes(2 * 1024 ** 3), '2GiB');
});

t.test('quoting keeps an error on one line and cuts long values', async (t) => {
  t.equal(kinds.quote('x'), '"x"');
  t.equal(kinds.quote('a\nb"c'), '"a\\nb\\"c"');
  t.equal(kinds.quote('y'.repeat(80)), `"${'y'.repeat(80)}"`);
  t.equal(kinds.quote('y'.repeat(81)), `"${'y'.repeat(77)}..."`);
});
