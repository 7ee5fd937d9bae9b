// redactedConfig: what the startup log shows, with every secret that is set replaced and everything else kept.
import t from 'tap';
import { loadConfig, redactedConfig, redactedMark } from '../../src/config/load.js';

const secrets = {
  API_TOKENS: 'op-token-123,acme:acme-token-456:read',
  CLUSTER_SECRET: 'cluster-secret-789',
  WEBHOOK_SIGNING_SECRET: 'whsec_c2lnbmluZy1zZWNyZXQ=',
  JWT_SECRET: 'jwt-secret-abc',
};

t.test('every secret that is set is replaced by [redacted]', async (t) => {
  const shown = redactedConfig(loadConfig([], secrets));
  t.equal(redactedMark, '[redacted]');
  t.equal(shown.apiTokens, '[redacted]');
  t.equal(shown.clusterSecret, '[redacted]');
  t.equal(shown.webhookSigningSecret, '[redacted]');
  t.equal(shown.jwtSecret, '[redacted]');
});

t.test('no secret text survives anywhere in the redacted config', async (t) => {
  const logged = JSON.stringify(redactedConfig(loadConfig([], secrets)));
  for (const word of ['op-token-123', 'acme-token-456', 'cluster-secret-789', 'c2lnbmluZy1zZWNyZXQ', 'jwt-secret-abc']) {
    t.notOk(logged.includes(word), word);
  }
});

t.test('unset secrets stay null or empty, so the log shows that auth and signing are off', async (t) => {
  const shown = redactedConfig(loadConfig([], {}));
  t.strictSame(shown.apiTokens, []);
  t.equal(shown.clusterSecret, null);
  t.equal(shown.webhookSigningSecret, null);
  t.equal(shown.jwtSecret, null);
});

t.test('every other key is shown as loaded, and the original config is untouched', async (t) => {
  const config = loadConfig(['--http-port', '9000'], { ...secrets, PEERS: 'node1=a:1,b=c:2', TLS_CERT_FILE: 'c', TLS_KEY_FILE: 'k' });
  const shown = redactedConfig(config);
  t.strictSame(shown, {
    ...config,
    apiTokens: '[redacted]',
    clusterSecret: '[redacted]',
    webhookSigningSecret: '[redacted]',
    jwtSecret: '[redacted]',
  });
  t.equal(config.clusterSecret, 'cluster-secret-789');
  t.equal(config.apiTokens.length, 2);
  t.ok(Object.isFrozen(shown));
});
