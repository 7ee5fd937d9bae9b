// The key table: one row per Config property, SPEC §5's names, flags derived from them, and the defaults it documents.
import t from 'tap';
import { configProperties, configSchema, configTableMarkdown, helpText } from '../../src/config/schema.js';

// SPEC §5's keys plus SNAPSHOT_COUNT (etcd's --snapshot-count) and STATE_CHECK_INTERVAL (etcd's corrupt-check-time),
// which the SPEC leaves to us.
const specKeys = [
  'NODE_ID', 'HTTP_HOST', 'HTTP_PORT', 'RAFT_HOST', 'RAFT_PORT', 'ADVERTISE_HOST', 'PEERS', 'BOOTSTRAP_EXPECT', 'DATA_DIR',
  'SLOT_GAP', 'ELECTION_TIMEOUT', 'HEARTBEAT_INTERVAL', 'LOG_LEVEL', 'API_TOKENS', 'CLUSTER_SECRET',
  'WEBHOOK_SIGNING_SECRET', 'WEBHOOK_DENY_PRIVATE', 'MAX_JOBS', 'MAX_PAYLOAD_BYTES', 'EXECUTIONS_PER_JOB',
  'SNAPSHOT_COUNT', 'COMPLETED_TTL', 'DEAD_LETTER_TTL', 'STATE_CHECK_INTERVAL', 'TLS_CERT_FILE', 'TLS_KEY_FILE', 'PEER_TLS_CERT_FILE', 'PEER_TLS_KEY_FILE',
  'PEER_TLS_CA_FILE', 'JOIN', 'FORCE_NEW_CLUSTER', 'JWT_SECRET', 'JWT_PUBLIC_KEY_FILE', 'TENANT_MAX_JOBS',
];

t.test('the table holds every SPEC §5 key once, in the documented order', async (t) => {
  t.strictSame(configProperties.map((p) => configSchema[p].env), specKeys);
});

t.test('each key fills the camelCase property named after it, with its unit last', async (t) => {
  t.strictSame(Object.fromEntries(configProperties.map((p) => [configSchema[p].env, p])), {
    NODE_ID: 'nodeId', HTTP_HOST: 'httpHost', HTTP_PORT: 'httpPort', RAFT_HOST: 'raftHost', RAFT_PORT: 'raftPort',
    ADVERTISE_HOST: 'advertiseHost', PEERS: 'peers', BOOTSTRAP_EXPECT: 'bootstrapExpect', DATA_DIR: 'dataDir',
    SLOT_GAP: 'slotGapMs', ELECTION_TIMEOUT: 'electionTimeoutMs', HEARTBEAT_INTERVAL: 'heartbeatIntervalMs',
    LOG_LEVEL: 'logLevel', API_TOKENS: 'apiTokens', CLUSTER_SECRET: 'clusterSecret',
    WEBHOOK_SIGNING_SECRET: 'webhookSigningSecret', WEBHOOK_DENY_PRIVATE: 'webhookDenyPrivate', MAX_JOBS: 'maxJobs',
    MAX_PAYLOAD_BYTES: 'maxPayloadBytes', EXECUTIONS_PER_JOB: 'executionsPerJob', SNAPSHOT_COUNT: 'snapshotCount', COMPLETED_TTL: 'completedTtlMs',
    DEAD_LETTER_TTL: 'deadLetterTtlMs', STATE_CHECK_INTERVAL: 'stateCheckIntervalMs', TLS_CERT_FILE: 'tlsCertFile', TLS_KEY_FILE: 'tlsKeyFile',
    PEER_TLS_CERT_FILE: 'peerTlsCertFile', PEER_TLS_KEY_FILE: 'peerTlsKeyFile', PEER_TLS_CA_FILE: 'peerTlsCaFile',
    JOIN: 'joinUrl', FORCE_NEW_CLUSTER: 'forceNewCluster', JWT_SECRET: 'jwtSecret',
    JWT_PUBLIC_KEY_FILE: 'jwtPublicKeyFile', TENANT_MAX_JOBS: 'tenantMaxJobs',
  });
});

t.test('every flag is its env name in lower kebab case', async (t) => {
  t.equal(configSchema.httpPort.flag, '--http-port');
  t.equal(configSchema.joinUrl.flag, '--join');
  t.equal(configSchema.forceNewCluster.flag, '--force-new-cluster');
  for (const p of configProperties) {
    const k = configSchema[p];
    t.equal(k.flag, `--${k.env.toLowerCase().replaceAll('_', '-')}`, k.env);
  }
});

t.test('exactly the four secret keys are marked secret', async (t) => {
  t.strictSame(configProperties.filter((p) => configSchema[p].secret),
    ['apiTokens', 'clusterSecret', 'webhookSigningSecret', 'jwtSecret']);
});

