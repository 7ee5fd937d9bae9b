// startNode builds every part of a node from its Config; close() takes them down in reverse order.
import { mkdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import type { Logger as PinoLogger } from 'pino';
import { processAllocator } from './api/allocator.js';
import { buildApp } from './api/app.js';
import { ClientDrain } from './api/client-drain.js';
import { StateChecks } from './api/state-checks.js';
import type { Config } from './config/load.js';
import * as limits from './config/limits.js';
import { readTls } from './config/tls-files.js';
import { specProblem } from './jobs/spec-check.js';
import type { CommandResult, FireEvent } from './jobs/commands.js';
import { CommandDecodeError, decodeCommand, encodeCommand } from './jobs/codec.js';
import { refuseIfLocked } from './leveldb/lock-holder.js';
import { checkTables } from './leveldb/table-check.js';
import { RaftService, raftLogDir, type RaftServiceOptions } from './raft/index.js';
import { systemClock } from './scheduler/clock.js';
import { Scheduler } from './scheduler/scheduler.js';
import { WebhookClient } from './scheduler/webhook-client.js';
import { SendThread } from './scheduler/send-thread.js';
import { JobQueries } from './store/queries.js';
import { StateMachine, stateDir } from './store/state-machine.js';

export interface RunningNode {
  readonly config: Config;
  readonly app: FastifyInstance;
  readonly raft: RaftService;
  readonly store: StateMachine;
  readonly scheduler: Scheduler;
  /** The ports actually bound (a test may ask for port 0). */
  readonly httpPort: number;
  readonly raftPort: number;
  /**
   * SIGTERM (SPEC §3): stops serving gracefully (ClientDrain, for `clientDrainMs`, limits.clientDrainMs unless a
   * test says otherwise), hands leadership over if this node leads, then closes.
   */
  shutdown(clientDrainMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** A setting the node parses but does not act on yet: starting anyway would silently drop a security promise. */
export class UnsupportedSettingError extends Error {
  readonly code = 'unsupported_setting';

  constructor(key: string) {
    super(`config: ${key} is not supported by this version yet; unset it (see README, Status)`);
    this.name = 'UnsupportedSettingError';
  }
}

function refuseUnsupported(config: Config): void {
  const unsupported: [string, unknown][] = [
    ['JWT_SECRET', config.jwtSecret],
    ['JWT_PUBLIC_KEY_FILE', config.jwtPublicKeyFile], ['TENANT_MAX_JOBS', config.tenantMaxJobs],
    ['FORCE_NEW_CLUSTER', config.forceNewCluster ? true : null],
  ];
  for (const [key, value] of unsupported) if (value !== null) throw new UnsupportedSettingError(key);
}

/** A pause after each batch of about 1,000 records a scan reads, about as long as the batch took: half of the main thread at most. */
function pauseBetweenBatches(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, limits.storeCheckPauseMs));
}

/**
 * With API_TOKENS the client port is closed to strangers, but without CLUSTER_SECRET or peer mTLS anyone who
 * reaches the Raft port can claim a member's id, append entries and install a snapshot: the tokens protect less
 * than an operator would think. Said once at start, as etcd does for a client port without TLS.
 */
export function unauthenticatedPeerPortWarning(config: Config, peerTls: boolean): string | null {
  if (config.apiTokens.length === 0 || config.clusterSecret !== null || peerTls) return null;
  return 'API_TOKENS guard the client port, but the Raft port takes peer messages from anyone who reaches it: '
    + 'set CLUSTER_SECRET (or PEER_TLS_*) on every node, or keep RAFT_HOST unreachable from untrusted hosts';
}

export async function startNode(config: Config, logger: PinoLogger, onFatal: (err: unknown) => void): Promise<RunningNode> {
  refuseUnsupported(config);
  const { clientTls, peerTls } = await readTls(config);
  await mkdir(config.dataDir, { recursive: true });
  const log = logger.child({ node_id: config.nodeId });
  const openPeerPort = unauthenticatedPeerPortWarning(config, peerTls !== null);
  if (openPeerPort !== null) log.warn({ raft_host: config.raftHost, raft_port: config.raftPort }, openPeerPort);
  // Before LevelDB opens them: it checks no table block's checksum itself, and would compact damage into new tables.
  for (const dir of [stateDir(config.dataDir), raftLogDir(config.dataDir)]) {
    const checkedAtMs = performance.now();
    // A directory another node has open changes under the check, which could take its compactions for damage.
    await refuseIfLocked(dir);
    const { tables, bytes } = await checkTables(dir).catch(async (err: unknown) => {
      // That node may have opened it since the probe above: "in use" is then the truth, not the damage seen.
      await refuseIfLocked(dir);
      throw err;
    });
    log.info({ dir, tables, bytes, duration_ms: Math.round(performance.now() - checkedAtMs) }, 'LevelDB table checksums checked');
  }
  const openedAtMs = performance.now();
  // Math.random draws the store's LevelDB write buffer size, so that nodes do not compact in step. A state digest
  // pauses after each batch of records, as the check after start does.
  const store = await StateMachine.open(config.dataDir, Math.random, pauseBetweenBatches);
  log.info({ jobs: store.jobCount(), applied_index: store.appliedIndex(), duration_ms: Math.round(performance.now() - openedAtMs) },
    'state store opened, job records counted');
  const raft = await RaftService.start(raftServiceOptions(config, peerTls, log.child({ module: 'raft' }), onFatal), store);
  const jobs = new JobQueries(store, { onDamaged: onFatal });
  // Set once SIGTERM's shutdown begins: a hand-over that does not move leadership does not start firing again.
  let stopping = false;
  const { scheduler, webhooks, sender } = startScheduler(config, raft, store, jobs, log, () => stopping);
  const stateChecks = startStateChecks(config, raft, store, log.child({ module: 'state-check' }), onFatal);
  const clientDrain = new ClientDrain();
  const app = await buildApp({
    apiTokens: config.apiTokens, bodyBytesMax: limits.clientBodyBytesMax, requestReceiveMs: limits.requestReceiveMs,
    pathParamCharsMax: limits.pathParamCharsMax, logger: log.child({ module: 'api' }), onFatal,
    https: clientTls,
  }, {
    cluster: raft,
    jobs,
    firing: jobs,
    scheduler: {
      status: () => ({ ...scheduler.status(), running: scheduler.isRunning(), firingPaused: store.firingPaused() }),
    },
    store,
    stateChecks: stateChecks.checks,
    stopping: () => clientDrain.isStopping(),
    limits: {
      maxJobs: config.maxJobs, maxPayloadBytes: config.maxPayloadBytes, denyPrivateWebhooks: config.webhookDenyPrivate,
      batchJobsMax: limits.batchJobsMax, listLimitDefault: limits.listLimitDefault,
      scheduleCountDefault: limits.scheduleCountDefault, scheduleCountMax: limits.scheduleCountMax,
      proposalBytesMax: limits.proposalBatchBytesMax, batchEntryJobsMax: limits.batchEntryJobsMax,
      executionsPerJob: config.executionsPerJob,
      deadLettersPageMax: limits.deadLettersPageMax,
    },
  });
  await app.listen({ host: config.httpHost, port: config.httpPort });
  const address = app.server.address();
  const httpPort = typeof address === 'object' && address !== null ? address.port : config.httpPort;
  log.info({ http_port: httpPort, raft_port: raft.raftPort(), data_dir: config.dataDir, allocator: processAllocator() }, 'node started');
  const verifyStartedAtMs = performance.now();
  store.verifyJobRecords(pauseBetweenBatches).then((checked) => {
    if (checked === null) return;
    const fields = { records: checked.records, stale_index_entries: checked.staleIndexEntries, duration_ms: Math.round(performance.now() - verifyStartedAtMs) };
    if (checked.staleIndexEntries === 0) log.info(fields, 'every job record checked, and the next-fire index against them');
    else log.warn(fields, 'every job record checked; the next-fire index holds keys no job accounts for (the scheduler skips them)');
  }, onFatal);

  let closed = false;
  /** What close() waits for now, for the log line of a shutdown that takes too long. */
  let closing = 'not closing';
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    stateChecks.stop();
    scheduler.stop('node closing');
    closing = 'client requests in progress';
    await clientDrain.close(app, limits.clientCloseMs);
    closing = 'the Raft log and port';
    await raft.close();
    closing = 'the state store';
    await store.close();
    closing = 'webhook connections';
    await sender.close();
    await webhooks.close();
    closing = 'nothing';
    log.info({}, 'node stopped');
  };
  raft.onRemoved(() => {
    log.warn({}, 'this node was removed from the cluster; stopping');
    void close();
  });
  if (config.joinUrl !== null && raft.status().membership.voters.length === 0) {
    await join(config.joinUrl, config.nodeId, advertiseAddress(config.advertiseHost, raft.raftPort()), config, log);
  }
  return {
    config, app, raft, store, scheduler, httpPort, raftPort: raft.raftPort(), close,
    shutdown: async (clientDrainMs = limits.clientDrainMs) => {
      const stoppingAtMs = performance.now();
      stopping = true;
      // Every step is bounded, so a shutdown past them all is a bug: say where it stands before a supervisor's
      // SIGKILL ends it (a fault run saw one node in 300 still running 20 s after SIGTERM, not reproduced since).
      const overdue = setTimeout(() => log.error({ step: closing, raft_step: raft.closingStep() }, 'shutdown is taking too long'),
        limits.shutdownOverdueMs);
      overdue.unref();
      clientDrain.begin();
      // Attempts in progress end and are recorded first, so the next leader sends none of them again: another
      // node, or this one when it is the only one and starts again.
      closing = 'the scheduler to drain';
      await scheduler.drain(limits.drainTimeoutMs);
      closing = 'the leadership hand-over';
      await handOver(raft, log);
      closing = 'clients to go elsewhere';
      await sleep(Math.max(0, clientDrainMs - (performance.now() - stoppingAtMs)));
      await close();
      clearTimeout(overdue);
    },
  };
}

