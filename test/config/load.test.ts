// loadConfig: defaults, flag > env > default, every key from env and from flag, the command-line syntax, --help, and one-line errors.
import t from 'tap';
import { ConfigError, HelpRequested, loadConfig, loadConfigFromProcess, processArgv } from '../../src/config/load.js';
import type { Config } from '../../src/config/load.js';
import { configProperties, configSchema, helpText } from '../../src/config/schema.js';

type Env = Readonly<Record<string, string | undefined>>;

/** The error loadConfig throws for these inputs; fails the test if it returns. */
function thrownBy(argv: readonly string[], env: Env = {}): unknown {
  try {
    loadConfig(argv, env);
  } catch (err) {
    return err;
  }
  throw new Error(`loadConfig(${JSON.stringify(argv)}, ${JSON.stringify(env)}) did not throw`);
}

/** The one-line message of the ConfigError these inputs cause. */
function configErrorOf(argv: readonly string[], env: Env = {}): string {
  const err = thrownBy(argv, env);
  if (!(err instanceof ConfigError)) throw err;
  return err.message;
}

const defaults: Config = {
  nodeId: 'node1', httpHost: '0.0.0.0', httpPort: 8080, raftHost: '0.0.0.0', raftPort: 7000, advertiseHost: '127.0.0.1',
  peers: [{ id: 'node1', address: '127.0.0.1:7000' }], bootstrapExpect: 1, dataDir: './data', slotGapMs: 10_000,
  electionTimeoutMs: 1000, heartbeatIntervalMs: 100, logLevel: 'info', apiTokens: [], clusterSecret: null,
  webhookSigningSecret: null, webhookDenyPrivate: false, maxJobs: 10_000_000, maxPayloadBytes: 65_536,
  executionsPerJob: 100, snapshotCount: 100_000, completedTtlMs: 604_800_000, deadLetterTtlMs: 2_592_000_000, stateCheckIntervalMs: 3_600_000,
  tlsCertFile: null,
  tlsKeyFile: null, peerTlsCertFile: null, peerTlsKeyFile: null, peerTlsCaFile: null, joinUrl: null,
  forceNewCluster: false, jwtSecret: null, jwtPublicKeyFile: null, tenantMaxJobs: null,
};

t.test('with no flags and no environment every key takes its default', async (t) => {
  t.strictSame(loadConfig([], {}), defaults);
});

t.test('environment variables that are not config keys are ignored', async (t) => {
  t.strictSame(loadConfig([], { PATH: '/usr/bin', HOME: '/root', http_port: '1' }), defaults);
});

t.test('a flag beats the environment, which beats the default', async (t) => {
  t.equal(loadConfig([], {}).httpPort, 8080);
  t.equal(loadConfig([], { HTTP_PORT: '9000' }).httpPort, 9000);
  t.equal(loadConfig(['--http-port', '9100'], { HTTP_PORT: '9000' }).httpPort, 9100);
  t.equal(loadConfig(['--http-port=9200'], { HTTP_PORT: '9000' }).httpPort, 9200);
  t.equal(loadConfig(['--force-new-cluster=false'], { FORCE_NEW_CLUSTER: 'true' }).forceNewCluster, false);
});

t.test('a flag beats a bad environment value, which is then never parsed', async (t) => {
  t.equal(loadConfig(['--http-port=9100'], { HTTP_PORT: 'x' }).httpPort, 9100);
});

t.test('an empty environment variable counts as unset', async (t) => {
  t.strictSame(loadConfig([], { HTTP_PORT: '', PEERS: '', DATA_DIR: '', LOG_LEVEL: '' }), defaults);
});

t.test('an empty flag value is parsed, not ignored', async (t) => {
  t.equal(configErrorOf(['--http-port='], { HTTP_PORT: '9000' }), 'config: HTTP_PORT must be an integer 1-65535 (got "")');
  t.equal(loadConfig(['--cluster-secret='], { CLUSTER_SECRET: 'from-env' }).clusterSecret, null);
});

