// State checks: a `check_state` entry through the log, then every member's digest of its state at that index,
// compared. Run by `POST /cluster/check-state` and, on the leader, every STATE_CHECK_INTERVAL; the last one is kept for
// /debug/cluster and every one is logged, a divergence as an error naming the odd members.
import type { CommandResult } from '../jobs/commands.js';
import { encodeCommand } from '../jobs/codec.js';
import type { StateCheck } from '../raft/index.js';

/** What running a check needs of replication; RaftService fits it. */
export interface StateCheckPort {
  propose(data: Uint8Array): Promise<unknown>;
  checkStateAt(index: number, waitMs: number): Promise<StateCheck>;
}

type Log = (fields: object, message: string) => void;

export interface DoneStateCheck extends StateCheck {
  readonly checkedAtMs: number;
  readonly durationMs: number;
}

export class StateChecks {
  readonly #cluster: StateCheckPort;
  readonly #waitMs: number;
  readonly #log: { readonly info: Log; readonly warn: Log; readonly error: Log };
  #last: DoneStateCheck | null = null;
  #running: Promise<DoneStateCheck> | null = null;

  /** `waitMs`: how long each member may take to apply the check and digest its state. */
  constructor(cluster: StateCheckPort, waitMs: number, log: { readonly info: Log; readonly warn: Log; readonly error: Log }) {
    this.#cluster = cluster;
    this.#waitMs = waitMs;
    this.#log = log;
  }

  last(): DoneStateCheck | null {
    return this.#last;
  }

  /** Runs a check; a caller that asks while one runs gets that one's result rather than a second digest of every node. */
  run(): Promise<DoneStateCheck> {
    this.#running ??= this.#check().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async #check(): Promise<DoneStateCheck> {
    const startedAtMs = performance.now();
    const result = await this.#cluster.propose(encodeCommand({ type: 'check_state', proposedAtMs: Date.now() })) as CommandResult;
    if (result.type !== 'state_check') throw new Error(`check_state answered ${result.type}`);
    const check = await this.#cluster.checkStateAt(result.index, this.#waitMs);
    const done = { ...check, checkedAtMs: Date.now(), durationMs: Math.round(performance.now() - startedAtMs) };
    this.#last = done;
    const fields = {
      index: done.index, status: done.status, odd: done.odd, duration_ms: done.durationMs,
      members: done.members.map((m) => (m.state === 'ok' ? `${m.id}=${m.digest.slice(0, 16)} (${m.records} records)` : `${m.id}: ${m.state}, ${m.error}`)),
    };
    if (done.status === 'diverged') {
      this.#log.error(fields, 'state check: members hold different states at the same index; remove and re-add the odd ones (README, Reliability, State checks)');
    } else if (done.status === 'incomplete') {
      this.#log.warn(fields, 'state check: not every member answered');
    } else {
      this.#log.info(fields, 'state check: every member holds the same state');
    }
    return done;
  }
}
