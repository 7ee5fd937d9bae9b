// The client port of a stopping node (SIGTERM, a rolling restart): clients are moved off, not cut off.
import type { FastifyInstance } from 'fastify';

/** How often connections that went idle meanwhile are closed while the port closes. */
const idleSweepMs = 50;

export class ClientDrain {
  #stopping = false;

  /** Since `begin`: /ready answers 503, and every answer closes its connection. */
  isStopping(): boolean {
    return this.#stopping;
  }

  /**
   * Load balancers and clients move to other nodes while this one still serves: a probe sees it stopping, and a
   * keep-alive client reconnects after its next answer instead of finding its connection closed under a request.
   */
  begin(): void {
    this.#stopping = true;
  }

  /**
   * Stops accepting connections, lets the requests in progress finish, and cuts whatever is left after `deadlineMs`.
   * Node's `server.close()` closes only the connections idle at that moment; one whose request ends later would
   * stay open until its client sends again or keep-alive times out (72 s), and the process with it. Those are
   * closed as they go idle.
   */
  async close(app: FastifyInstance, deadlineMs: number): Promise<void> {
    this.#stopping = true;
    const sweep = setInterval(() => app.server.closeIdleConnections(), idleSweepMs);
    const cut = setTimeout(() => app.server.closeAllConnections(), deadlineMs);
    try {
      await app.close();
    } finally {
      clearInterval(sweep);
      clearTimeout(cut);
    }
  }
}
