// A webhook receiver on loopback for firing tests: records every request, answers per path as the test says.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  readonly atMs: number;
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly json: Record<string, unknown>;
}

/** How the receiver answers a path: a status per request in order (the last repeats), after `delayMs`; or never. */
export type Behaviour = { readonly statuses: readonly number[]; readonly delayMs?: number } | { readonly hang: true };

export class Receiver {
  readonly received: Received[] = [];
  readonly #server: Server;
  readonly #behaviours = new Map<string, Behaviour>();
  readonly #counts = new Map<string, number>();
  readonly #hanging = new Set<() => void>();

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(): Promise<Receiver> {
    let receiver: Receiver | null = null;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => (receiver as Receiver).handle(req.method ?? '', req.url ?? '', req.headers, Buffer.concat(chunks).toString('utf8'), res));
    });
    receiver = new Receiver(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  on(path: string, behaviour: Behaviour): void {
    this.#behaviours.set(path, behaviour);
  }

  at(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }

  handle(method: string, path: string, headers: IncomingHttpHeaders, body: string,
    res: import('node:http').ServerResponse): void {
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(body) as Record<string, unknown>;
    } catch {
      json = {};
    }
    this.received.push({ atMs: Date.now(), method, path, headers, body, json });
    const behaviour = this.#behaviours.get(path) ?? { statuses: [200] };
    if ('hang' in behaviour) {
      const release = (): void => void res.destroy();
      this.#hanging.add(release);
      res.on('close', () => this.#hanging.delete(release));
      return;
    }
    const n = this.#counts.get(path) ?? 0;
    this.#counts.set(path, n + 1);
    const status = behaviour.statuses[Math.min(n, behaviour.statuses.length - 1)] ?? 200;
    const answer = (): void => void res.writeHead(status, { 'content-type': 'text/plain' }).end('ok');
    if (behaviour.delayMs === undefined) answer();
    else setTimeout(answer, behaviour.delayMs);
  }

  async close(): Promise<void> {
    for (const release of this.#hanging) release();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