/** The leader-only scheduler, fed by the store's changes and started or stopped by each role change. */
function startScheduler(config: Config, raft: RaftService, store: StateMachine, jobs: JobQueries, log: PinoLogger,
  isStopping: () => boolean):
{ scheduler: Scheduler; webhooks: WebhookClient; sender: SendThread } {
  const userAgent = (): string => `scheduled-db (${config.nodeId}; term ${raft.status().term})`;
  const webhooks = new WebhookClient({
    denyPrivate: config.webhookDenyPrivate, connectionsPerOrigin: limits.webhookConnectionsPerOrigin,
    now: () => systemClock.nowMs(), userAgent,
  });
  const sender = new SendThread({
    denyPrivate: config.webhookDenyPrivate, connectionsPerOrigin: limits.webhookConnectionsPerOrigin,
    slots: limits.webhooksInFlightMax * 2, leaseDeadlineNs: () => raft.leaseDeadlineNs(), userAgent,
    fallback: webhooks, hasLease: () => raft.hasLease(),
    onError: (err) => log.error({ err }, 'the webhook send thread failed; fires are sent from the main thread from now on'),
    onPriority: (nice, error) => log.info({ nice, ...(error === undefined ? {} : { reason: error }) },
      nice === null ? 'the webhook send thread runs at the process\'s priority' : 'webhook send thread started'),
  });
  const proposeEvents = async (events: readonly FireEvent[]): Promise<readonly boolean[]> => {
    const result = await raft.proposeHere(encodeCommand({
      type: 'fire_events', proposedAtMs: systemClock.nowMs(), nodeId: config.nodeId, events,
      executionsPerJob: config.executionsPerJob,
    })) as CommandResult;
    if (result.type !== 'fire_events') throw new Error(`fire_events answered ${result.type}`);
    return result.applied;
  };
  const scheduler = new Scheduler({
    nodeId: config.nodeId, slotGapMs: config.slotGapMs, nearWindowMs: limits.nearSlotsHeld * config.slotGapMs,
    catchupGraceMs: limits.catchupGraceMs, catchupFiresMax: limits.catchupFiresMax,
    catchupScanFiresMax: limits.catchupScanFiresMax, inFlightMax: limits.webhooksInFlightMax,
    eventsPerEntryMax: limits.fireEventsPerEntryMax, eventsEntrySpacingMs: limits.fireEventsEntrySpacingMs, claimLeadMs: limits.claimLeadMs, leaseCheckMs: limits.leaseCheckMs,
    indexPageFires: limits.indexPageFires,
  }, {
    store: {
      getJob: (tenant, id) => jobs.getJob(tenant, id),
      dueFirePage: (fromMs, toMs, afterKey, limit) => jobs.dueFirePage(fromMs, toMs, afterKey, limit),
      inFlightFires: () => jobs.inFlightFires(),
      firingPaused: () => store.firingPaused(),
    },
    lease: { hasLease: () => raft.hasLease(), barrier: () => raft.readBarrier() },
    clock: systemClock, random: Math.random, signingSecret: config.webhookSigningSecret, webhooks, proposeEvents,
    sender, handOverLeadMs: limits.fireHandOverLeadMs,
    logger: log.child({ module: 'scheduler' }),
  });
  store.onChanges((changes) => scheduler.noteChanges(changes));
  // A leader rebuilds once per term; a role change that keeps the same leader and term changes nothing.
  let leadingTerm: number | null = null;
  const follow = (role: string, term: number): void => {
    if (role === 'leader' && leadingTerm !== term) {
      leadingTerm = term;
      scheduler.lead();
    } else if (role !== 'leader' && leadingTerm !== null) {
      leadingTerm = null;
      scheduler.stop(`became ${role}`);
    }
  };
  raft.onRoleChange((change) => follow(change.role, change.term));
  // A leader handing over drains first; if leadership stays here after all, firing goes on (a new run of the term).
  raft.onHandOff({
    prepare: () => scheduler.drain(limits.drainTimeoutMs),
    resume: () => {
      if (leadingTerm !== null && !isStopping()) scheduler.lead();
    },
  });
  const s = raft.status();
  follow(s.role, s.term);
  return { scheduler, webhooks, sender };
}

