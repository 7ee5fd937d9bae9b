// Raft between peers over HTTP: a fastify server on the Raft port and one undici pool with one pipeline per peer.
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import Fastify from 'fastify';
import { Pool } from 'undici';
import type { Logger, Message, NodeId } from './core/index.js';
import { PeerQueue } from './peer-queue.js';
import type { DigestAnswer } from './state-check.js';
import { digestAnswerOf } from './state-check.js';
import type { ForwardRequest, ForwardResponse, MessageBatch } from './wire.js';
import { decodeWire, encodeWire, forwardRequest, forwardResponse, messageBatch, WireDecodeError } from './wire.js';

export interface HttpTransportOptions {
  readonly nodeId: NodeId;
  readonly host: string;
  readonly port: number;
  /** `host:port` at which the others reach this node's Raft port. */
  readonly advertiseAddress: string;
  readonly clusterSecret: string | null;
  /** The largest request body this node accepts; peers run with the same, so a request to them stays well under it. */
  readonly bodyBytesMax: number;
  /** How long a peer has to send one whole request; a body that stops arriving is cut then (408). */
  readonly requestReceiveMs: number;
  /** Messages waiting for one peer (and at most two bodies' worth of bytes); beyond it the oldest go. */
  readonly queuedMessagesMax: number;
  readonly logger: Logger;
  /** Mutual TLS between peers (PEER_TLS_*): PEM bytes; every peer must present a certificate signed by `ca`. */
  readonly tls: PeerTls | null;
}

export interface PeerTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
}

export interface HttpTransportHandlers {
  /**
   * Messages from a peer, already checked field by field. The promise, if any, settles once what they caused has
   * been sent: the answers sent until then go back in the response to the peer's request.
   */
  onMessages(batch: MessageBatch): Promise<void> | void;
  /**
   * Whether this node takes Raft messages from `id`: a member of its configuration, or anyone while it has none
   * (a joining node, before the leader's first message tells it the cluster).
   */
  acceptsFrom(id: string): boolean;
  /** A follower's forwarded request; resolves with the result or rejects with an error that has a `code`. */
  onForward(request: ForwardRequest): Promise<unknown>;
  /** This node's digest of its state at `index`, waiting up to `waitMs` for it to be applied and computed. */
  onStateDigest(index: number, waitMs: number): Promise<DigestAnswer>;
}

/** A forwarded request failed on the way or on the leader; `code` is the leader's code or a transport one. */
export class ForwardError extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = 'ForwardError';
    this.code = code;
  }
}

const msgpackType = 'application/msgpack';
const secretHeader = 'x-cluster-secret';
/**
 * Set by a sender that reads messages in the answer to its POST /raft/messages. A receiver answers 204 without
 * it, so a peer of an earlier version, which takes any other status for a failed send, works as before.
 */
const repliesHeader = 'x-raft-replies';
/** Longest a request waits for the answers to its messages; what comes later is sent in a request of its own. */
const replyWaitMaxMs = 1000;
/** Longest a peer holds a state digest request open: a large store takes seconds to digest. */
const stateDigestWaitMaxMs = 600_000;
/** Beyond the wait the peer was asked for: its answer still has to travel. */
const stateDigestGraceMs = 2000;

interface Peer {
  address: string;
  /** Raft messages only: never queued behind a forwarded write that waits for those very messages to commit. */
  pool: Pool;
  /** Forwarded requests, which stay open until their entry applies. */
  forwardPool: Pool;
  queue: PeerQueue;
  sending: boolean;
  /** Messages for this peer while one of its requests waits for its answers: they go back in that response. */
  replies: Message[] | null;
  lastContactAtMs: number | null;
}

export class HttpTransport {
  readonly #options: HttpTransportOptions;
  readonly #server: FastifyInstance;
  readonly #peers = new Map<NodeId, Peer>();
  #handlers: HttpTransportHandlers | null = null;
  #closed = false;
  onUnreachable: (id: NodeId) => void = () => {};

  private constructor(options: HttpTransportOptions, server: FastifyInstance) {
    this.#options = options;
    this.#server = server;
  }

