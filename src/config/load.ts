// Builds the node's frozen Config from argv and the environment (flag > env > default), checks the keys against each other, and redacts it for the startup log.
import assert from 'node:assert/strict';
import { configProperties, configSchema, helpText } from './schema.js';
import type { Config, ConfigKey, EarlierValue } from './schema.js';
import { formatDuration, isWildcardHost, quote, ValueError } from './value-parsers.js';

export type { ApiToken, Config, LogLevel, Peer } from './schema.js';

/**
 * A setting that cannot be used. Its message is one line naming the key, e.g.
 * `config: HTTP_PORT must be an integer 1-65535 (got "x")`; the node prints it and exits with code 2.
 */
export class ConfigError extends Error {
  readonly code = 'invalid_config';
  /** The env name of the key at fault (the first one, for a rule between keys); null for a malformed command line. */
  readonly key: string | null;

  constructor(key: string | null, message: string) {
    super(message);
    this.name = 'ConfigError';
    this.key = key;
  }
}

/** Thrown by `loadConfig` when argv asks for `--help` or `-h`: the caller prints `text` and exits with code 0. */
export class HelpRequested extends Error {
  readonly code = 'help_requested';
  readonly text: string;

  constructor(text: string) {
    super('help requested');
    this.name = 'HelpRequested';
    this.text = text;
  }
}

/**
 * The configuration from the command line and the environment: for each key its flag, else its
 * environment variable (an empty one counts as unset, so a compose file may pass `${X:-}`), else its default.
 * Pure: argv (without `node` and the script) and env are arguments, never read from the process.
 * Throws ConfigError for a bad value, an unknown flag or keys that contradict each other; HelpRequested for `--help`.
 */
export function loadConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Config {
  if (argv.includes('--help') || argv.includes('-h')) throw new HelpRequested(helpText());
  const flags = parseArgv(argv);
  const values = new Map<keyof Config, unknown>();
  const earlier: EarlierValue = (property) => {
    assert.ok(values.has(property), `config: a derived default reads ${property}, which is not above it in the table`);
    // The map holds, under each property, the value its own key produced, so the types agree.
    return values.get(property) as Config[typeof property];
  };
  for (const property of configProperties) {
    const k: ConfigKey<unknown> = configSchema[property];
    const envText = env[k.env];
    const text = flags.get(property) ?? (envText === '' ? undefined : envText);
    values.set(property, text === undefined ? k.defaultValue(earlier) : parseKey(k, text));
  }
  // Every property of the schema was set just above, each by its own key's kind.
  const config = freezeDeep(Object.fromEntries(values) as unknown as Config);
  validate(config);
  return config;
}

/** The command line after `node` and the script. Here because only src/config reads the process (tidy test). */
export function processArgv(): readonly string[] {
  return process.argv.slice(2);
}

/** `loadConfig` over this process's environment, for main.ts; argv defaults to the whole command line. */
export function loadConfigFromProcess(argv: readonly string[] = processArgv()): Config {
  return loadConfig(argv, process.env);
}

function parseKey<T>(k: ConfigKey<T>, text: string): T {
  try {
    return k.kind.parse(text);
  } catch (err) {
    if (!(err instanceof ValueError)) throw err;
    const detail = err.detail ?? (k.secret ? null : `got ${quote(text)}`);
    throw new ConfigError(k.env, `config: ${k.env} ${err.expectation}${detail === null ? '' : ` (${detail})`}`);
  }
}

const propertyByFlag = new Map(configProperties.map((p) => [configSchema[p].flag, p]));

function argvError(message: string): ConfigError {
  return new ConfigError(null, `config: ${message}`);
}

/** The flags on the command line, by property: `--flag value`, `--flag=value`, or a bare boolean flag. */
function parseArgv(argv: readonly string[]): Map<keyof Config, string> {
  const given = new Map<keyof Config, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('-')) throw argvError(`unexpected argument ${quote(arg)} (flags start with --; see --help)`);
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const property = propertyByFlag.get(name);
    if (property === undefined) throw argvError(`unknown flag ${name} (see --help)`);
    // Two values for one key is ambiguous in a start command; refuse it rather than pick one silently.
    if (given.has(property)) throw argvError(`${name} is given twice`);
    const next = argv[i + 1];
    if (eq !== -1) {
      given.set(property, arg.slice(eq + 1));
    } else if (configSchema[property].kind.isBoolean) {
      const isValue = next === 'true' || next === 'false';
      given.set(property, isValue ? next : 'true');
      if (isValue) i++;
    } else {
      // A value that starts with -- is more likely a forgotten value; `--flag=--x` still passes it.
      if (next === undefined || next.startsWith('--')) throw argvError(`${name} needs a value`);
      given.set(property, next);
      i++;
    }
  }
  return given;
}

