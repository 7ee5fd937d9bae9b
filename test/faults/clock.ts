// One clock for everything a fault run records (operations, fires, leader observations), so that their times compare,
// also with the times the nodes stamp (fire ids carry the scheduled epoch ms of the nodes' own Date.now()).
// Wall-clock ms rather than performance.now(): the monotonic clock drifts from the wall clock under NTP slewing.
export function nowMs(): number {
  return Date.now();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