/** One sample per key: its text, the value it becomes, and any other settings it needs to be valid on its own. */
const samples: { readonly [P in keyof Config]: readonly [string, Config[P], Env?] } = {
  nodeId: ['node-7', 'node-7', { PEERS: 'node-7=10.0.0.7:7000' }],
  httpHost: ['127.0.0.1', '127.0.0.1'],
  httpPort: ['9090', 9090],
  raftHost: ['10.0.0.5', '10.0.0.5'],
  raftPort: ['7100', 7100],
  advertiseHost: ['node-1.db', 'node-1.db'],
  peers: ['node1=10.0.0.1:7000,node2=10.0.0.2:7000', [{ id: 'node1', address: '10.0.0.1:7000' }, { id: 'node2', address: '10.0.0.2:7000' }]],
  bootstrapExpect: ['2', 2, { PEERS: 'node1=a:1,node2=b:1' }],
  dataDir: ['/var/lib/scheduled-db', '/var/lib/scheduled-db'],
  slotGapMs: ['5s', 5000],
  electionTimeoutMs: ['3s', 3000],
  heartbeatIntervalMs: ['250ms', 250],
  logLevel: ['debug', 'debug'],
  apiTokens: ['acme:t1:read', [{ token: 't1', tenant: 'acme', readOnly: true }]],
  clusterSecret: ['cs', 'cs'],
  webhookSigningSecret: ['whsec_YWJj,old', 'whsec_YWJj,old'],
  webhookDenyPrivate: ['true', true],
  maxJobs: ['500', 500],
  maxPayloadBytes: ['1MiB', 1_048_576],
  executionsPerJob: ['7', 7],
  snapshotCount: ['500', 500],
  completedTtlMs: ['2h', 7_200_000],
  deadLetterTtlMs: ['15m', 900_000],
  stateCheckIntervalMs: ['0', 0],
  tlsCertFile: ['/tls/c.pem', '/tls/c.pem', { TLS_KEY_FILE: '/tls/k.pem' }],
  tlsKeyFile: ['/tls/k.pem', '/tls/k.pem', { TLS_CERT_FILE: '/tls/c.pem' }],
  peerTlsCertFile: ['/p/c.pem', '/p/c.pem', { PEER_TLS_KEY_FILE: '/p/k.pem', PEER_TLS_CA_FILE: '/p/ca.pem' }],
  peerTlsKeyFile: ['/p/k.pem', '/p/k.pem', { PEER_TLS_CERT_FILE: '/p/c.pem', PEER_TLS_CA_FILE: '/p/ca.pem' }],
  peerTlsCaFile: ['/p/ca.pem', '/p/ca.pem', { PEER_TLS_CERT_FILE: '/p/c.pem', PEER_TLS_KEY_FILE: '/p/k.pem' }],
  joinUrl: ['http://10.0.0.1:8080', 'http://10.0.0.1:8080'],
  forceNewCluster: ['true', true],
  jwtSecret: ['hs256-secret', 'hs256-secret'],
  jwtPublicKeyFile: ['/jwt/pub.pem', '/jwt/pub.pem'],
  tenantMaxJobs: ['1000', 1000],
};

t.test('every key has a sample that differs from its default', async (t) => {
  t.strictSame(Object.keys(samples), configProperties);
  for (const p of configProperties) t.notSame(samples[p][1], defaults[p], p);
});

t.test('every key parses from its environment variable', async (t) => {
  for (const p of configProperties) {
    const [text, expected, needs = {}] = samples[p];
    t.strictSame(loadConfig([], { ...needs, [configSchema[p].env]: text })[p], expected, configSchema[p].env);
  }
});

t.test('every key parses from its flag, as --flag value and as --flag=value', async (t) => {
  for (const p of configProperties) {
    const [text, expected, needs = {}] = samples[p];
    const { flag } = configSchema[p];
    t.strictSame(loadConfig([flag, text], needs)[p], expected, `${flag} ${text}`);
    t.strictSame(loadConfig([`${flag}=${text}`], needs)[p], expected, `${flag}=${text}`);
  }
});

