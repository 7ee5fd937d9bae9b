// Types of cluster/left-behind.mjs, for the TypeScript tests that use it.
export class LeftBehindError extends Error {}
export interface ProcView {
  cmdline: () => string[];
  environ: () => string[];
  files: () => string[];
}
export function stopLeftBehind(
  specs: { name: string; pidFile: string; group: boolean; owns: (proc: ProcView) => boolean }[],
  log: (line: string) => void,
  graceMs?: number,
): Promise<string[]>;
