// The one table of configuration keys (env var, flag, kind, default, meaning, secrecy) and the Config it fills; --help and the README table are printed from it.
import { raftTickMs, payloadBytesMax } from './limits.js';
import * as kinds from './value-parsers.js';
import type { ApiToken, LogLevel, Peer, ValueKind } from './value-parsers.js';

export type { ApiToken, LogLevel, Peer } from './value-parsers.js';

/** A node's whole configuration, frozen. Absent optional settings are null, never undefined. */
export interface Config {
  readonly nodeId: string;
  readonly httpHost: string;
  readonly httpPort: number;
  readonly raftHost: string;
  readonly raftPort: number;
  readonly advertiseHost: string;
  /** Every voter, this node included (unless it joins through `joinUrl`). */
  readonly peers: readonly Peer[];
  readonly bootstrapExpect: number;
  readonly dataDir: string;
  readonly slotGapMs: number;
  readonly electionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly logLevel: LogLevel;
  /** Empty: authentication is off. */
  readonly apiTokens: readonly ApiToken[];
  readonly clusterSecret: string | null;
  /** Comma-separated secrets, as given (SPEC §4). */
  readonly webhookSigningSecret: string | null;
  readonly webhookDenyPrivate: boolean;
  readonly maxJobs: number;
  readonly maxPayloadBytes: number;
  readonly executionsPerJob: number;
  /** Applied entries between two snapshots of the state machine (the log behind a snapshot is compacted). */
  readonly snapshotCount: number;
  readonly completedTtlMs: number;
  readonly deadLetterTtlMs: number;
  /** Between two state checks the leader runs on its own; 0: none (POST /cluster/check-state still runs one). */
  readonly stateCheckIntervalMs: number;
  readonly tlsCertFile: string | null;
  readonly tlsKeyFile: string | null;
  readonly peerTlsCertFile: string | null;
  readonly peerTlsKeyFile: string | null;
  readonly peerTlsCaFile: string | null;
  /** Origin of a running member's client port (`http://host:port`) to join through when the data dir is empty. */
  readonly joinUrl: string | null;
  readonly forceNewCluster: boolean;
  readonly jwtSecret: string | null;
  readonly jwtPublicKeyFile: string | null;
  /** Null: no per-tenant cap. */
  readonly tenantMaxJobs: number | null;
}

/** Reads the value of a key that comes earlier in the table, for defaults derived from other keys. */
export type EarlierValue = <P extends keyof Config>(property: P) => Config[P];

/** One row of the table. */
export interface ConfigKey<T> {
  /** The SPEC's name, e.g. `HTTP_PORT`. */
  readonly env: string;
  /** The env name in kebab case, e.g. `--http-port`. */
  readonly flag: string;
  readonly kind: ValueKind<T>;
  /** The default as shown in `--help` and the README: the literal text, `none`, or how it is derived. */
  readonly defaultText: string;
  /** True when the default is computed from keys above this one rather than written literally. */
  readonly isDefaultDerived: boolean;
  /** The default itself; a derived default reads keys above it in the table. */
  readonly defaultValue: (earlier: EarlierValue) => T;
  /** One line. */
  readonly description: string;
  /** Replaced by "[redacted]" in the startup log, and never quoted in an error line. */
  readonly secret: boolean;
}

interface KeySpec<T> {
  readonly kind: ValueKind<T>;
  /** Literal text, parsed by `kind` (so help can never show a default that is not the real one), or derived. */
  readonly default: string | { readonly shown: string; readonly derive: (earlier: EarlierValue) => T };
  readonly description: string;
  readonly secret?: boolean;
}

function key<T>(env: string, spec: KeySpec<T>): ConfigKey<T> {
  const flag = `--${env.toLowerCase().replaceAll('_', '-')}`;
  const base = { env, flag, kind: spec.kind, description: spec.description, secret: spec.secret ?? false };
  if (typeof spec.default !== 'string') {
    return { ...base, defaultText: spec.default.shown, isDefaultDerived: true, defaultValue: spec.default.derive };
  }
  // Parsed once, here: a literal default that does not parse stops the module from loading at all.
  const value = spec.kind.parse(spec.default);
  const defaultText = spec.default === '' ? 'none' : spec.default;
  return { ...base, defaultText, isDefaultDerived: false, defaultValue: () => value };
}

export type ConfigSchema = { readonly [P in keyof Config]: ConfigKey<Config[P]> };

