// The webhook receiver, on loopback in the bench's own process: the arrival time of every fire, by X-Fire-Id, and
// which node sent it (from the User-Agent "scheduled-db (<node>; term <n>)").
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Arrival {
  readonly fireId: string;
  /** Date.now() at arrival, to compare with the scheduled epoch ms. */
  readonly atMs: number;
  /** performance.now() at arrival, to compare with other bench events. */
  readonly perf: number;
  readonly from: string | null;
}

export class Receiver {
  readonly #server: Server;
  readonly url: string;
  readonly arrivals: Arrival[];
  readonly #fireIds: Set<string>;

  private constructor(server: Server, url: string, arrivals: Arrival[], fireIds: Set<string>) {
    this.#server = server;
    this.url = url;
    this.arrivals = arrivals;
    this.#fireIds = fireIds;
  }

  /**
   * Distinct fire ids received since the last reset, kept as they arrive: the receiver shares its event loop with
   * the bench's polling, and a scan of every arrival while fires come in delays the next ones by milliseconds.
   */
  get distinctFires(): number {
    return this.#fireIds.size;
  }

  static async start(): Promise<Receiver> {
    const arrivals: Arrival[] = [];
    const fireIds = new Set<string>();
    const server = createServer((req, res) => {
      const atMs = Date.now();
      const perf = performance.now();
      const ua = /\(([^;)]+);/.exec(String(req.headers['user-agent'] ?? ''));
      const fireId = String(req.headers['x-fire-id']);
      arrivals.push({ fireId, atMs, perf, from: ua?.[1] ?? null });
      fireIds.add(fireId);
      req.resume();
      req.on('end', () => res.writeHead(200).end());
    });
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new Receiver(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, arrivals, fireIds);
  }

  /** Arrival times (Date.now) by fire id. */
  byFire(): Map<string, number[]> {
    const out = new Map<string, number[]>();
    for (const a of this.arrivals) {
      const list = out.get(a.fireId);
      if (list === undefined) out.set(a.fireId, [a.atMs]);
      else list.push(a.atMs);
    }
    return out;
  }

  /** The first arrival at or after `perf` sent by a node other than `notFrom`. */
  firstSince(perf: number, notFrom: string): Arrival | undefined {
    // Arrivals are in perf order: walk back from the newest only as far as `perf`, not over the whole run.
    let first: Arrival | undefined;
    for (let i = this.arrivals.length - 1; i >= 0; i--) {
      const a = this.arrivals[i] as Arrival;
      if (a.perf < perf) break;
      if (a.from !== notFrom) first = a;
    }
    return first;
  }

  reset(): void {
    this.arrivals.length = 0;
    this.#fireIds.clear();
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

export interface FireCheck {
  readonly fires: number;
  readonly received: number;
  readonly lost: number;
  readonly doubled: number;
  readonly early: number;
  /** Lateness of each fire's first arrival. */
  readonly lateness: number[];
}

/** Compares arrivals with the expected fires (fire id → scheduled epoch ms). */
export function checkFires(expected: ReadonlyMap<string, number>, got: ReadonlyMap<string, number[]>): FireCheck {
  let lost = 0;
  let doubled = 0;
  let early = 0;
  const lateness: number[] = [];
  for (const [fireId, atMs] of expected) {
    const times = got.get(fireId);
    if (times === undefined) {
      lost++;
      continue;
    }
    if (times.length > 1) doubled++;
    const l = Math.min(...times) - atMs;
    if (l < 0) early++;
    lateness.push(l);
  }
  return { fires: expected.size, received: lateness.length, lost, doubled, early, lateness };
}
