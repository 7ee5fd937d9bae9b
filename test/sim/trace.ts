// A readable trace of a simulation run: one line per event, the last ones kept for a failure report.

export class Trace {
  readonly #lines: string[] = [];
  readonly #keep: number;
  #dropped = 0;

  /** keep: how many recent lines to hold; Infinity keeps the whole run (for `--seed N`). */
  constructor(keep: number) {
    this.#keep = keep;
  }

  add(timeMs: number, line: string): void {
    this.#lines.push(`${String(timeMs).padStart(6)} ${line}`);
    if (this.#lines.length > this.#keep * 2) {
      const excess = this.#lines.length - this.#keep;
      this.#lines.splice(0, excess);
      this.#dropped += excess;
    }
  }

  lines(): string[] {
    const start = Math.max(0, this.#lines.length - this.#keep);
    return this.#lines.slice(start);
  }

  render(): string {
    const lines = this.lines();
    const skipped = this.#dropped + this.#lines.length - lines.length;
    return [skipped > 0 ? `... ${skipped} earlier events` : '', ...lines].filter((l) => l !== '').join('\n');
  }
}
