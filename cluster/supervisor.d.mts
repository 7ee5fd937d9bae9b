// Types of cluster/supervisor.mjs, for the TypeScript tests that use it.
export const refusalWindowMs: number;
export const stopGraceMs: number;
export function afterExit(exit: { code: number | null; ranMs: number; lastDelayMs: number; autoRestart: boolean }):
  { action: 'restart'; delayMs: number } | { action: 'down'; refused: boolean };
export interface ProcessSpec {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  pidFile: string;
  essential: boolean;
  group: boolean;
}
export class Supervisor {
  constructor(options: { cwd: string; autoRestart: boolean; log: (line: string) => void; exit: (code: number) => void });
  add(spec: ProcessSpec): void;
  startDown(): void;
  stopAll(code: number): void;
}
