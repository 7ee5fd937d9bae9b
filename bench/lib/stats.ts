// Small numeric helpers shared by the benches: nearest-rank percentiles, rounding, progress lines on stderr.

export interface Summary {
  readonly n: number;
  readonly p50: number | null;
  readonly p99: number | null;
  readonly max: number | null;
}

/** Nearest-rank percentile (p in 0-100) of values already sorted ascending; null when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? null;
}

/** p50, p99 and max of the values, rounded to 0.1. */
export function summarize(values: readonly number[]): Summary {
  const sorted = Float64Array.from(values).sort();
  return { n: sorted.length, p50: r1(percentile(sorted, 50)), p99: r1(percentile(sorted, 99)), max: r1(percentile(sorted, 100)) };
}

export function median(values: readonly number[]): number | null {
  return percentile(Float64Array.from(values).sort(), 50);
}

export function r1(x: number | null): number | null {
  return x === null || !Number.isFinite(x) ? null : Math.round(x * 10) / 10;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A progress line on stderr; stdout carries only the results. */
export function log(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}
