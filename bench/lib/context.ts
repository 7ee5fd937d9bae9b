// What every bench's run() gets from the CLI.
import type { Anchors } from './anchors.js';

export interface BenchOptions {
  /** Seconds of each load run (default per bench; --quick shortens). */
  readonly seconds?: number;
  readonly rounds?: number;
  readonly jobs?: number;
  readonly connections?: readonly number[];
  readonly rates?: readonly number[];
  readonly leadMs?: number;
  readonly batchSize?: number;
  readonly batchConnections?: number;
  readonly snapshotCount?: number;
  readonly logLevel: string;
  readonly keep: boolean;
}

export interface BenchContext {
  readonly quick: boolean;
  readonly anchors: Anchors;
  readonly opts: BenchOptions;
}