t.test('a key set by flag leaves every other key at its default', async (t) => {
  t.strictSame(loadConfig(['--slot-gap', '5s'], {}), { ...defaults, slotGapMs: 5000 });
});

t.test('a boolean flag given bare means true, and takes a following true or false as its value', async (t) => {
  t.equal(loadConfig(['--force-new-cluster'], {}).forceNewCluster, true);
  t.equal(loadConfig(['--webhook-deny-private', '--force-new-cluster'], {}).webhookDenyPrivate, true);
  t.equal(loadConfig(['--force-new-cluster', 'false'], { FORCE_NEW_CLUSTER: 'true' }).forceNewCluster, false);
  const both = loadConfig(['--force-new-cluster', 'true', '--webhook-deny-private'], {});
  t.equal(both.forceNewCluster, true);
  t.equal(both.webhookDenyPrivate, true);
  t.equal(configErrorOf(['--force-new-cluster', 'yes']), 'config: unexpected argument "yes" (flags start with --; see --help)');
});

t.test('ADVERTISE_HOST defaults to loopback for a wildcard RAFT_HOST and to RAFT_HOST otherwise', async (t) => {
  t.equal(loadConfig([], { RAFT_HOST: '0.0.0.0' }).advertiseHost, '127.0.0.1');
  t.equal(loadConfig([], { RAFT_HOST: '::' }).advertiseHost, '127.0.0.1');
  t.equal(loadConfig([], { RAFT_HOST: '10.0.0.5' }).advertiseHost, '10.0.0.5');
  t.equal(loadConfig([], { RAFT_HOST: '10.0.0.5', ADVERTISE_HOST: 'node-1' }).advertiseHost, 'node-1');
});

t.test('PEERS defaults to this node alone at its advertised Raft address', async (t) => {
  t.strictSame(loadConfig([], { NODE_ID: 'n9', RAFT_PORT: '7009', ADVERTISE_HOST: 'node-9' }).peers,
    [{ id: 'n9', address: 'node-9:7009' }]);
  t.strictSame(loadConfig(['--raft-host', '::1'], {}).peers, [{ id: 'node1', address: '[::1]:7000' }]);
});

t.test('BOOTSTRAP_EXPECT defaults to the number of PEERS', async (t) => {
  t.equal(loadConfig([], { PEERS: 'node1=a:1,node2=b:1,node3=c:1' }).bootstrapExpect, 3);
  t.equal(loadConfig([], { PEERS: 'node1=a:1,node2=b:1,node3=c:1', BOOTSTRAP_EXPECT: '1' }).bootstrapExpect, 1);
});

t.test('the config is frozen, its lists and their entries included', async (t) => {
  const c = loadConfig([], { API_TOKENS: 'a,acme:b' });
  t.ok(Object.isFrozen(c));
  t.ok(Object.isFrozen(c.peers));
  t.ok(Object.isFrozen(c.peers[0]));
  t.ok(Object.isFrozen(c.apiTokens));
  t.ok(Object.isFrozen(c.apiTokens[1]));
  t.throws(() => {
    (c as { httpPort: number }).httpPort = 1;
  }, TypeError);
});

t.test('two loads never share mutable state', async (t) => {
  const a = loadConfig([], {});
  const b = loadConfig([], { NODE_ID: 'other', PEERS: 'other=h:1' });
  t.strictSame(a.peers, [{ id: 'node1', address: '127.0.0.1:7000' }]);
  t.strictSame(b.peers, [{ id: 'other', address: 'h:1' }]);
});

t.test('--help and -h throw HelpRequested carrying the help text, before anything is parsed', async (t) => {
  for (const argv of [['--help'], ['-h'], ['--http-port', 'x', '--help'], ['--no-such-flag', '-h']]) {
    const err = thrownBy(argv, { HTTP_PORT: 'bad' });
    t.ok(err instanceof HelpRequested, argv.join(' '));
    if (!(err instanceof HelpRequested)) continue;
    t.equal(err.code, 'help_requested');
    t.equal(err.text, helpText());
  }
});

