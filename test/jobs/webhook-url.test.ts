// Webhook URL checks and the private-address test behind WEBHOOK_DENY_PRIVATE.
import t from 'tap';
import { JobInputError } from '../../src/jobs/errors.js';
import { isPrivateAddress, isPrivateHost, normalizeWebhookUrl } from '../../src/jobs/webhook-url.js';

function refusal(fn: () => unknown): { code: string; field: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof JobInputError) return { code: err.code, field: err.field };
    throw err;
  }
  throw new Error('expected a JobInputError');
}

t.test('http and https URLs are kept, WHATWG-normalized', async (t) => {
  t.equal(normalizeWebhookUrl('https://hooks.example.com/a?b=1', true), 'https://hooks.example.com/a?b=1');
  t.equal(normalizeWebhookUrl('http://Example.COM', true), 'http://example.com/');
  t.equal(normalizeWebhookUrl('http://127.0.0.1:9000/hook', false), 'http://127.0.0.1:9000/hook', 'private allowed when not denied');
});

t.test('other schemes, non-URLs and credentials are invalid_request', async (t) => {
  for (const url of ['ftp://example.com/', 'file:///etc/passwd', 'javascript:alert(1)', 'not a url', '/relative', 'https://user:pw@example.com/']) {
    t.strictSame(refusal(() => normalizeWebhookUrl(url, false)), { code: 'invalid_request', field: 'webhook_url' }, url);
  }
});

t.test('with denial on, private, loopback and link-local hosts are private_webhook_url', async (t) => {
  for (const url of [
    'http://localhost/', 'http://LOCALHOST./', 'http://api.localhost:8080/', 'http://127.0.0.1/', 'http://127.9.9.9/',
    'http://10.1.2.3/', 'http://172.16.0.1/', 'http://172.31.255.255/', 'http://192.168.1.1/', 'http://169.254.169.254/',
    'http://0.0.0.0/', 'http://[::1]/', 'http://[fe80::1]/', 'http://[fd00::1]/', 'http://[fc00::1]/',
    'http://[::ffff:127.0.0.1]/', 'http://2130706433/', 'http://0x7f.1/', 'http://127.1/', 'http://100.64.0.1/',
  ]) {
    t.strictSame(refusal(() => normalizeWebhookUrl(url, true)), { code: 'private_webhook_url', field: 'webhook_url' }, url);
  }
  for (const url of ['http://172.32.0.1/', 'http://172.15.0.1/', 'http://8.8.8.8/', 'http://[2606:4700::1111]/', 'http://localhost.example.com/']) {
    t.doesNotThrow(() => normalizeWebhookUrl(url, true), url);
  }
});

t.test('isPrivateAddress on IPv4 ranges and their edges', async (t) => {
  const cases: [string, boolean][] = [
    ['10.0.0.0', true], ['10.255.255.255', true], ['11.0.0.0', false], ['9.255.255.255', false],
    ['172.16.0.0', true], ['172.31.255.255', true], ['172.15.255.255', false], ['172.32.0.0', false],
    ['192.168.0.0', true], ['192.168.255.255', true], ['192.169.0.0', false], ['192.167.255.255', false],
    ['127.0.0.1', true], ['127.255.255.255', true], ['128.0.0.0', false], ['126.255.255.255', false],
    ['169.254.0.1', true], ['169.253.0.1', false], ['169.255.0.1', false],
    ['0.0.0.0', true], ['0.1.2.3', true], ['1.0.0.0', false],
    ['100.64.0.0', true], ['100.127.255.255', true], ['100.63.255.255', false], ['100.128.0.0', false],
    ['192.0.0.1', true], ['198.18.0.1', true], ['198.20.0.1', false],
    ['224.0.0.1', true], ['255.255.255.255', true], ['223.255.255.255', false],
    ['8.8.8.8', false], ['1.1.1.1', false],
  ];
  for (const [ip, expected] of cases) t.equal(isPrivateAddress(ip), expected, ip);
});

t.test('isPrivateAddress on IPv6, brackets, zones and embedded IPv4', async (t) => {
  const cases: [string, boolean][] = [
    ['::1', true], ['::', true], ['[::1]', true], ['0:0:0:0:0:0:0:1', true],
    ['fe80::1', true], ['fe80::1%eth0', true], ['febf::1', true], ['fec0::1', true], ['fc00::1', true], ['fdff::1', true],
    ['ff02::1', true], ['::ffff:10.0.0.1', true], ['::ffff:a00:1', true], ['::ffff:8.8.8.8', false],
    ['64:ff9b::7f00:1', true], ['64:ff9b::808:808', false], ['2002:c0a8:101::1', true], ['2002:808:808::1', false],
    ['2606:4700:4700::1111', false], ['2001:db8::1', false], ['fbff::1', false], ['fe00::1', false],
  ];
  for (const [ip, expected] of cases) t.equal(isPrivateAddress(ip), expected, ip);
});

t.test('isPrivateAddress is false for what is not an address', async (t) => {
  for (const text of ['localhost', 'example.com', '', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1:2:3:4:5:6:7:8:9', '1::2::3', 'gggg::1', '01.02.03.004x']) {
    t.equal(isPrivateAddress(text), false, text);
  }
});

t.test('isPrivateHost takes names too', async (t) => {
  t.equal(isPrivateHost('localhost'), true);
  t.equal(isPrivateHost('a.b.localhost'), true);
  t.equal(isPrivateHost('notlocalhost'), false);
  t.equal(isPrivateHost('[fe80::1]'), true);
});
