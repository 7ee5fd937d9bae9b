#!/usr/bin/env node
// The scheduled-db command: reads the config, starts a node, and on SIGTERM hands leadership over before exiting.
import pino from 'pino';
import { ConfigError, HelpRequested, loadConfigFromProcess, processArgv, redactedConfig } from './config/load.js';
import type { Config } from './config/load.js';
import { TlsFileError } from './config/tls-files.js';
import { startNode, UnsupportedSettingError } from './node.js';

function readConfig(): Config {
  try {
    // `scheduled-db start` and `scheduled-db` both start a node.
    const argv = processArgv();
    return loadConfigFromProcess(argv[0] === 'start' ? argv.slice(1) : argv);
  } catch (err) {
    if (err instanceof HelpRequested) {
      process.stdout.write(`${err.text}\n`);
      process.exit(0);
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

function rootLogger(config: Config): pino.Logger {
  const options: pino.LoggerOptions = {
    level: config.logLevel,
    base: { pid: process.pid },
    redact: { paths: ['*.signing_secret', '*.headers', '*.payload', 'req.headers.authorization'], censor: '[redacted]' },
  };
  return process.stdout.isTTY
    ? pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true } } })
    : pino(options);
}

async function main(): Promise<void> {
  const config = readConfig();
  const logger = rootLogger(config);
  let exiting = false;
  const fatal = (err: unknown): void => {
    if (exiting) {
      logger.error({ err }, 'error while exiting after a fatal one');
      return;
    }
    exiting = true;
    // What the fatal error breaks next (a scheduler read of the damaged record that stopped us) is logged, not
    // printed as a stack over the one line below.
    process.on('uncaughtException', fatal);
    process.on('unhandledRejection', fatal);
    logger.fatal({ err }, 'fatal error, exiting');
    // A store that refuses its data after start (a damaged job record) says so as plainly as one refused at start.
    if (dataRefusals.has((err as { code?: unknown } | null)?.code)) {
      process.stderr.write(`scheduled-db: stopping: ${oneLine((err as Error).message)}\n`);
    }
    // Give pino a moment to flush; a broken invariant must not be followed by more writes.
    setTimeout(() => process.exit(1), 100).unref();
  };
  logger.info({ config: redactedConfig(config) }, 'starting');
  const node = await startNode(config, logger, fatal).catch((err: unknown) => {
    const refusal = machineRefusal(err, config);
    if (refusal === null) throw err;
    logger.fatal({ err }, 'cannot start');
    process.stderr.write(`scheduled-db: cannot start: ${refusal}\n`);
    process.exit(1);
  });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    node.shutdown().then(() => process.exit(0), (err: unknown) => {
      logger.error({ err }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** A message as one line of stderr: what a refusal prints is one line, whatever the error's text holds. */
function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}

/**
 * A system call the machine refused at start (a port in use, a DATA_DIR that is a file or cannot be written), as one
 * line naming the setting behind it: the operator's fix is there, and a stack trace would only bury it. Null for any
 * other error.
 */
function machineRefusal(err: unknown, config: Config): string | null {
  const e = err as NodeJS.ErrnoException & { port?: unknown };
  if (!(err instanceof Error) || typeof e.code !== 'string' || typeof e.syscall !== 'string') return null;
  const message = oneLine(err.message);
  if (e.syscall === 'listen') {
    if (e.port === config.httpPort) return `HTTP_HOST:HTTP_PORT ${config.httpHost}:${config.httpPort}: ${message}`;
    if (e.port === config.raftPort) return `RAFT_HOST:RAFT_PORT ${config.raftHost}:${config.raftPort}: ${message}`;
  }
  if (typeof e.path === 'string' && (e.path === config.dataDir || e.path.startsWith(`${config.dataDir}/`))) {
    return `DATA_DIR ${config.dataDir}: ${message}`;
  }
  return message;
}

/**
 * Codes of the errors by which the stores refuse data they cannot trust or cannot have (LevelStorageError,
 * SnapshotFileError, StateStoreError, StoreCorruptError, LevelDbTableError, StoreInUseError, LevelDbInUseError).
 * Their message names the file or directory and says what is wrong; a stack trace would only bury it.
 */
const dataRefusals: ReadonlySet<unknown> = new Set([
  'storage_corrupt', 'corrupt_snapshot', 'store_corrupt', 'table_corrupt', 'store_in_use',
]);

main().catch((err: unknown) => {
  if (err instanceof UnsupportedSettingError || err instanceof TlsFileError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  if (dataRefusals.has((err as { code?: unknown } | null)?.code)) {
    process.stderr.write(`scheduled-db: cannot start: ${oneLine((err as Error).message)}\n`);
    process.exit(1);
  }
  process.stderr.write(`scheduled-db: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