/** The keys, in the order of `--help` and the README (SPEC §5). A derived default may read only keys above it. */
export const configSchema: ConfigSchema = {
  nodeId: key('NODE_ID', {
    kind: kinds.nodeId, default: 'node1',
    description: "This node's id, unique in the cluster; PEERS names nodes by it.",
  }),
  httpHost: key('HTTP_HOST', {
    kind: kinds.host, default: '0.0.0.0', description: 'Interface the client API listens on.',
  }),
  httpPort: key('HTTP_PORT', {
    kind: kinds.port, default: '8080', description: 'Port of the client API (jobs, cluster, health, metrics).',
  }),
  raftHost: key('RAFT_HOST', {
    kind: kinds.host, default: '0.0.0.0', description: 'Interface the Raft port listens on (peer RPCs only).',
  }),
  raftPort: key('RAFT_PORT', { kind: kinds.port, default: '7000', description: 'Port of peer RPCs.' }),
  advertiseHost: key('ADVERTISE_HOST', {
    kind: kinds.host,
    default: {
      shown: '127.0.0.1 if RAFT_HOST is 0.0.0.0 or ::, else RAFT_HOST',
      // A wildcard is where to listen, not where to connect: loopback is the one safe guess for a lone node.
      derive: (earlier) => (kinds.isWildcardHost(earlier('raftHost')) ? '127.0.0.1' : earlier('raftHost')),
    },
    description: "Host other nodes use to reach this node's Raft port.",
  }),
  peers: key('PEERS', {
    kind: kinds.peers,
    default: {
      shown: 'NODE_ID=ADVERTISE_HOST:RAFT_PORT (this node alone)',
      derive: (earlier) => [
        { id: earlier('nodeId'), address: kinds.formatAddress(earlier('advertiseHost'), earlier('raftPort')) },
      ],
    },
    description: "Every voter's Raft address as id=host:port,..., this node's own included.",
  }),
  bootstrapExpect: key('BOOTSTRAP_EXPECT', {
    kind: kinds.positiveInteger,
    default: { shown: 'the number of PEERS', derive: (earlier) => earlier('peers').length },
    description: 'Nodes of PEERS that must be reachable before a new cluster holds its first election.',
  }),
  dataDir: key('DATA_DIR', {
    kind: kinds.path, default: './data', description: "Directory of this node's Raft log and state (LevelDB).",
  }),
  slotGapMs: key('SLOT_GAP', {
    kind: kinds.duration(1), default: '10s', description: 'Width of a scheduler time slot.',
  }),
  electionTimeoutMs: key('ELECTION_TIMEOUT', {
    kind: kinds.duration(1), default: '1s',
    description: 'Silence from the leader after which a follower starts an election; at least 3 x HEARTBEAT_INTERVAL.',
  }),
  heartbeatIntervalMs: key('HEARTBEAT_INTERVAL', {
    // The Raft core counts time in ticks, so a heartbeat shorter than a tick could not be honoured.
    kind: kinds.duration(raftTickMs), default: '100ms', description: 'How often a leader heartbeats its followers.',
  }),
  logLevel: key('LOG_LEVEL', {
    kind: kinds.logLevel, default: 'info', description: 'One of fatal, error, warn, info, debug, trace, silent.',
  }),
  apiTokens: key('API_TOKENS', {
    kind: kinds.apiTokens, default: '', secret: true,
    description: 'Bearer tokens, comma-separated: token (operator) or tenant:token, optionally :read; none: auth off.',
  }),
  clusterSecret: key('CLUSTER_SECRET', {
    kind: kinds.secret, default: '', secret: true, description: 'Shared secret every peer RPC must carry.',
  }),
  webhookSigningSecret: key('WEBHOOK_SIGNING_SECRET', {
    kind: kinds.signingSecrets, default: '', secret: true,
    description: 'Signs webhooks of jobs without their own secret; comma-separated to rotate; whsec_ then base64, or text.',
  }),
  webhookDenyPrivate: key('WEBHOOK_DENY_PRIVATE', {
    kind: kinds.boolean, default: 'false',
    description: 'Refuse webhook URLs that are or resolve to private, loopback or link-local addresses.',
  }),
  maxJobs: key('MAX_JOBS', {
    kind: kinds.positiveInteger, default: '10000000', description: 'Jobs the cluster stores; creates beyond get 507.',
  }),
  maxPayloadBytes: key('MAX_PAYLOAD_BYTES', {
    kind: kinds.size(1, payloadBytesMax), default: '64KiB', description: "Largest JSON size of a job's payload.",
  }),
  executionsPerJob: key('EXECUTIONS_PER_JOB', {
    kind: kinds.positiveInteger, default: '100', description: 'Execution records kept per job; older ones are pruned.',
  }),
  snapshotCount: key('SNAPSHOT_COUNT', {
    kind: kinds.positiveInteger, default: '100000',
    description: 'Applied entries before a snapshot compacts the log (each node adds up to half as many, drawn each time).',
  }),
  completedTtlMs: key('COMPLETED_TTL', {
    kind: kinds.duration(1), default: '7d', description: 'Age at which completed or cancelled unico jobs are deleted.',
  }),
  deadLetterTtlMs: key('DEAD_LETTER_TTL', {
    kind: kinds.duration(1), default: '30d', description: 'Age at which dead letters are deleted.',
  }),
  stateCheckIntervalMs: key('STATE_CHECK_INTERVAL', {
    kind: kinds.duration(0), default: '1h',
    description: "Between the leader's checks that every member holds the same state (each digests its whole store); 0: never.",
  }),
  tlsCertFile: key('TLS_CERT_FILE', {
    kind: kinds.optionalPath, default: '', description: 'PEM certificate of the client port; with TLS_KEY_FILE.',
  }),
  tlsKeyFile: key('TLS_KEY_FILE', {
    kind: kinds.optionalPath, default: '', description: 'PEM private key of the client port; with TLS_CERT_FILE.',
  }),
  peerTlsCertFile: key('PEER_TLS_CERT_FILE', {
    kind: kinds.optionalPath, default: '', description: 'PEM certificate of the Raft port (mutual TLS); with the other two.',
  }),
  peerTlsKeyFile: key('PEER_TLS_KEY_FILE', {
    kind: kinds.optionalPath, default: '', description: 'PEM private key of the Raft port (mutual TLS).',
  }),
  peerTlsCaFile: key('PEER_TLS_CA_FILE', {
    kind: kinds.optionalPath, default: '', description: 'PEM CA that peer certificates must be signed by.',
  }),
  joinUrl: key('JOIN', {
    kind: kinds.joinUrl, default: '',
    description: "A running member's client URL (http://host:port) to join as a learner when DATA_DIR is empty.",
  }),
  forceNewCluster: key('FORCE_NEW_CLUSTER', {
    kind: kinds.boolean, default: 'false',
    description: 'Start from this data dir as a new one-node cluster, after a majority is lost for good.',
  }),
  jwtSecret: key('JWT_SECRET', {
    kind: kinds.secret, default: '', secret: true, description: 'Accept HS256 bearer JWTs signed with it (later).',
  }),
  jwtPublicKeyFile: key('JWT_PUBLIC_KEY_FILE', {
    kind: kinds.optionalPath, default: '', description: 'Accept RS256/ES256 bearer JWTs verified with this PEM (later).',
  }),
  tenantMaxJobs: key('TENANT_MAX_JOBS', {
    kind: kinds.optionalPositiveInteger, default: '', description: 'Jobs each tenant may store; none: no cap (later).',
  }),
};