/**
 * State checks on demand, and on the leader every STATE_CHECK_INTERVAL. Each digest this node computes is logged
 * (so members can be compared by their logs too); a record that does not decode stops the node, as at start.
 */
function startStateChecks(config: Config, raft: RaftService, store: StateMachine, log: PinoLogger,
  onFatal: (err: unknown) => void): { checks: StateChecks; stop(): void } {
  store.onStateDigest((index, digest) => {
    const startedAtMs = performance.now();
    digest.then((d) => {
      if (d !== null) {
        log.info({ index, digest: d.digest, records: d.records, bytes: d.bytes, duration_ms: Math.round(performance.now() - startedAtMs) },
          'state digested');
      }
    }, onFatal);
  });
  const checks = new StateChecks(raft, limits.stateDigestWaitMs, log);
  if (config.stateCheckIntervalMs === 0) return { checks, stop: () => {} };
  const timer = setInterval(() => {
    if (raft.status().role !== 'leader') return;
    checks.run().catch((err: unknown) => log.warn({ err }, 'state check failed to run'));
  }, config.stateCheckIntervalMs);
  timer.unref();
  return { checks, stop: () => clearInterval(timer) };
}

/** The replication service's settings from the node's config (exported for tests that run a RaftService alone). */
export function raftServiceOptions(config: Config, peerTls: RaftServiceOptions['peerTls'], logger: PinoLogger,
  onFatal: (err: unknown) => void): RaftServiceOptions {
  return {
    nodeId: config.nodeId, dataDir: config.dataDir, raftHost: config.raftHost, raftPort: config.raftPort,
    advertiseAddress: advertiseAddress(config.advertiseHost, config.raftPort), peers: config.peers,
    bootstrapExpect: config.bootstrapExpect, joining: config.joinUrl !== null, clusterSecret: config.clusterSecret,
    peerTls, tickMs: limits.raftTickMs, electionTimeoutTicks: limits.toTicks(config.electionTimeoutMs),
    electionJitterTicks: limits.electionJitterTicks(limits.toTicks(config.electionTimeoutMs)),
    heartbeatIntervalTicks: limits.toTicks(config.heartbeatIntervalMs), maxInflightAppends: limits.inflightAppendsMax,
    maxInflightBytes: limits.inflightBytesMax,
    maxAppendBytes: limits.appendBytesMax, maxApplyBytes: limits.applyBytesMax, snapshotChunkBytes: limits.snapshotChunkBytes,
    maxPendingReads: limits.pendingReadsMax, snapshotEntriesThreshold: config.snapshotCount,
    snapshotLogBytesThreshold: limits.snapshotLogBytesThreshold,
    peerBodyBytesMax: limits.peerBodyBytesMax, requestReceiveMs: limits.requestReceiveMs, proposalTimeoutMs: limits.proposalTimeoutMs,
    forwardTimeoutMs: limits.forwardTimeoutMs,
    logger, onFatal, checkProposal: commandProblemOf,
  };
}

