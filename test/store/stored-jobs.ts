// Test helpers: a data dir whose state store holds jobs applied as one entry, and raw access to its LevelDB.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import type { Test } from 'tap';
import { encodeCommand } from '../../src/jobs/codec.js';
import { normalizeCreate, requestHashOf } from '../../src/jobs/job.js';
import { StateMachine } from '../../src/store/state-machine.js';

/** A data dir whose store holds `jobs` jobs (`job-0`…), applied at index 1 in term 1, closed again. */
export async function storeWithJobs(t: Test, jobs: number): Promise<string> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sdb-store-'));
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  const sm = await StateMachine.open(dataDir);
  const nowMs = Date.UTC(2030, 0, 1);
  const bodies = Array.from({ length: jobs }, (_, i) => ({
    id: `job-${i}`, type: 'unico', timestamp: new Date(nowMs + 60_000 + i).toISOString(), webhook_url: 'http://127.0.0.1:9/h',
  }));
  const entries = bodies.map((body) => ({
    spec: normalizeCreate(body, { nowMs, maxPayloadBytes: 65536, denyPrivateWebhooks: false }), requestHash: requestHashOf(body),
  }));
  const data = encodeCommand({ type: 'create_jobs', tenant: 'default', proposedAtMs: nowMs, maxJobs: jobs, jobs: entries });
  await sm.apply([{ type: 'normal', index: 1, term: 1, data }]);
  t.equal(sm.jobCount(), jobs);
  await sm.close();
  return dataDir;
}

/** Opens the store's LevelDB directly, as damage or an older build would see it, for `use`. */
export async function withRawDb<T>(dataDir: string, use: (db: ClassicLevel<string, Uint8Array>) => Promise<T>): Promise<T> {
  const db = new ClassicLevel<string, Uint8Array>(join(dataDir, 'state'), { valueEncoding: 'view' });
  await db.open();
  try {
    return await use(db);
  } finally {
    await db.close();
  }
}
