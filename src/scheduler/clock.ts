// Time for the scheduler, injected: the system clock in a node, a simulated one in tests (TigerBeetle's TimeOS/TimeSim).

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Wall-clock epoch ms: fire times are wall-clock instants. */
  nowMs(): number;
  /** Runs `fn` once after `delayMs` (at least 0). */
  setTimer(fn: () => void, delayMs: number): Timer;
}

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  setTimer(fn, delayMs) {
    const handle = setTimeout(fn, Math.max(0, delayMs));
    return { cancel: () => clearTimeout(handle) };
  },
};