t.test('the help text names every flag and env var', async (t) => {
  const err = thrownBy(['--help']);
  const text = err instanceof HelpRequested ? err.text : '';
  for (const p of configProperties) {
    t.ok(text.includes(`${configSchema[p].flag} `), configSchema[p].flag);
    t.ok(text.includes(` ${configSchema[p].env} `), configSchema[p].env);
  }
});

t.test('command-line mistakes are one-line ConfigErrors with no key', async (t) => {
  const cases: readonly (readonly [readonly string[], string])[] = [
    [['--no-such-flag'], 'config: unknown flag --no-such-flag (see --help)'],
    [['--no-such-flag=1'], 'config: unknown flag --no-such-flag (see --help)'],
    [['--HTTP-PORT=1'], 'config: unknown flag --HTTP-PORT (see --help)'],
    [['-p', '1'], 'config: unknown flag -p (see --help)'],
    [['start'], 'config: unexpected argument "start" (flags start with --; see --help)'],
    [['--http-port', '9000', '9001'], 'config: unexpected argument "9001" (flags start with --; see --help)'],
    [['--http-port'], 'config: --http-port needs a value'],
    [['--http-port', '--raft-port', '1'], 'config: --http-port needs a value'],
    [['--http-port=1', '--http-port=2'], 'config: --http-port is given twice'],
    [['--force-new-cluster', '--force-new-cluster'], 'config: --force-new-cluster is given twice'],
  ];
  for (const [argv, message] of cases) {
    const err = thrownBy(argv);
    t.ok(err instanceof ConfigError, argv.join(' '));
    if (!(err instanceof ConfigError)) continue;
    t.equal(err.message, message, argv.join(' '));
    t.equal(err.key, null);
    t.equal(err.code, 'invalid_config');
  }
});

t.test('a value starting with -- can still be given with =', async (t) => {
  t.equal(loadConfig(['--cluster-secret=--odd--'], {}).clusterSecret, '--odd--');
  t.equal(loadConfig(['--cluster-secret', '-x'], {}).clusterSecret, '-x');
});

t.test('each kind of bad value stops the load with one line naming the key and quoting the value', async (t) => {
  const cases: readonly (readonly [string, string, string])[] = [
    ['NODE_ID', 'node 1', 'must be 1-64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit (got "node 1")'],
    ['HTTP_HOST', 'a b', 'must be a host name or an IP address (got "a b")'],
    ['HTTP_PORT', 'x', 'must be an integer 1-65535 (got "x")'],
    ['RAFT_PORT', '0', 'must be an integer 1-65535 (got "0")'],
    ['PEERS', 'node1=h:1,node2', 'entry 2 must be id=host:port, the id 1-64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit and the port 1-65535 (got "node2")'],
    ['BOOTSTRAP_EXPECT', '0', 'must be a positive integer (got "0")'],
    ['DATA_DIR', '', 'must not be empty (got "")'],
    ['SLOT_GAP', '10 s', 'must be a positive duration, written 250ms, 90s, 15m, 2h, 7d or whole ms (got "10 s")'],
    ['ELECTION_TIMEOUT', '1.5s', 'must be a positive duration, written 250ms, 90s, 15m, 2h, 7d or whole ms (got "1.5s")'],
    ['HEARTBEAT_INTERVAL', '10ms', 'must be a duration of at least 50ms, written 250ms, 90s, 15m, 2h, 7d or whole ms (got "10ms")'],
    ['LOG_LEVEL', 'verbose', 'must be one of fatal, error, warn, info, debug, trace, silent (got "verbose")'],
    ['WEBHOOK_DENY_PRIVATE', 'yes', 'must be true or false (got "yes")'],
    ['MAX_JOBS', '1e6', 'must be a positive integer (got "1e6")'],
    ['MAX_PAYLOAD_BYTES', '64KB', 'must be a size from 1B to 1MiB, written 64KiB, 1MiB or whole bytes (got "64KB")'],
    ['EXECUTIONS_PER_JOB', '-1', 'must be a positive integer (got "-1")'],
    ['COMPLETED_TTL', '1w', 'must be a positive duration, written 250ms, 90s, 15m, 2h, 7d or whole ms (got "1w")'],
    ['STATE_CHECK_INTERVAL', '-1s', 'must be a duration, written 250ms, 90s, 15m, 2h, 7d or whole ms (0 allowed) (got "-1s")'],
    ['JOIN', 'node-0:8080', "must be the http:// or https:// URL of a cluster member's client port, like http://10.0.0.1:8080 (got \"node-0:8080\")"],
    ['FORCE_NEW_CLUSTER', '1', 'must be true or false (got "1")'],
    ['TENANT_MAX_JOBS', 'lots', 'must be a positive integer (got "lots")'],
  ];
  for (const [env, text, rest] of cases) {
    const flag = `--${env.toLowerCase().replaceAll('_', '-')}=${text}`;
    for (const [argv, environment] of [[[], { [env]: text }], [[flag], {}]] as const) {
      if (text === '' && argv.length === 0) continue; // an empty env var is unset, so only the flag can carry ""
      const err = thrownBy(argv, environment);
      t.ok(err instanceof ConfigError, `${env} ${argv.length === 0 ? 'env' : 'flag'}`);
      if (!(err instanceof ConfigError)) continue;
      t.equal(err.message, `config: ${env} ${rest}`);
      t.equal(err.key, env);
      t.notMatch(err.message, /\n/);
    }
  }
});