t.test('only the boolean keys may be given as bare flags', async (t) => {
  t.strictSame(configProperties.filter((p) => configSchema[p].kind.isBoolean), ['webhookDenyPrivate', 'forceNewCluster']);
});

t.test('the documented defaults are the SPEC defaults', async (t) => {
  t.strictSame(Object.fromEntries(configProperties.map((p) => [configSchema[p].env, configSchema[p].defaultText])), {
    NODE_ID: 'node1', HTTP_HOST: '0.0.0.0', HTTP_PORT: '8080', RAFT_HOST: '0.0.0.0', RAFT_PORT: '7000',
    ADVERTISE_HOST: '127.0.0.1 if RAFT_HOST is 0.0.0.0 or ::, else RAFT_HOST',
    PEERS: 'NODE_ID=ADVERTISE_HOST:RAFT_PORT (this node alone)', BOOTSTRAP_EXPECT: 'the number of PEERS',
    DATA_DIR: './data', SLOT_GAP: '10s', ELECTION_TIMEOUT: '1s', HEARTBEAT_INTERVAL: '100ms', LOG_LEVEL: 'info',
    API_TOKENS: 'none', CLUSTER_SECRET: 'none', WEBHOOK_SIGNING_SECRET: 'none', WEBHOOK_DENY_PRIVATE: 'false',
    MAX_JOBS: '10000000', MAX_PAYLOAD_BYTES: '64KiB', EXECUTIONS_PER_JOB: '100', SNAPSHOT_COUNT: '100000', COMPLETED_TTL: '7d',
    DEAD_LETTER_TTL: '30d', STATE_CHECK_INTERVAL: '1h', TLS_CERT_FILE: 'none', TLS_KEY_FILE: 'none', PEER_TLS_CERT_FILE: 'none',
    PEER_TLS_KEY_FILE: 'none', PEER_TLS_CA_FILE: 'none', JOIN: 'none', FORCE_NEW_CLUSTER: 'false',
    JWT_SECRET: 'none', JWT_PUBLIC_KEY_FILE: 'none', TENANT_MAX_JOBS: 'none',
  });
  t.strictSame(configProperties.filter((p) => configSchema[p].isDefaultDerived), ['advertiseHost', 'peers', 'bootstrapExpect']);
});

t.test('descriptions are single lines that end with a full stop', async (t) => {
  for (const p of configProperties) {
    const { env, description } = configSchema[p];
    t.match(description, /^[A-Z][^\n]*\.$/, env);
    t.ok(description.length <= 120, `${env} description fits a line`);
  }
});

t.test('the README table has a header and one row per key, defaults in code unless described', async (t) => {
  const lines = configTableMarkdown().split('\n');
  t.equal(lines.length, 2 + specKeys.length);
  t.equal(lines[0], '| env var | flag | default | meaning |');
  t.equal(lines[1], '|---|---|---|---|');
  t.equal(lines[2], "| `NODE_ID` | `--node-id` | `node1` | This node's id, unique in the cluster; PEERS names nodes by it. |");
  t.equal(lines[9], '| `BOOTSTRAP_EXPECT` | `--bootstrap-expect` | the number of PEERS | Nodes of PEERS that must be reachable before a new cluster holds its first election. |');
  t.equal(lines[15], '| `API_TOKENS` | `--api-tokens` | none | Bearer tokens, comma-separated: token (operator) or tenant:token, optionally :read; none: auth off. |');
  t.equal(lines[20], '| `MAX_PAYLOAD_BYTES` | `--max-payload-bytes` | `64KiB` | Largest JSON size of a job\'s payload. |');
});

t.test('help lists every key on one line with its flag, placeholder, env var and default, then its meaning', async (t) => {
  const lines = helpText().split('\n');
  t.equal(lines[0], 'Usage: scheduled-db start [flags]');
  for (const p of configProperties) {
    const k = configSchema[p];
    const index = lines.findIndex((l) => l.startsWith(`  ${k.flag} ${k.kind.placeholder} `));
    t.ok(index > 0, `${k.env} has a line`);
    t.match(lines[index] ?? '', new RegExp(`^  ${k.flag} \\S+ +${k.env} +default: `), k.env);
    t.ok((lines[index] ?? '').endsWith(`default: ${k.defaultText}`), `${k.env} shows its default`);
    t.equal(lines[index + 1], `      ${k.description}`, `${k.env} meaning follows`);
  }
  t.ok(lines.some((l) => /^ {2}-h, --help +print this help and exit$/.test(l)), 'help documents itself');
  t.equal(lines.filter((l) => l.startsWith('  --')).length, specKeys.length);
});
