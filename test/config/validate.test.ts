// The rules between keys, each on both sides of its bound: timers, TLS groups, membership, BOOTSTRAP_EXPECT and ports.
import t from 'tap';
import { ConfigError, loadConfig, validate } from '../../src/config/load.js';
import type { Config } from '../../src/config/load.js';

type Env = Readonly<Record<string, string>>;

/** `[key, message]` of the ConfigError loading this env throws, or `ok` when it loads. */
function outcome(env: Env, argv: readonly string[] = []): string {
  try {
    loadConfig(argv, env);
    return 'ok';
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return `${err.key ?? '-'}: ${err.message}`;
  }
}

t.test('HEARTBEAT_INTERVAL must be below ELECTION_TIMEOUT', async (t) => {
  t.equal(outcome({ ELECTION_TIMEOUT: '1s', HEARTBEAT_INTERVAL: '1s' }),
    'HEARTBEAT_INTERVAL: config: HEARTBEAT_INTERVAL must be less than ELECTION_TIMEOUT (got ELECTION_TIMEOUT=1s, HEARTBEAT_INTERVAL=1s)');
  t.equal(outcome({ ELECTION_TIMEOUT: '200ms', HEARTBEAT_INTERVAL: '1s' }),
    'HEARTBEAT_INTERVAL: config: HEARTBEAT_INTERVAL must be less than ELECTION_TIMEOUT (got ELECTION_TIMEOUT=200ms, HEARTBEAT_INTERVAL=1s)');
});

t.test('ELECTION_TIMEOUT must be at least three heartbeats', async (t) => {
  t.equal(outcome({ ELECTION_TIMEOUT: '299ms', HEARTBEAT_INTERVAL: '100ms' }),
    'ELECTION_TIMEOUT: config: ELECTION_TIMEOUT must be at least 3 x HEARTBEAT_INTERVAL (got ELECTION_TIMEOUT=299ms, HEARTBEAT_INTERVAL=100ms)');
  t.equal(outcome({ ELECTION_TIMEOUT: '300ms', HEARTBEAT_INTERVAL: '100ms' }), 'ok');
  t.equal(outcome({ ELECTION_TIMEOUT: '150', HEARTBEAT_INTERVAL: '50' }), 'ok', 'the smallest timers allowed');
});

t.test('the client TLS certificate and key come together or not at all', async (t) => {
  t.equal(outcome({}), 'ok');
  t.equal(outcome({ TLS_CERT_FILE: 'c.pem', TLS_KEY_FILE: 'k.pem' }), 'ok');
  t.equal(outcome({ TLS_CERT_FILE: 'c.pem' }),
    'TLS_KEY_FILE: config: TLS_CERT_FILE and TLS_KEY_FILE must be set together or not at all (missing TLS_KEY_FILE)');
  t.equal(outcome({ TLS_KEY_FILE: 'k.pem' }),
    'TLS_CERT_FILE: config: TLS_CERT_FILE and TLS_KEY_FILE must be set together or not at all (missing TLS_CERT_FILE)');
});

t.test('the three peer TLS files come together or not at all', async (t) => {
  const all = { PEER_TLS_CERT_FILE: 'c', PEER_TLS_KEY_FILE: 'k', PEER_TLS_CA_FILE: 'ca' };
  t.equal(outcome(all), 'ok');
  const prefix = 'config: PEER_TLS_CERT_FILE, PEER_TLS_KEY_FILE and PEER_TLS_CA_FILE must be set together or not at all';
  t.equal(outcome({ PEER_TLS_CA_FILE: 'ca' }), `PEER_TLS_CERT_FILE: ${prefix} (missing PEER_TLS_CERT_FILE, PEER_TLS_KEY_FILE)`);
  t.equal(outcome({ PEER_TLS_CERT_FILE: 'c', PEER_TLS_KEY_FILE: 'k' }), `PEER_TLS_CA_FILE: ${prefix} (missing PEER_TLS_CA_FILE)`);
  t.equal(outcome({ PEER_TLS_CERT_FILE: 'c', PEER_TLS_CA_FILE: 'ca' }), `PEER_TLS_KEY_FILE: ${prefix} (missing PEER_TLS_KEY_FILE)`);
});

