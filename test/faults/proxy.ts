// A TCP proxy for one directed link between two nodes' Raft ports, whose behaviour the nemesis switches at run time.
//
// Node A dials B through proxy A→B, so A's requests to B and B's answers on those connections share the link's fate:
// dropping A→B alone is one-way loss (B's own requests to A travel on B→A). The proxy knows nothing of HTTP; it
// moves chunks, so a fault lands wherever the bytes happen to be, as on a real network.
import { connect, createServer, type Server, type Socket } from 'node:net';

export type LinkMode =
  | { readonly kind: 'pass' }
  /** Bytes are read and thrown away; a connection that lost bytes can never be trusted again, so healing resets it. */
  | { readonly kind: 'drop' }
  /** Bytes are kept and delivered in order when the link heals, as TCP retransmission would. */
  | { readonly kind: 'hold' }
  /** Every chunk waits `ms`, and no chunk overtakes an earlier one. */
  | { readonly kind: 'delay'; readonly ms: number }
  /** Each new connection and each chunk resets its connection with probability `p`. */
  | { readonly kind: 'flaky'; readonly p: number };

export const pass: LinkMode = { kind: 'pass' };

export interface LinkStats {
  connections: number;
  resets: number;
  bytesForwarded: number;
  bytesDropped: number;
}

export function describeMode(mode: LinkMode): string {
  switch (mode.kind) {
    case 'pass':
    case 'drop':
    case 'hold':
      return mode.kind;
    case 'delay':
      return `delay ${mode.ms}ms`;
    case 'flaky':
      return `flaky p=${mode.p}`;
  }
}

type Chunk = Buffer | 'end';

/** One direction of one proxied connection: chunks waiting for their release time, in arrival order. */
class Direction {
  readonly #queue: { atMs: number; chunk: Chunk }[] = [];
  #timer: NodeJS.Timeout | null = null;
  #lastAtMs = 0;

  constructor(private readonly sink: Socket, private readonly stats: LinkStats) {}

  get pending(): number {
    return this.#queue.length;
  }