t.test('a bad secret is named by its key but its value is never printed', async (t) => {
  const tokens = thrownBy([], { API_TOKENS: 'good-token,bad token' });
  t.ok(tokens instanceof ConfigError);
  t.equal((tokens as ConfigError).message,
    'config: API_TOKENS entry 2 must be token or tenant:token, optionally followed by :read, where a token is made of' +
    ' A-Z a-z 0-9 - . _ ~ + / = and a tenant is 1-64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit');
  t.equal((tokens as ConfigError).key, 'API_TOKENS');
  t.equal(configErrorOf(['--webhook-signing-secret', 'whsec_not*base64']),
    'config: WEBHOOK_SIGNING_SECRET entry 1 must be a non-empty secret, and after whsec_ valid base64');
  t.equal(configErrorOf([], { API_TOKENS: 'secret-one,secret-one' }), 'config: API_TOKENS must not list a token twice (entries 1 and 2)');
});

t.test('a long or multi-line bad value is quoted on one shortened line', async (t) => {
  t.equal(configErrorOf([], { LOG_LEVEL: 'a\nb' }), 'config: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent (got "a\\nb")');
  t.equal(configErrorOf([], { DATA_DIR: 'ok', HTTP_PORT: '9'.repeat(100) }),
    `config: HTTP_PORT must be an integer 1-65535 (got "${'9'.repeat(77)}...")`);
});

t.test('keys are parsed in table order, so the first bad key is the one reported', async (t) => {
  t.equal(configErrorOf([], { RAFT_PORT: 'x', HTTP_PORT: 'y' }), 'config: HTTP_PORT must be an integer 1-65535 (got "y")');
});

t.test('a ConfigError is an Error with a name, the invalid_config code and its key', async (t) => {
  const err = new ConfigError('HTTP_PORT', 'config: HTTP_PORT must be an integer 1-65535 (got "x")');
  t.ok(err instanceof Error);
  t.equal(err.name, 'ConfigError');
  t.equal(err.code, 'invalid_config');
  t.equal(err.key, 'HTTP_PORT');
  t.equal(String(err), 'ConfigError: config: HTTP_PORT must be an integer 1-65535 (got "x")');
});

t.test('the process entry points read this process argv and environment', async (t) => {
  t.strictSame(processArgv(), process.argv.slice(2));
  const saved = process.env.SLOT_GAP;
  process.env.SLOT_GAP = '3s';
  t.teardown(() => {
    if (saved === undefined) delete process.env.SLOT_GAP;
    else process.env.SLOT_GAP = saved;
  });
  const c = loadConfigFromProcess(['--raft-port', '7123']);
  t.equal(c.slotGapMs, 3000);
  t.equal(c.raftPort, 7123);
});
