// A real state machine in a temp dir with a one-node "log": commands applied in order, one entry each, as Raft would.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command, CommandResult } from '../../src/jobs/commands.js';
import { encodeCommand } from '../../src/jobs/codec.js';
import { JobQueries } from '../../src/store/queries.js';
import { StateMachine } from '../../src/store/state-machine.js';

export interface LogApplier {
  readonly sm: StateMachine;
  readonly queries: JobQueries;
  /** Appends the command as the next entry and applies it; calls made together apply in call order. */
  apply(command: Command): Promise<CommandResult>;
  /** Applies not finished yet. */
  readonly pending: number;
  close(): Promise<void>;
}

export async function openLogApplier(): Promise<LogApplier> {
  const dir = mkdtempSync(join(tmpdir(), 'sdb-store-'));
  const sm = await StateMachine.open(dir);
  let index = 0;
  let pending = 0;
  let chain: Promise<unknown> = Promise.resolve();
  return {
    sm, queries: new JobQueries(sm),
    get pending() {
      return pending;
    },
    apply(command) {
      pending++;
      const done = chain.then(async () => {
        index++;
        return (await sm.apply([{ type: 'normal', index, term: 1, data: encodeCommand(command) }])).get(index) as CommandResult;
      });
      chain = done.finally(() => {
        pending--;
      });
      return done;
    },
    async close() {
      await sm.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
