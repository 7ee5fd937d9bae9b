// Runs the threads a node starts after its own (LevelDB's compaction thread) below the event loop's CPU priority.
//
// Why: every node applies the same writes, so all nodes of a cluster flush and compact their stores at the same
// moment. Where they share a machine (the local cluster, a small VM), three compaction threads then took the CPU
// from the leader's loop for 150 to 200 ms every few seconds, and the fires due meanwhile came 20 to 30 ms late
// (measured at 1,000 fires/s). At nice 10 a compaction runs on the CPU the event loops leave idle, as RocksDB's
// Env::LowerThreadPoolCPUPriority does for its own; writes that outrun it meet LevelDB's own write slowdown.
//
// LevelDB starts its one background thread at its first flush and gives it no name. So the threads that exist
// when the node starts (the main thread, V8's platform threads, libuv's pool) keep their priority, and every thread
// that appears later (LevelDB's; an inspector a debugger starts) is lowered once, when a check sees it. Linux
// only: elsewhere there is no /proc/self/task, and nothing is done.
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';

export interface LateThreadPriorityOptions {
  /** The nice value later threads get (1 to 19; higher is lower priority). */
  readonly nice: number;
  /** A thread lowered: its id. */
  readonly onLowered: (threadId: number) => void;
  /** Lowering failed for a reason other than the thread having ended; no more checks are made. */
  readonly onError: (err: unknown) => void;
}

export class LateThreadPriority {
  readonly #options: LateThreadPriorityOptions;
  /** Every thread seen so far: those present at the start, and those already lowered. */
  readonly #seen: Set<number>;
  #failed = false;

  private constructor(options: LateThreadPriorityOptions, present: Set<number>) {
    this.#options = options;
    this.#seen = present;
  }

  /** Takes the threads present now as the process's own; null where threads cannot be listed (not Linux). */
  static start(options: LateThreadPriorityOptions): LateThreadPriority | null {
    const present = threadIds();
    return present === null ? null : new LateThreadPriority(options, present);
  }

  /** Lowers every thread not seen before; returns their ids. */
  lowerNew(): number[] {
    if (this.#failed) return [];
    const lowered: number[] = [];
    for (const id of threadIds() ?? []) {
      if (this.#seen.has(id)) continue;
      this.#seen.add(id);
      try {
        setPriority(id, this.#options.nice);
      } catch (err) {
        // The thread ended between the listing and the call.
        if ((err as { info?: { code?: unknown } }).info?.code === 'ESRCH') continue;
        this.#failed = true;
        this.#options.onError(err);
        return lowered;
      }
      lowered.push(id);
      this.#options.onLowered(id);
    }
    return lowered;
  }
}

/** The ids of this process's threads, or null where /proc/self/task cannot be read. */
export function threadIds(): Set<number> | null {
  try {
    return new Set(readdirSync('/proc/self/task').map(Number));
  } catch {
    return null;
  }
}