  static async listen(options: HttpTransportOptions, handlers: HttpTransportHandlers): Promise<HttpTransport> {
    const tls = options.tls;
    // A closing node cuts its peers' connections rather than wait for them: a request in progress (a forward whose
    // proposal waits, a message batch) would otherwise hold the close, and a SIGTERM'd node, past its supervisor's
    // patience (a fault run: one in about ten). Peers treat the cut as an unreachable node and try again.
    const common = {
      bodyLimit: options.bodyBytesMax, requestTimeout: options.requestReceiveMs, logger: false, return503OnClosing: true,
      forceCloseConnections: true,
    };
    const server = (tls === null
      ? Fastify(common)
      : Fastify({
        ...common,
        https: { cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: true, rejectUnauthorized: true },
      })) as unknown as FastifyInstance;
    const transport = new HttpTransport(options, server);
    transport.#handlers = handlers;
    transport.#routes(handlers);
    await server.listen({ host: options.host, port: options.port });
    return transport;
  }

  /** The port actually bound (tests listen on 0). */
  port(): number {
    const address = this.#server.server.address();
    return typeof address === 'object' && address !== null ? address.port : this.#options.port;
  }

  /** Learns or changes where a peer's Raft port is. */
  setPeerAddress(id: NodeId, address: string): void {
    if (id === this.#options.nodeId || address === '') return;
    const peer = this.#peers.get(id);
    if (peer !== undefined && peer.address === address) return;
    if (peer !== undefined) void closePools(peer);
    this.#peers.set(id, {
      address, pool: this.#pool(address, 1), forwardPool: this.#pool(address, 256),
      queue: peer?.queue ?? new PeerQueue(this.#options.queuedMessagesMax, 2 * this.#options.bodyBytesMax), sending: false,
      replies: null, lastContactAtMs: peer?.lastContactAtMs ?? null,
    });
  }

  removePeer(id: NodeId): void {
    const peer = this.#peers.get(id);
    if (peer === undefined) return;
    this.#peers.delete(id);
    void closePools(peer);
  }

  peerAddress(id: NodeId): string | null {
    return id === this.#options.nodeId ? this.#options.advertiseAddress : this.#peers.get(id)?.address ?? null;
  }

  /** When a request to the peer last succeeded (epoch ms), for /debug/cluster. */
  lastContactAtMs(id: NodeId): number | null {
    return this.#peers.get(id)?.lastContactAtMs ?? null;
  }

  /**
   * Queues messages; each peer has one request in flight at a time, carrying everything queued for it. Messages
   * for a peer whose own request waits for its answers join that answer instead: one exchange per round trip
   * rather than one each way (on this VM each HTTP exchange costs both ends about as much CPU as the entry).
   */
  send(messages: readonly Message[]): void {
    for (const m of messages) {
      const peer = this.#peers.get(m.to);
      if (peer === undefined) {
        this.#options.logger.debug({ peer_id: m.to }, 'no address for peer, message dropped');
        continue;
      }
      if (peer.replies !== null) {
        peer.replies.push(m);
        continue;
      }
      peer.queue.push(m);
    }
    for (const [id, peer] of this.#peers) {
      if (!peer.sending && peer.queue.length > 0) void this.#drain(id, peer);
    }
  }

  /**
   * Sends a request to the leader and returns its result; rejects with a ForwardError. `signal` gives up on the
   * answer: `outcome_unknown`, as the request may have reached the leader.
   */
  async forward(to: NodeId, request: ForwardRequest, timeoutMs: number, signal?: AbortSignal): Promise<unknown> {
    const peer = this.#peers.get(to);
    if (peer === undefined) throw new ForwardError('no_leader', `no address for leader ${to}`);
    let body: Uint8Array;
    try {
      const response = await peer.forwardPool.request({
        method: 'POST', path: '/raft/forward', headers: this.#headers(), body: encodeWire(request),
        headersTimeout: timeoutMs, bodyTimeout: timeoutMs, ...(signal === undefined ? {} : { signal }),
      });
      body = new Uint8Array(await response.body.arrayBuffer());
      if (response.statusCode !== 200) throw new ForwardError('peer_error', `leader answered ${response.statusCode}`);
    } catch (err) {
      if (err instanceof ForwardError) throw err;
      // A connection that never opened carried nothing: the caller may try again (a new leader, soon).
      if (neverSent(err)) throw new ForwardError('no_leader', `leader ${to} unreachable: ${(err as Error).message}`);
      // Otherwise the request may have reached the leader before the connection failed: its fate is unknown.
      throw new ForwardError('outcome_unknown', `forward to ${to} failed: ${(err as Error).message}`);
    }
    const answer: ForwardResponse = forwardResponse(decodeWire(body));
    if (!answer.ok) throw new ForwardError(answer.code, answer.message);
    return answer.result;
  }

