// buildApp: the client API as a fastify instance (no listen), public health routes beside the authenticated rest.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import Fastify, { LogController } from 'fastify';
import type { PeerInfo, Status } from '../raft/index.js';
import type { ApiToken, Caller } from './auth.js';
import { authenticate } from './auth.js';
import { clientErrorReply, frameworkErrorReply, installErrorHandler } from './errors.js';
import { installJsonBodyParser } from './json-body.js';
import { clusterRoutes } from './routes/cluster.js';
import { healthRoutes } from './routes/health.js';
import type { FiringPort } from './routes/firing.js';
import { firingRoutes } from './routes/firing.js';
import type { JobLimits, JobsPort } from './routes/jobs.js';
import { jobRoutes } from './routes/jobs.js';
import { decimalQueryIntegers } from './query-integers.js';
import type { DoneStateCheck } from './state-checks.js';

/** What the API needs of replication; RaftService fits it. */
export interface ClusterPort {
  readonly nodeId: string;
  status(): Status;
  peers(): PeerInfo[];
  peerAddress(id: string): string | null;
  snapshotIndex(): number;
  logMemory(): { readonly entryBytes: number; readonly levelDbBytes: number | null };
  propose(data: Uint8Array): Promise<unknown>;
  readBarrier(): Promise<void>;
  addNode(nodeId: string, address: string): Promise<unknown>;
  removeNode(nodeId: string): Promise<unknown>;
  transferLeadership(to: string | null): Promise<void>;
}

/** The scheduler's view for /debug/cluster; only the leader's runs. */
export interface SchedulerStatusPort {
  status(): {
    slots: number; jobsQueued: number; nextFireAtMs: number | null; inFlight: number; waiting: number; running: boolean; firingPaused: boolean;
  };
}

export interface AppOptions {
  readonly apiTokens: readonly ApiToken[];
  /** Largest request body; POST /jobs/batch needs room for 10,000 jobs. */
  readonly bodyBytesMax: number;
  /** How long a client has to send one whole request; a body that stops arriving is cut then (408). */
  readonly requestReceiveMs: number;
  /** Characters of one path parameter: room for the longest job id and fire id. */
  readonly pathParamCharsMax: number;
  readonly logger: FastifyBaseLogger | false;
  readonly onFatal: (err: unknown) => void;
  /** TLS on the client port (TLS_CERT_FILE / TLS_KEY_FILE). */
  readonly https: { readonly cert: Buffer; readonly key: Buffer } | null;
}

export interface AppDeps {
  readonly cluster: ClusterPort;
  readonly jobs: JobsPort;
  readonly firing: FiringPort;
  readonly scheduler: SchedulerStatusPort;
  /** The store's applied index, job count, record check and LevelDB's memory, for /ready and /debug/cluster. */
  readonly store: {
    appliedIndex(): number;
    jobCount(): number;
    levelDbMemoryBytes(): number | null;
    recordCheck(): { readonly state: 'running' | 'passed'; readonly records: number | null; readonly staleIndexEntries: number | null };
  };
  readonly limits: JobLimits;
  /** Cross-member state checks: run one, or read the last. */
  readonly stateChecks: { run(): Promise<DoneStateCheck>; last(): DoneStateCheck | null };
  /** True once the node is stopping (SIGTERM): /ready says so, and each answer closes its connection. */
  readonly stopping: () => boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller;
  }
}

/**
 * A load balancer that sends `X-Leader-Redirect: allowed` takes a 421 naming the leader in `X-Leader-Id` and sends
 * the write there itself (cluster/nginx.conf), so a write reaches the leader in one hop instead of being read,
 * checked and forwarded by a follower (measured: about a quarter more creates a second through nginx). Nothing has been
 * read of the request yet, so nothing changed: the write goes to the leader as if sent there. Without the header
 * (any other client) a follower forwards as before.
 */
const leaderRedirectHeader = 'x-leader-redirect';
const leaderIdHeader = 'x-leader-id';
const readMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

function leaderToRedirectTo(request: FastifyRequest, cluster: ClusterPort): string | null {
  if (request.headers[leaderRedirectHeader] !== 'allowed' || readMethods.has(request.method)) return null;
  const s = cluster.status();
  return s.role === 'follower' && s.leaderId !== null && s.leaderId !== cluster.nodeId ? s.leaderId : null;
}

export async function buildApp(options: AppOptions, deps: AppDeps): Promise<FastifyInstance> {
  const common = {
    bodyLimit: options.bodyBytesMax,
    requestTimeout: options.requestReceiveMs,
    routerOptions: { maxParamLength: options.pathParamCharsMax },
    // Every refusal in the API's {error, code} shape, also those made before a route is found.
    frameworkErrors: (err: FastifyError, request: FastifyRequest, reply: FastifyReply) =>
      frameworkErrorReply(err, request, reply, options.pathParamCharsMax),
    clientErrorHandler: clientErrorReply,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array' as const, allErrors: false } },
    // A closing port still answers the requests that reach it on open connections (each then closes): a 503 there
    // would be an error the client cannot tell from a write that failed half-way (ClientDrain, node.ts).
    return503OnClosing: false,
    // One log line per request would drown the node's own events at thousands of requests a second.
    logController: new LogController({ disableRequestLogging: true }),
    ...(options.https === null ? {} : { https: { cert: options.https.cert, key: options.https.key } }),
  };
  const app = (options.logger === false ? Fastify({ ...common, logger: false })
    : Fastify({ ...common, loggerInstance: options.logger })) as unknown as FastifyInstance;
  installErrorHandler(app, options.onFatal);
  installJsonBodyParser(app);
  // At sending, so that an answer to a request that came in before the node began to stop closes its connection too.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (deps.stopping()) void reply.header('connection', 'close');
    done(null, payload);
  });
  await app.register(swagger, {
    openapi: {
      info: { title: 'scheduled-db', version: '0.1.0', description: 'Jobs, cluster and operations API' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  // Public sibling context: probes and metrics never need a token (fastify encapsulation).
  await app.register(async (pub) => healthRoutes(pub, deps));
  await app.register(async (authed) => {
    authed.decorateRequest('caller', null as unknown as Caller);
    authed.addHook('onRequest', async (request) => {
      request.caller = authenticate(request, options.apiTokens);
    });
    authed.addHook('preValidation', decimalQueryIntegers);
    authed.addHook('onRequest', async (request, reply) => {
      const leader = leaderToRedirectTo(request, deps.cluster);
      if (leader === null) return;
      // No body: nginx keeps an upstream connection whose intercepted answer has nothing left to read.
      await reply.code(421).header(leaderIdHeader, leader).send();
    });
    await clusterRoutes(authed, deps);
    await jobRoutes(authed, deps);
    await firingRoutes(authed, { ...deps, firingLimits: deps.limits });
  });
  return app;
}
