// A real one-node scheduled-db in this process (LevelDB in a temp dir, Raft port on loopback) for inject() tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfig } from '../../src/config/load.js';
import { startNode } from '../../src/node.js';
import type { RunningNode } from '../../src/node.js';
import { freePort } from '../cluster/process-cluster.js';

export interface TestNode {
  readonly node: RunningNode;
  readonly dataDir: string;
  stop(): Promise<void>;
}

export interface SingleNodeOptions {
  /** A data dir a node ran on before (a restart); a new temp dir otherwise. */
  readonly dataDir?: string;
  /** What the node calls on a fatal error; throwing it (failing the test) otherwise. */
  readonly onFatal?: (err: unknown) => void;
}

export async function startSingleNode(env: Record<string, string> = {}, options: SingleNodeOptions = {}): Promise<TestNode> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'sdb-api-'));
  const raftPort = await freePort();
  const config = loadConfig([], {
    NODE_ID: 'solo', HTTP_HOST: '127.0.0.1', HTTP_PORT: String(await freePort()), RAFT_HOST: '127.0.0.1',
    RAFT_PORT: String(raftPort), DATA_DIR: dataDir, LOG_LEVEL: 'silent', ...env,
  });
  const fatal = (err: unknown): void => {
    throw err instanceof Error ? err : new Error(String(err));
  };
  const node = await startNode(config, pino({ level: 'silent' }), options.onFatal ?? fatal);
  const deadline = Date.now() + 10_000;
  while (node.raft.status().role !== 'leader') {
    if (Date.now() > deadline) throw new Error('single node did not become leader');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    node, dataDir,
    stop: async () => {
      await node.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