  /** Asks a peer for its digest of its state at `index`; a peer that does not answer in time is `unreachable`. */
  async stateDigest(id: NodeId, index: number, waitMs: number): Promise<DigestAnswer> {
    const peer = this.#peers.get(id);
    if (peer === undefined) return { state: 'unreachable', error: `no address for ${id}` };
    const timeoutMs = waitMs + stateDigestGraceMs;
    try {
      // The forward pool: the messages' one connection must not wait behind a digest.
      const response = await peer.forwardPool.request({
        method: 'GET', path: `/raft/state-digest/${index}?wait_ms=${waitMs}`, headers: this.#headers(),
        headersTimeout: timeoutMs, bodyTimeout: timeoutMs,
      });
      const text = await response.body.text();
      if (response.statusCode !== 200) return { state: 'unreachable', error: `${id} answered ${response.statusCode}` };
      return digestAnswerOf(JSON.parse(text)) ?? { state: 'unreachable', error: `${id} answered no digest` };
    } catch (err) {
      return { state: 'unreachable', error: `${id}: ${(err as Error).message}` };
    }
  }

  /** Asks a Raft address who it is; null when it does not answer (BOOTSTRAP_EXPECT counts the answers). */
  async ping(address: string, timeoutMs: number): Promise<string | null> {
    const pool = this.#pool(address, 1);
    try {
      const response = await pool.request({
        method: 'GET', path: '/raft/ping', headers: this.#headers(), headersTimeout: timeoutMs, bodyTimeout: timeoutMs,
      });
      const text = await response.body.text();
      if (response.statusCode !== 200) return null;
      const parsed = JSON.parse(text) as { id?: unknown };
      return typeof parsed.id === 'string' ? parsed.id : null;
    } catch (_err) {
      // Refused, reset or timed out: the peer is simply not up yet.
      return null;
    } finally {
      void pool.close();
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#server.close();
    await Promise.all([...this.#peers.values()].map(destroyPools));
    this.#peers.clear();
  }

  #pool(address: string, connections: number): Pool {
    const tls = this.#options.tls;
    if (tls === null) return new Pool(`http://${address}`, { connections, keepAliveTimeout: 30_000, pipelining: 1 });
    return new Pool(`https://${address}`, {
      connections, keepAliveTimeout: 30_000, pipelining: 1, connect: { cert: tls.cert, key: tls.key, ca: tls.ca },
    });
  }

  #messageHeaders(): Record<string, string> {
    return { ...this.#headers(), [repliesHeader]: '1' };
  }

  #headers(): Record<string, string> {
    const headers: Record<string, string> = { 'content-type': msgpackType };
    if (this.#options.clusterSecret !== null) headers[secretHeader] = this.#options.clusterSecret;
    return headers;
  }

  async #drain(id: NodeId, peer: Peer): Promise<void> {
    peer.sending = true;
    try {
      while (peer.queue.length > 0 && !this.#closed && this.#peers.get(id) === peer) {
        // A quarter of the peer's body limit is left for the framing that messageBytes does not count.
        const messages = peer.queue.take((this.#options.bodyBytesMax * 3) / 4);
        const body = encodeWire({ from: this.#options.nodeId, fromAddress: this.#options.advertiseAddress, messages });
        try {
          const response = await peer.pool.request({
            method: 'POST', path: '/raft/messages', headers: this.#messageHeaders(), body, headersTimeout: 5000, bodyTimeout: 5000,
          });
          if (response.statusCode === 200) {
            const replies = messageBatch(decodeWire(new Uint8Array(await response.body.arrayBuffer())), this.#options.nodeId);
            if (replies.from !== id) throw new Error(`answer from ${replies.from}, not ${id}`);
            peer.lastContactAtMs = Date.now();
            void this.#handlers?.onMessages(replies);
            continue;
          }
          await response.body.dump();
          if (response.statusCode !== 204) throw new Error(`status ${response.statusCode}`);
          peer.lastContactAtMs = Date.now();
        } catch (err) {
          this.#options.logger.debug({ peer_id: id, err }, 'send to peer failed');
          this.onUnreachable(id);
          // Everything queued meanwhile is stale too; Raft resends from its own state on the next heartbeat.
          peer.queue.clear();
        }
      }
    } finally {
      peer.sending = false;
    }
  }

  #authorized(request: FastifyRequest): boolean {
    const secret = this.#options.clusterSecret;
    if (secret === null) return true;
    const given = request.headers[secretHeader];
    if (typeof given !== 'string') return false;
    const a = Buffer.from(given);
    const b = Buffer.from(secret);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  #routes(handlers: HttpTransportHandlers): void {
    const server = this.#server;
    server.addContentTypeParser(msgpackType, { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    server.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      if (!this.#authorized(request)) {
        await reply.code(401).send({ error: 'missing or wrong cluster secret', code: 'unauthorized' });
      }
    });
    server.setErrorHandler(async (err: Error & { statusCode?: number; code?: string }, _request, reply) => {
      const status = err instanceof WireDecodeError ? 400 : err.statusCode ?? 500;
      const code = err instanceof WireDecodeError ? err.code : status < 500 ? 'invalid_request' : 'internal';
      if (status >= 500) this.#options.logger.warn({ err }, 'peer request failed');
      await reply.code(status).send({ error: status >= 500 ? 'internal error' : err.message, code });
    });
    server.get('/raft/ping', async () => ({ id: this.#options.nodeId }));
    server.get('/raft/state-digest/:index', async (request) => {
      const index = Number((request.params as { index: string }).index);
      const waitMs = Number((request.query as { wait_ms?: string }).wait_ms ?? 0);
      if (!Number.isSafeInteger(index) || index < 1) throw new WireDecodeError('index must be a positive integer');
      if (!Number.isSafeInteger(waitMs) || waitMs < 0 || waitMs > stateDigestWaitMaxMs) {
        throw new WireDecodeError(`wait_ms must be an integer from 0 to ${stateDigestWaitMaxMs}`);
      }
      return handlers.onStateDigest(index, waitMs);
    });
    server.post('/raft/messages', async (request, reply) => {
      const batch = messageBatch(decodeWire(bodyBytes(request.body)), this.#options.nodeId);
      // A stranger's vote request, append or snapshot must change nothing: not the term, not the leader, not
      // the log (a removed node, a node of another cluster given this address, or anyone on the network).
      if (!handlers.acceptsFrom(batch.from)) {
        return reply.code(403).send({ error: `${batch.from} is not a member of this node's cluster`, code: 'not_a_member' });
      }
      if (batch.fromAddress !== '') this.#learnAddress(batch.from, batch.fromAddress);
      const peer = request.headers[repliesHeader] === '1' ? this.#peers.get(batch.from) : undefined;
      if (peer === undefined || peer.replies !== null) {
        void handlers.onMessages(batch);
        return reply.code(204).send();
      }
      const replies: Message[] = [];
      peer.replies = replies;
      try {
        await waitAtMost(handlers.onMessages(batch), replyWaitMaxMs);
      } finally {
        if (peer.replies === replies) peer.replies = null;
      }
      if (replies.length === 0) return reply.code(204).send();
      const answer = encodeWire({ from: this.#options.nodeId, fromAddress: this.#options.advertiseAddress, messages: replies });
      return reply.code(200).header('content-type', msgpackType).send(Buffer.from(answer.buffer, answer.byteOffset, answer.byteLength));
    });
    server.post('/raft/forward', async (request, reply) => {
      const forwarded = forwardRequest(decodeWire(bodyBytes(request.body)));
      let answer: ForwardResponse;
      try {
        answer = { ok: true, result: await handlers.onForward(forwarded) };
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        // A request that is not one to carry out (WireDecodeError) is answered 400, like a body that does not decode.
        if (typeof code !== 'string' || err instanceof WireDecodeError) throw err;
        answer = { ok: false, code, message: (err as Error).message };
      }
      await reply.code(200).header('content-type', msgpackType).send(Buffer.from(encodeWire(answer)));
    });
  }

  #learnAddress(id: NodeId, address: string): void {
    if (!this.#peers.has(id)) this.setPeerAddress(id, address);
  }
}

/** Settles when `done` does or after `ms`, whichever is first; a rejection counts as settling. */
async function waitAtMost(done: Promise<void> | void, ms: number): Promise<void> {
  if (done === undefined) return;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([done.catch(() => undefined), new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    })]);
  } finally {
    clearTimeout(timer);
  }
}

async function closePools(peer: Peer): Promise<void> {
  await Promise.all([peer.pool.close(), peer.forwardPool.close()]);
}

/** Aborts what is still in flight to the peer: a closing node waits for no answer. */
async function destroyPools(peer: Peer): Promise<void> {
  await Promise.all([peer.pool.destroy(), peer.forwardPool.destroy()]);
}

const connectFailures = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT']);

function neverSent(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  const causeCode = ((err as { cause?: { code?: unknown } }).cause)?.code;
  return (typeof code === 'string' && connectFailures.has(code)) || (typeof causeCode === 'string' && connectFailures.has(causeCode));
}

function bodyBytes(body: unknown): Uint8Array {
  if (!(body instanceof Uint8Array)) throw new WireDecodeError(`content-type must be ${msgpackType}`);
  return body;
}
