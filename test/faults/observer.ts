// Polls every node's /health about every 100 ms through the run, to learn who led which term and from when.
import type { NodeHandle } from '../cluster/process-cluster.js';
import { nowMs, sleep } from './clock.js';

export interface HealthSample {
  /** When the answer arrived: the node's state held at some point before it. */
  readonly atMs: number;
  readonly node: string;
  readonly role: string;
  readonly leader: string | null;
  readonly term: number;
}

export class HealthObserver {
  readonly samples: HealthSample[] = [];
  #running = true;
  readonly #loops: Promise<void>[];

  constructor(nodes: readonly NodeHandle[], readonly intervalMs = 100) {
    this.#loops = nodes.map((n) => this.#poll(n));
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
  }

  async #poll(node: NodeHandle): Promise<void> {
    while (this.#running) {
      const startedAt = nowMs();
      try {
        // A stopped node never answers: the short timeout keeps the loop going, one request at a time per node.
        const r = await fetch(`${node.url}/health`, { signal: AbortSignal.timeout(500) });
        const body = await r.json() as { role?: string; leader?: string | null; term?: number };
        if (r.ok && typeof body.term === 'number' && typeof body.role === 'string') {
          this.samples.push({ atMs: nowMs(), node: node.id, role: body.role, leader: body.leader ?? null, term: body.term });
        }
      } catch (_err) {
        // Down, stopped or partitioned from us: no sample.
      }
      await sleep(this.intervalMs - (nowMs() - startedAt));
    }
  }
}
