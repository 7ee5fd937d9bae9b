// The messages waiting for one peer while its request is out: bounded in count and in bytes, taken a body at a time.
import { entryBytes } from './core/index.js';
import type { Message } from './core/index.js';

/** About what a message takes in a request body: its entries or snapshot data, and its fields. */
export function messageBytes(m: Message): number {
  if (m.type === 'append_entries') return 128 + m.entries.reduce((sum, e) => sum + entryBytes(e), 0);
  if (m.type === 'install_snapshot') return 128 + m.data.byteLength;
  return 128;
}

/**
 * Beyond either bound the oldest messages go, as a network would lose them: Raft sends again what still matters.
 * Without the bytes bound a slow peer could be owed any amount (a leader once queued 72 copies of one probe, 58 MiB).
 */
export class PeerQueue {
  readonly #messagesMax: number;
  readonly #bytesMax: number;
  #messages: Message[] = [];
  #sizes: number[] = [];
  #bytes = 0;

  constructor(messagesMax: number, bytesMax: number) {
    this.#messagesMax = messagesMax;
    this.#bytesMax = bytesMax;
  }

  get length(): number {
    return this.#messages.length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  push(m: Message): void {
    const size = messageBytes(m);
    this.#messages.push(m);
    this.#sizes.push(size);
    this.#bytes += size;
    while (this.#messages.length > this.#messagesMax || (this.#bytes > this.#bytesMax && this.#messages.length > 1)) {
      this.#messages.shift();
      this.#bytes -= this.#sizes.shift() ?? 0;
    }
  }

  /**
   * The oldest messages that come to at most `maxBytes` (at least one): one request's body. A body over the peer's
   * limit is refused whole, and every message in it is lost.
   */
  take(maxBytes: number): Message[] {
    let bytes = 0;
    let count = 0;
    for (const size of this.#sizes) {
      if (count > 0 && bytes + size > maxBytes) break;
      bytes += size;
      count++;
    }
    this.#sizes.splice(0, count);
    this.#bytes -= bytes;
    return this.#messages.splice(0, count);
  }

  clear(): void {
    this.#messages = [];
    this.#sizes = [];
    this.#bytes = 0;
  }
}