/** Why bytes a follower forwarded are not a command (the leader proposes none that every node could not apply). */
function commandProblemOf(data: Uint8Array): string | null {
  try {
    const command = decodeCommand(data);
    if (command.type !== 'create_jobs') return null;
    for (const [i, { spec }] of command.jobs.entries()) {
      const problem = specProblem(spec);
      if (problem !== null) return `create_jobs: spec ${i} (${spec.id}): ${problem}`;
    }
    return null;
  } catch (err) {
    if (err instanceof CommandDecodeError) return err.message;
    throw err;
  }
}

function advertiseAddress(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Asks a running member to add this node; retried until it answers, as the cluster may be electing. */
async function join(url: string, nodeId: string, address: string, config: Config, log: PinoLogger): Promise<void> {
  const token = config.apiTokens.find((t) => t.tenant === null && !t.readOnly)?.token;
  for (let attempt = 1; ; attempt++) {
    try {
      const response = await fetch(new URL('/cluster/join', url), {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
        body: JSON.stringify({ node_id: nodeId, address }),
        signal: AbortSignal.timeout(15_000),
      });
      const text = await response.text();
      if (response.ok || (response.status === 400 && text.includes('already a member'))) {
        log.info({ join_url: url, address }, 'joined the cluster as a learner');
        return;
      }
      if (response.status < 500 && response.status !== 409) throw new Error(`join refused: ${response.status} ${text}`);
      log.warn({ join_url: url, status: response.status, attempt }, 'join not accepted yet, retrying');
    } catch (err) {
      if ((err as Error).message.startsWith('join refused')) throw err;
      log.warn({ join_url: url, err, attempt }, 'join failed, retrying');
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 250 * attempt)));
  }
}

/** On SIGTERM a leader hands over first, so a rolling restart neither doubles nor misses a fire. */
async function handOver(raft: RaftService, log: PinoLogger): Promise<void> {
  const s = raft.status();
  if (s.role !== 'leader' || s.membership.voters.length < 2) return;
  try {
    await raft.transferLeadership(null);
    const deadline = Date.now() + 3000;
    while (raft.status().role === 'leader' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    log.info({ leader_id: raft.status().leaderId }, 'leadership handed over');
  } catch (err) {
    log.warn({ err }, 'leadership hand-over failed; stopping anyway');
  }
}
