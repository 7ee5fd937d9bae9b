// A new cluster's node waits for its peers before its Raft clock starts: the wait is not a pause of its ticks.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import t from 'tap';
import { loadConfig } from '../../src/config/load.js';
import { raftServiceOptions } from '../../src/node.js';
import { RaftService } from '../../src/raft/index.js';
import { StateMachine } from '../../src/store/state-machine.js';
import { freePort } from '../cluster/process-cluster.js';

t.test('nodes of a new cluster that wait for each other log no paused ticks once they start', async (t) => {
  const ids = ['n1', 'n2', 'n3'];
  const ports = await Promise.all(ids.map(async () => ({ http: await freePort(), raft: await freePort() })));
  const peers = ids.map((id, i) => `${id}=127.0.0.1:${ports[i]!.raft}`).join(',');
  const warnings: string[] = [];
  const services: RaftService[] = [];
  const stores: StateMachine[] = [];
  t.teardown(async () => {
    for (const service of services) await service.close();
    for (const store of stores) await store.close();
  });
  for (const [i, id] of ids.entries()) {
    const dataDir = mkdtempSync(join(tmpdir(), `sdb-start-clock-${id}-`));
    t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
    const config = loadConfig([], {
      NODE_ID: id, HTTP_HOST: '127.0.0.1', HTTP_PORT: String(ports[i]!.http), RAFT_HOST: '127.0.0.1',
      RAFT_PORT: String(ports[i]!.raft), DATA_DIR: dataDir, PEERS: peers, BOOTSTRAP_EXPECT: '3', LOG_LEVEL: 'warn',
    });
    const logger = pino({ level: 'warn' }, { write: (line: string) => warnings.push(`${id} ${line}`) });
    const store = await StateMachine.open(dataDir);
    stores.push(store);
    services.push(await RaftService.start(raftServiceOptions(config, null, logger, (err) => {
      throw err;
    }), store));
    // The first node waits about 1.5 s for the last, six times the pause a warning is for (a quarter of 1 s).
    if (i < ids.length - 1) await new Promise((resolve) => setTimeout(resolve, 750));
  }
  const deadline = Date.now() + 15_000;
  while (!services.some((s) => s.status().role === 'leader')) {
    if (Date.now() > deadline) throw new Error('no leader');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.same(warnings.filter((w) => w.includes('ticks were paused')), [], 'no node saw its wait as a pause');
});
