// The anchors of ../shared/anchors (etcd, BullMQ), run from a copy in /tmp/anchors, one at a time, never during our
// own load. Each script's last stdout line is its JSON summary. Results are kept per run of the CLI, so `all` runs
// etcd once for create and failover.
import { spawn, execFileSync } from 'node:child_process';
import { cpSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { rootDir } from './cluster.js';
import { log } from './stats.js';

export const anchorsSource = join(rootDir, '..', 'shared', 'anchors');
export const anchorsDir = '/tmp/anchors';

export interface EtcdPut {
  readonly role: 'leader' | 'follower';
  readonly connections: number;
  readonly writes_per_s: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly non2xx: number;
  readonly errors: number;
}

export interface EtcdSummary {
  readonly put: readonly EtcdPut[];
  readonly failover_ms: readonly (number | null)[];
  readonly failover_stats: { n: number; p50?: number; max?: number };
}

export interface BullmqSummary {
  readonly params: { hz: number; fire_jobs: number; fire_spread_s: number };
  readonly add: Record<string, { jobs_per_s: number }>;
  readonly fire: {
    readonly received: number; readonly missing: number; readonly duplicated: number; readonly early: number;
    readonly lateness_p50_ms: number; readonly lateness_p99_ms: number; readonly lateness_max_ms: number;
  };
}

export type AnchorResult<T> = { readonly ok: true; readonly summary: T; readonly env: Record<string, string> }
  | { readonly ok: false; readonly error: string };

export interface AnchorPlan {
  readonly enabled: boolean;
  readonly quick: boolean;
  /** etcd's put runs at 16/64/256 and follower@64 are wanted (create). */
  readonly etcdPuts: boolean;
  /** etcd leader kills wanted (failover); 0 for none. */
  readonly etcdFailoverReps: number;
}

export class Anchors {
  readonly #plan: AnchorPlan;
  #etcd: Promise<AnchorResult<EtcdSummary>> | null = null;
  #bullmq: Promise<AnchorResult<BullmqSummary>> | null = null;

  constructor(plan: AnchorPlan) {
    this.#plan = plan;
  }

  get enabled(): boolean {
    return this.#plan.enabled;
  }

  /** etcd-3node.sh, once per CLI run, with everything the selected benches need. */
  etcd(): Promise<AnchorResult<EtcdSummary>> | null {
    if (!this.#plan.enabled) return null;
    const p = this.#plan;
    this.#etcd ??= runAnchor<EtcdSummary>('etcd-3node.sh', {
      ETCD_SECONDS: p.etcdPuts ? (p.quick ? '2' : '10') : '1',
      ETCD_CONNECTIONS: p.etcdPuts ? '16,64,256' : '16',
      ETCD_FAILOVER_REPS: String(p.etcdFailoverReps),
    });
    return this.#etcd;
  }

  /** REDIS_HZ=100 bash bullmq.sh (the finer Redis timer: BullMQ's best fire lateness). */
  bullmq(): Promise<AnchorResult<BullmqSummary>> | null {
    if (!this.#plan.enabled) return null;
    this.#bullmq ??= runAnchor<BullmqSummary>('bullmq.sh', {
      REDIS_HZ: '100',
      ...(this.#plan.quick ? { ADD_JOBS: '2000', FIRE_JOBS: '1000', FIRE_SPREAD_S: '4', REPEAT_S: '2' } : {}),
    });
    return this.#bullmq;
  }
}

/** Copies the anchors to /tmp/anchors (the shared dir is read-only) and installs their packages once. */
function prepare(): void {
  if (!existsSync(anchorsSource)) throw new Error(`${anchorsSource} is missing`);
  cpSync(anchorsSource, anchorsDir, { recursive: true, force: true });
  if (!existsSync(join(anchorsDir, 'node_modules'))) {
    log(`npm ci in ${anchorsDir}`);
    execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: anchorsDir, stdio: ['ignore', 'inherit', 'inherit'] });
  }
}

/** Runs `bash <script>` in /tmp/anchors with `defaults` for env keys the caller's environment does not set. */
async function runAnchor<T>(script: string, defaults: Record<string, string>): Promise<AnchorResult<T>> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(defaults)) env[k] = process.env[k] ?? v;
  try {
    prepare();
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
  const shown = Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ');
  log(`anchor: ${shown} bash ${script} (in ${anchorsDir})`);
  const started = performance.now();
  const child = spawn('bash', [script], { cwd: anchorsDir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let partial = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line !== '') process.stderr.write(`  [${script}] ${line}\n`);
  });
  const onSignal = (): void => {
    child.kill('SIGTERM'); // the script's own trap stops what it started
  };
  process.once('SIGINT', onSignal);
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  process.off('SIGINT', onSignal);
  const last = stdout.trim().split('\n').at(-1) ?? '';
  log(`anchor ${script} done in ${Math.round((performance.now() - started) / 1000)} s, exit ${code}`);
  if (code !== 0) return { ok: false, error: `${script} exited ${code}` };
  try {
    return { ok: true, summary: JSON.parse(last) as T, env };
  } catch (_err) {
    return { ok: false, error: `${script}: last stdout line is not JSON: ${last.slice(0, 200)}` };
  }
}