t.test('PEERS must include NODE_ID unless the node joins a running cluster', async (t) => {
  const peers = 'node1=10.0.0.1:7000,node2=10.0.0.2:7000';
  t.equal(outcome({ NODE_ID: 'node2', PEERS: peers }), 'ok');
  t.equal(outcome({ NODE_ID: 'node3', PEERS: peers }),
    'PEERS: config: PEERS must include this node\'s id "node3" (NODE_ID), unless JOIN is set');
  t.equal(outcome({ NODE_ID: 'node3', PEERS: peers, JOIN: 'http://10.0.0.1:8080' }), 'ok');
});

t.test('JOIN and FORCE_NEW_CLUSTER cannot both be set', async (t) => {
  t.equal(outcome({ JOIN: 'http://10.0.0.1:8080' }, ['--force-new-cluster']),
    'JOIN: config: JOIN and FORCE_NEW_CLUSTER cannot both be set: one joins a cluster, the other starts a new one');
  t.equal(outcome({ JOIN: 'http://10.0.0.1:8080' }, ['--force-new-cluster=false']), 'ok');
});

t.test('BOOTSTRAP_EXPECT must be between 1 and the number of PEERS', async (t) => {
  const peers = 'node1=a:1,node2=b:1,node3=c:1';
  t.equal(outcome({ PEERS: peers, BOOTSTRAP_EXPECT: '1' }), 'ok');
  t.equal(outcome({ PEERS: peers, BOOTSTRAP_EXPECT: '3' }), 'ok');
  t.equal(outcome({ PEERS: peers, BOOTSTRAP_EXPECT: '4' }),
    'BOOTSTRAP_EXPECT: config: BOOTSTRAP_EXPECT must be between 1 and the number of PEERS, 3 (got 4)');
  t.equal(outcome({ PEERS: peers, BOOTSTRAP_EXPECT: '0' }),
    'BOOTSTRAP_EXPECT: config: BOOTSTRAP_EXPECT must be a positive integer (got "0")');
  t.equal(outcome({ BOOTSTRAP_EXPECT: '2' }),
    'BOOTSTRAP_EXPECT: config: BOOTSTRAP_EXPECT must be between 1 and the number of PEERS, 1 (got 2)');
});

t.test('HTTP_PORT and RAFT_PORT must differ when their hosts overlap', async (t) => {
  const clash = (httpHost: string, raftHost: string): string =>
    `RAFT_PORT: config: HTTP_PORT and RAFT_PORT must differ when HTTP_HOST (${httpHost}) and RAFT_HOST (${raftHost}) overlap (both 7000)`;
  t.equal(outcome({ HTTP_PORT: '7000' }), clash('0.0.0.0', '0.0.0.0'));
  t.equal(outcome({ HTTP_PORT: '7000', HTTP_HOST: '10.0.0.1', RAFT_HOST: '10.0.0.1' }), clash('10.0.0.1', '10.0.0.1'));
  t.equal(outcome({ HTTP_PORT: '7000', HTTP_HOST: '::', RAFT_HOST: '10.0.0.1' }), clash('::', '10.0.0.1'));
  t.equal(outcome({ HTTP_PORT: '7000', HTTP_HOST: '10.0.0.1', RAFT_HOST: '0.0.0.0' }), clash('10.0.0.1', '0.0.0.0'));
  t.equal(outcome({ HTTP_PORT: '7000', HTTP_HOST: '10.0.0.1', RAFT_HOST: '10.0.0.2' }), 'ok', 'different interfaces');
  t.equal(outcome({ HTTP_PORT: '7001', RAFT_PORT: '7000' }), 'ok');
});

t.test('validate checks a config built by hand, reporting the first broken rule', async (t) => {
  const good = loadConfig([], {});
  const failureOf = (c: Config): string => {
    try {
      validate(c);
      return 'ok';
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      return `${err.key ?? '-'}: ${err.message}`;
    }
  };
  t.equal(failureOf(good), 'ok');
  t.equal(failureOf({ ...good, electionTimeoutMs: 100, tlsCertFile: 'c.pem' }),
    'HEARTBEAT_INTERVAL: config: HEARTBEAT_INTERVAL must be less than ELECTION_TIMEOUT (got ELECTION_TIMEOUT=100ms, HEARTBEAT_INTERVAL=100ms)');
  t.equal(failureOf({ ...good, tlsCertFile: 'c.pem' }),
    'TLS_KEY_FILE: config: TLS_CERT_FILE and TLS_KEY_FILE must be set together or not at all (missing TLS_KEY_FILE)');
  t.equal(failureOf({ ...good, peers: [{ id: 'x', address: 'h:1' }] }),
    'PEERS: config: PEERS must include this node\'s id "node1" (NODE_ID), unless JOIN is set');
});
