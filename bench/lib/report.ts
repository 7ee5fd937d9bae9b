// A bench's output: one JSON line with every figure, then a readable table of ours, the anchor, their ratio, and the
// target with pass or miss.
import { cpus, loadavg } from 'node:os';

export type Verdict = 'pass' | 'miss' | 'n/a';

export interface Row {
  readonly metric: string;
  readonly ours: string;
  readonly anchor?: string;
  readonly ratio?: string;
  readonly target?: string;
  readonly verdict?: Verdict;
}

export interface BenchOutput {
  readonly bench: string;
  /** Every figure of our own run. */
  readonly figures: Record<string, unknown>;
  /** The anchor figures of the same run (or why there are none). */
  readonly anchors: Record<string, unknown>;
  readonly ratios: Record<string, number | null>;
  readonly targets: readonly { name: string; target: string; value: string; verdict: Verdict }[];
  readonly rows: readonly Row[];
  /** Errors, unexpected statuses, warnings the nodes logged, anything slow. */
  readonly problems: readonly string[];
}

/** The malloc the bench's nodes reported (/debug/cluster), for the machine line. */
const allocators = new Set<string>();

export function noteAllocator(name: string): void {
  allocators.add(name);
}

export function jsonLine(o: BenchOutput, quick: boolean): string {
  const { rows: _rows, ...rest } = o;
  return JSON.stringify({
    ...rest, date: new Date().toISOString(), quick,
    machine: { cpus: cpus().length, node: process.version, loadavg_1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
      node_malloc: [...allocators].join(',') },
  });
}

export function printOutput(o: BenchOutput, quick: boolean): void {
  process.stdout.write(`${jsonLine(o, quick)}\n`);
  process.stdout.write(`\n${o.bench}${quick ? ' (--quick: for checking the harness, not figures to publish)' : ''}\n`);
  process.stdout.write(`${table(o.rows)}\n`);
  if (o.problems.length > 0) process.stdout.write(`problems:\n${o.problems.map((p) => `  - ${p}`).join('\n')}\n`);
  process.stdout.write('\n');
}

export function table(rows: readonly Row[]): string {
  const head = ['metric', 'ours', 'anchor', 'ours/anchor', 'target', ''];
  const cells = rows.map((r) => [r.metric, r.ours, r.anchor ?? '', r.ratio ?? '', r.target ?? '', r.verdict ?? '']);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const line = (c: readonly string[]): string => `| ${c.map((x, i) => x.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}

/** A whole number with thousands separators; '-' when missing. */
export function num(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '-' : Math.round(x).toLocaleString('en-US');
}

export function ms(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '-' : `${Math.round(x * 10) / 10} ms`;
}

export function mib(bytes: number | null | undefined): string {
  return bytes === null || bytes === undefined || !Number.isFinite(bytes) ? '-' : `${Math.round(bytes / 2 ** 20)} MiB`;
}

/** a/b rounded to 0.01; null when either is missing or b is 0. */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a === null || a === undefined || b === null || b === undefined || b === 0 || !Number.isFinite(a) || !Number.isFinite(b)) return null;
  return Math.round((a / b) * 100) / 100;
}

export function x(r: number | null): string {
  return r === null ? '' : `${r}x`;
}

export function verdict(ok: boolean | null): Verdict {
  return ok === null ? 'n/a' : ok ? 'pass' : 'miss';
}

/** Statuses other than the expected one, e.g. "503 x12, error:UND_ERR_SOCKET x1"; '' when none. */
export function oddStatuses(statuses: Record<string, number>, expected: readonly string[]): string {
  return Object.entries(statuses).filter(([s]) => !expected.includes(s)).map(([s, n]) => `${s} x${n}`).join(', ');
}