  push(chunk: Chunk, delayMs: number): void {
    // Never earlier than the chunk before it: a delay must not reorder a byte stream.
    const atMs = Math.max(performance.now() + delayMs, this.#lastAtMs);
    this.#lastAtMs = atMs;
    this.#queue.push({ atMs, chunk });
    this.#flush();
  }

  /** Held chunks (release time Infinity) go now. */
  release(): void {
    const now = performance.now();
    for (const item of this.#queue) if (item.atMs === Infinity) item.atMs = now;
    this.#lastAtMs = now;
    this.#flush();
  }

  /** Throws the waiting chunks away; true if there were any. */
  discard(): boolean {
    const had = this.#queue.some((item) => item.chunk !== 'end');
    for (const item of this.#queue) if (item.chunk !== 'end') this.stats.bytesDropped += item.chunk.length;
    this.#queue.length = 0;
    this.#lastAtMs = 0;
    this.#clearTimer();
    return had;
  }

  hold(chunk: Chunk): void {
    this.#lastAtMs = Infinity;
    this.#queue.push({ atMs: Infinity, chunk });
  }

  stop(): void {
    this.#clearTimer();
    this.#queue.length = 0;
  }

  #clearTimer(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #flush(): void {
    this.#clearTimer();
    const now = performance.now();
    while (this.#queue.length > 0 && (this.#queue[0]?.atMs ?? Infinity) <= now) {
      const item = this.#queue.shift();
      if (item === undefined) break;
      if (this.sink.destroyed) continue;
      if (item.chunk === 'end') {
        this.sink.end();
      } else {
        this.stats.bytesForwarded += item.chunk.length;
        this.sink.write(item.chunk);
      }
    }
    const next = this.#queue[0];
    if (next !== undefined && next.atMs !== Infinity) this.#timer = setTimeout(() => this.#flush(), Math.max(0, next.atMs - now));
  }
}

/** A client connection and its upstream connection, with one Direction each way. */
class Connection {
  readonly #up: Direction;
  readonly #down: Direction;
  /** Bytes were thrown away: the HTTP stream is broken, so the connection is reset when the link heals. */
  poisoned = false;
  closed = false;

  constructor(private readonly link: LinkProxy, private readonly client: Socket, private readonly upstream: Socket) {
    this.#up = new Direction(upstream, link.stats);
    this.#down = new Direction(client, link.stats);
    client.on('data', (chunk: Buffer) => this.#onChunk(this.#up, chunk));
    upstream.on('data', (chunk: Buffer) => this.#onChunk(this.#down, chunk));
    client.on('end', () => this.#onChunk(this.#up, 'end'));
    upstream.on('end', () => this.#onChunk(this.#down, 'end'));
    for (const socket of [client, upstream]) {
      socket.on('error', () => this.reset());
      socket.on('close', () => this.#onClose());
    }
  }

  /** Both sockets get an RST, as a middlebox dropping the connection would cause. */
  reset(): void {
    if (this.closed) return;
    this.closed = true;
    this.link.stats.resets++;
    this.#up.stop();
    this.#down.stop();
    for (const socket of [this.client, this.upstream]) if (!socket.destroyed) socket.resetAndDestroy();
    this.link.forget(this);
  }

  /** The link's mode changed: release or discard what waits. */
  modeChanged(mode: LinkMode): void {
    if (mode.kind === 'drop') {
      if (this.#up.discard() || this.#down.discard()) this.poisoned = true;
      return;
    }
    if (this.poisoned) {
      this.reset();
      return;
    }
    if (mode.kind !== 'hold') {
      this.#up.release();
      this.#down.release();
    }
  }

  #onChunk(direction: Direction, chunk: Chunk): void {
    if (this.closed) return;
    const mode = this.link.mode;
    switch (mode.kind) {
      case 'pass':
        direction.push(chunk, 0);
        return;
      case 'delay':
        direction.push(chunk, mode.ms);
        return;
      case 'hold':
        direction.hold(chunk);
        return;
      case 'drop':
        if (chunk !== 'end') this.link.stats.bytesDropped += chunk.length;
        this.poisoned = true;
        return;
      case 'flaky':
        if (this.link.random() < mode.p) this.reset();
        else direction.push(chunk, 0);
        return;
    }
  }

  #onClose(): void {
    if (this.closed) return;
    if (this.client.destroyed && this.upstream.destroyed) {
      this.closed = true;
      this.#up.stop();
      this.#down.stop();
      this.link.forget(this);
      return;
    }
    // One side is gone: the other side is ended after what still waits for it, subject to the link's mode.
    if (this.client.destroyed) this.#onChunk(this.#up, 'end');
    else this.#onChunk(this.#down, 'end');
  }
}

export interface LinkProxyOptions {
  readonly name: string;
  readonly targetPort: number;
  /** The flaky mode's coin; seeded by the nemesis. */
  readonly random: () => number;
}

export class LinkProxy {
  readonly name: string;
  readonly stats: LinkStats = { connections: 0, resets: 0, bytesForwarded: 0, bytesDropped: 0 };
  readonly random: () => number;
  #mode: LinkMode = pass;
  #server: Server;
  #port = 0;
  #listening = false;
  readonly #targetPort: number;
  readonly #connections = new Set<Connection>();

  private constructor(options: LinkProxyOptions) {
    this.name = options.name;
    this.random = options.random;
    this.#targetPort = options.targetPort;
    this.#server = this.#newServer();
  }

  static async start(options: LinkProxyOptions): Promise<LinkProxy> {
    const proxy = new LinkProxy(options);
    await proxy.#listen(0);
    return proxy;
  }

  get port(): number {
    return this.#port;
  }

  get mode(): LinkMode {
    return this.#mode;
  }

  get openConnections(): number {
    return this.#connections.size;
  }

  set(mode: LinkMode): void {
    this.#mode = mode;
    for (const connection of [...this.#connections]) connection.modeChanged(mode);
  }

  /**
   * The target process is gone: stop listening, so the node dialling this link gets ECONNREFUSED as it would from a
   * dead peer (an accepted-then-reset connection would read as "maybe sent", a different error path in the node).
   */
  async targetDown(): Promise<void> {
    if (!this.#listening) {
      for (const connection of [...this.#connections]) connection.reset();
      return;
    }
    this.#listening = false;
    const server = this.#server;
    // Stop accepting first, then reset: server.close() waits for every connection it accepted, and one accepted
    // between a reset and the close would keep it waiting as long as its client keeps it open.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const connection of [...this.#connections]) connection.reset();
    await closed;
    this.#server = this.#newServer();
  }

  async targetUp(): Promise<void> {
    if (!this.#listening) await this.#listen(this.#port);
  }

  forget(connection: Connection): void {
    this.#connections.delete(connection);
  }

  async close(): Promise<void> {
    await this.targetDown();
  }

  #newServer(): Server {
    return createServer((client) => this.#accept(client));
  }

  async #listen(port: number): Promise<void> {
    const server = this.#server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    this.#port = typeof address === 'object' && address !== null ? address.port : port;
    this.#listening = true;
  }

  #accept(client: Socket): void {
    this.stats.connections++;
    client.setNoDelay(true);
    const upstream = connect({ host: '127.0.0.1', port: this.#targetPort });
    upstream.setNoDelay(true);
    const connection = new Connection(this, client, upstream);
    this.#connections.add(connection);
    if (this.#mode.kind === 'flaky' && this.random() < this.#mode.p) connection.reset();
  }
}
