// fast-check settings shared by the fuzz tests: FUZZ_RUNS scales every property's run count, FUZZ_SEED replays one.
import type fc from 'fast-check';

/**
 * `FUZZ_RUNS` multiplies each property's base run count (default 1, sized so each file runs well under a
 * minute on two cores); `FUZZ_RUNS=20` is a longer soak. `FUZZ_SEED` (printed by fast-check on a failure)
 * replays that run.
 */
export function fuzzOptions<T>(baseRuns: number): fc.Parameters<T> {
  const scale = Number(process.env['FUZZ_RUNS'] ?? '1');
  const numRuns = Math.max(1, Math.round(baseRuns * (Number.isFinite(scale) && scale > 0 ? scale : 1)));
  const seedText = process.env['FUZZ_SEED'];
  const seed = seedText === undefined || seedText === '' ? undefined : Number(seedText);
  return { numRuns, ...(seed === undefined ? {} : { seed }) };
}