function freezeDeep(config: Config): Config {
  for (const peer of config.peers) Object.freeze(peer);
  for (const token of config.apiTokens) Object.freeze(token);
  Object.freeze(config.peers);
  Object.freeze(config.apiTokens);
  return Object.freeze(config);
}

// ---------------------------------------------------------------------------
// Rules between keys, checked in one place as etcd's Config.validate does

function fail(key: string, message: string): never {
  throw new ConfigError(key, `config: ${message}`);
}

/** Followers must hear several heartbeats per election timeout, or a healthy leader would be deposed. */
function checkTimers(c: Config): void {
  const got = `(got ELECTION_TIMEOUT=${formatDuration(c.electionTimeoutMs)}, HEARTBEAT_INTERVAL=${formatDuration(c.heartbeatIntervalMs)})`;
  if (c.heartbeatIntervalMs >= c.electionTimeoutMs) {
    fail('HEARTBEAT_INTERVAL', `HEARTBEAT_INTERVAL must be less than ELECTION_TIMEOUT ${got}`);
  }
  if (c.electionTimeoutMs < 3 * c.heartbeatIntervalMs) {
    fail('ELECTION_TIMEOUT', `ELECTION_TIMEOUT must be at least 3 x HEARTBEAT_INTERVAL ${got}`);
  }
}

/** Half a TLS setting would silently serve plain text; say which half is missing instead. */
function checkFileGroup(c: Config, group: readonly [keyof Config, ...(keyof Config)[]]): void {
  const envs = group.map((p) => configSchema[p].env);
  const missing = group.filter((p) => c[p] === null).map((p) => configSchema[p].env);
  if (missing.length === 0 || missing.length === group.length) return;
  const names = envs.length === 2 ? envs.join(' and ') : `${envs.slice(0, -1).join(', ')} and ${envs.at(-1) ?? ''}`;
  fail(missing[0] ?? envs[0] ?? '', `${names} must be set together or not at all (missing ${missing.join(', ')})`);
}

function checkMembership(c: Config): void {
  if (c.joinUrl !== null && c.forceNewCluster) {
    fail('JOIN', 'JOIN and FORCE_NEW_CLUSTER cannot both be set: one joins a cluster, the other starts a new one');
  }
  // A joining node is added by the cluster it joins, so only a bootstrapping node must be among its PEERS.
  if (c.joinUrl === null && !c.peers.some((p) => p.id === c.nodeId)) {
    fail('PEERS', `PEERS must include this node's id ${quote(c.nodeId)} (NODE_ID), unless JOIN is set`);
  }
  if (c.bootstrapExpect > c.peers.length) {
    fail('BOOTSTRAP_EXPECT', `BOOTSTRAP_EXPECT must be between 1 and the number of PEERS, ${c.peers.length} (got ${c.bootstrapExpect})`);
  }
}

/** Two listeners on one port of one interface: the second would fail at bind with a less helpful error. */
function checkPorts(c: Config): void {
  const hostsOverlap = c.httpHost === c.raftHost || isWildcardHost(c.httpHost) || isWildcardHost(c.raftHost);
  if (hostsOverlap && c.httpPort === c.raftPort) {
    fail('RAFT_PORT', `HTTP_PORT and RAFT_PORT must differ when HTTP_HOST (${c.httpHost}) and RAFT_HOST (${c.raftHost}) overlap (both ${c.httpPort})`);
  }
}

/** Throws a ConfigError for the first rule between keys that `config` breaks. */
export function validate(config: Config): void {
  checkTimers(config);
  checkFileGroup(config, ['tlsCertFile', 'tlsKeyFile']);
  checkFileGroup(config, ['peerTlsCertFile', 'peerTlsKeyFile', 'peerTlsCaFile']);
  checkMembership(config);
  checkPorts(config);
}

// ---------------------------------------------------------------------------
// Redaction

export const redactedMark = '[redacted]';

export type RedactedConfig = { readonly [P in keyof Config]: Config[P] | typeof redactedMark };

/** The config for the startup log: every secret key that is set shows "[redacted]"; unset ones stay null or empty. */
export function redactedConfig(config: Config): RedactedConfig {
  const out = new Map<keyof Config, unknown>();
  for (const property of configProperties) {
    const value = config[property];
    const isSet = value !== null && !(Array.isArray(value) && value.length === 0);
    out.set(property, configSchema[property].secret && isSet ? redactedMark : value);
  }
  // Each property holds its own value or the mark, which is what RedactedConfig allows.
  return Object.freeze(Object.fromEntries(out) as unknown as RedactedConfig);
}