/** The properties of Config, in table order. */
// Object.keys loses the key type; the ConfigSchema annotation guarantees these are exactly Config's keys.
export const configProperties = Object.keys(configSchema) as readonly (keyof Config)[];

// ---------------------------------------------------------------------------
// Printed forms

/** The `--help` text: usage, the syntax of values, then every key with its flag, env var, default and meaning. */
export function helpText(): string {
  const usage = [
    'Usage: scheduled-db start [flags]',
    '',
    'Every setting is a flag or an environment variable; a flag beats the environment, which beats',
    'the default. An empty environment variable counts as unset. Flags take --flag value or',
    '--flag=value; a boolean flag given bare means true.',
    'Durations: 250ms, 90s, 15m, 2h, 7d or whole ms. Sizes: 64KiB, 1MiB or whole bytes. Booleans: true or false.',
    '',
    'Flags:',
  ];
  const rows = configProperties.map((p) => {
    const k = configSchema[p];
    return { left: `${k.flag} ${k.kind.placeholder}`, env: k.env, k };
  });
  const leftWidth = Math.max(...rows.map((r) => r.left.length));
  const envWidth = Math.max(...rows.map((r) => r.env.length));
  const lines = rows.flatMap(({ left, env, k }) => [
    `  ${left.padEnd(leftWidth)}  ${env.padEnd(envWidth)}  default: ${k.defaultText}`,
    `      ${k.description}`,
  ]);
  return [...usage, ...lines, `  ${'-h, --help'.padEnd(leftWidth)}  print this help and exit`, ''].join('\n');
}

/** Escapes what Markdown would read as a column break or an HTML tag. */
function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('<', '&lt;');
}

/** The README's configuration table (env var | flag | default | meaning), one row per key; a test keeps the two equal. */
export function configTableMarkdown(): string {
  const rows = configProperties.map((p) => {
    const k = configSchema[p];
    const isCode = !k.isDefaultDerived && k.defaultText !== 'none';
    const shownDefault = isCode ? `\`${k.defaultText}\`` : k.defaultText;
    return `| \`${k.env}\` | \`${k.flag}\` | ${cell(shownDefault)} | ${cell(k.description)} |`;
  });
  return ['| env var | flag | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}
