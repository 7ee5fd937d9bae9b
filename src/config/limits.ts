// Every bound that is not user config, named big-endian with units last, and their relations asserted at load (TigerBeetle's constants.zig).
import assert from 'node:assert/strict';

const kib = 1024;
const mib = 1024 * kib;

// ---------------------------------------------------------------------------
// Client API

/** Jobs in one `POST /jobs/batch` (SPEC §2). */
export const batchJobsMax = 10_000;
/** `limit` of `GET /jobs` (SPEC §2). */
export const listLimitMax = 1000;
export const listLimitDefault = 100;
/** `count` of `GET /jobs/{id}/schedule` (SPEC §2). */
export const scheduleCountMax = 100;
export const scheduleCountDefault = 10;
/** Request body of the client port; sized for a full batch, whose jobs are checked one by one after. */
export const clientBodyBytesMax = 32 * mib;
/** The largest MAX_PAYLOAD_BYTES a user may set: a job must fit, with room to spare, in one append message. */
export const payloadBytesMax = 1 * mib;
/** Jobs of one `POST /jobs/batch` proposed in one entry: its apply is one step the runner cannot interrupt. */
export const batchEntryJobsMax = 1000;
/** A small job as JSON (id, type, time, URL, a few headers and a short payload), to size the batch body. */
export const jobBytesTypical = 2 * kib;
/**
 * How long a client or a peer has to send one whole request, headers and body. A body that stops arriving would
 * otherwise hold its connection forever (fastify sets no limit); 32 MiB at 10 Mbit/s takes 27 s.
 */
export const requestReceiveMs = 30_000;
/**
 * Characters of one path parameter: a job id is up to 128, a fire id (`<job id>@<ms>`) up to 145. fastify's own
 * default is 100, which answered 414 for every route of a job whose id it had just created.
 */
export const pathParamCharsMax = 256;
/**
 * How long a follower waits for the leader's answer to a forwarded write: a second past the leader's own proposal
 * timeout, so the leader's 504 outcome_unknown arrives before the follower gives up on the connection.
 */
export const forwardTimeoutMs = 11_000;
/** How long a write waits for its entry to commit and apply before it is answered 504 outcome_unknown. */
export const proposalTimeoutMs = 10_000;

// ---------------------------------------------------------------------------
// Raft

/** One logical clock tick of the Raft core; ELECTION_TIMEOUT and HEARTBEAT_INTERVAL become whole ticks. */
export const raftTickMs = 50;
/** AppendEntries in flight to one follower at once. */
export const inflightAppendsMax = 64;
/**
 * Entry bytes in flight to one follower at once. The leader holds every request body in flight: at 64 appends of
 * 1 MiB to each of two slow followers, that was most of a leader's memory under a batch load.
 */
export const inflightBytesMax = 8 * mib;
/** Entry bytes in one AppendEntries (a single larger entry still goes alone). */
export const appendBytesMax = 1 * mib;
/**
 * Committed entry bytes applied per Ready. Nothing else moves while a Ready's entries apply: no heartbeat, no
 * acknowledgement. So an apply must stay far below the election timeout, even for entries of thousands of jobs.
 */
export const applyBytesMax = 512 * kib;
/** Bytes of one InstallSnapshot chunk. */
export const snapshotChunkBytes = 1 * mib;
/** Proposed but not yet committed bytes a leader accepts before refusing new writes. */
export const uncommittedBytesMax = 64 * mib;
/** Bytes of commands batched into one proposal. */
export const proposalBatchBytesMax = 8 * mib;
/**
 * Entry bytes applied since the last snapshot that also start one: 10,000 batch entries of 1,000 jobs are
 * gigabytes of log held on disk and in memory until the next snapshot.
 */
export const snapshotLogBytesThreshold = 64 * 1024 * 1024;
/** Request body of the Raft port: one append, one snapshot chunk or one proposal batch, plus framing. */
export const peerBodyBytesMax = 16 * mib;
/** ReadIndex requests waiting at once; more are refused at once. */
export const pendingReadsMax = 10_000;

// ---------------------------------------------------------------------------
// Scheduler

/** Slots (SLOT_GAP wide) ahead of now whose fires are kept in the in-memory heap; later ones stay on disk. */
export const nearSlotsHeld = 6;
/**
 * Fires being claimed or sent at once on the leader, scheduled, manual or resumed from an earlier leader alike;
 * fires waiting out a retry's backoff do not count (Scheduler: `inFlightMax`).
 */
export const webhooksInFlightMax = 1000;
/** Missed fires that `catchup: fire_all` sends for one job; the rest are recorded `missed` (SPEC §4). */
export const catchupFiresMax = 100;
/**
 * A fire at most this late is simply late (a failover, a busy loop) and is sent; a later one was missed while no
 * leader could fire, and its job's `catchup` decides. Several election timeouts, so a failover never skips.
 */
export const catchupGraceMs = 10_000;
/** Overdue fires of one job listed in one catch-up plan; a longer backlog is passed in several entries. */
export const catchupScanFiresMax = 10_000;
/** Fire events (claims, attempts, results) in one `fire_events` entry. */
export const fireEventsPerEntryMax = 5000;
/**
 * Least time between two `fire_events` entries. Each entry costs every node about the same few milliseconds of
 * CPU whatever it holds; spacing them gathers more events per entry. Far below `claimLeadMs`, so claims stay early.
 */
export const fireEventsEntrySpacingMs = 25;
/** An at_most_once fire is claimed through Raft this long before its time, so the claim does not make it late. */
export const claimLeadMs = 100;
/**
 * A fire's attempt is checked and handed to the leader's send thread this long before its time, and sent at it: the
 * event loop that runs Raft and the store may be busy for some milliseconds when the time comes, the thread is not.
 * After the claim (below `claimLeadMs`, so its commit is usually in by then) and above the loop's usual delays.
 */
export const fireHandOverLeadMs = 40;
/**
 * The pause after each batch of about 1,000 job records the store's check after start reads: about as long as
 * the batch takes to turn into values and decode, so the check takes half of the main thread at most.
 */
export const storeCheckPauseMs = 5;

/**
 * How long each member may take to apply a state check and digest its state before the check calls it `unknown`:
 * with the pauses above, about 10 s at 1,000,000 jobs.
 */
export const stateDigestWaitMs = 60_000;
/** How often an otherwise idle scheduler checks its leader lease. */
export const leaseCheckMs = 50;
/** Next-fire index keys read per page while loading slots. */
export const indexPageFires = 10_000;
/**
 * Connections to one webhook origin at once: as many as the webhooks in flight, so no attempt waits in the pool
 * for a connection another job's attempt holds. At 64, 70 jobs pointed at a receiver that hung took every connection
 * to its host, and every other fire to that host, a healthy path's too, queued behind them while its deadline ran:
 * recorded `timeout` though never sent, or sent seconds late. undici, Node's http.Agent and Go's net/http put no
 * bound per host by default either. Sockets and memory stay bounded by `webhooksInFlightMax`, exactly as for that
 * many attempts to as many hosts; idle keep-alive sockets close after undici's keep-alive timeout (4 s unless the
 * receiver says otherwise). The price: a burst of fires to one host opens a connection per fire (handshakes, the
 * receiver's accept queue) instead of queueing behind 64; each fire at its own time (SPEC §1) is worth it. Only a
 * buffered fire (`overlap: buffer_one`, one a job) released when its job's fire ends can take the leader past
 * `webhooksInFlightMax`; an attempt beyond this bound waits for a connection and is recorded as such (WebhookClient:
 * `origin_busy`, or started late).
 */
export const webhookConnectionsPerOrigin = webhooksInFlightMax;
/** Dead letters in one page of `GET /dead-letters`. */
export const deadLettersPageMax = 1000;
/** How long a SIGTERM'd leader waits for attempts in progress to end and be recorded before it hands over. */
export const drainTimeoutMs = 5000;
/**
 * How long a SIGTERM'd node goes on serving, with /ready at 503 and every answer closing its connection, before
 * its client port closes: load balancers and keep-alive clients move on first (a leader's drain and hand-over count).
 */
export const clientDrainMs = 500;
/** How long a closing client port waits for requests in progress before it cuts their connections. */
export const clientCloseMs = 10_000;
/** A SIGTERM shutdown still running this long logs the step it waits on (drain, hand-over, client port, close). */
export const shutdownOverdueMs = 15_000;

/**
 * The spread of election timeouts, [ELECTION_TIMEOUT, ELECTION_TIMEOUT + this). No vote is granted before
 * ELECTION_TIMEOUT of a leader's silence anyway (the lease), so any spread beyond that only delays the first
 * candidate after a leader dies: by a third of it on average with two survivors, and the first fire with it. With
 * pre-vote, two servers split a vote only when they time out within one round trip of each other, which half an
 * election timeout (ten ticks at the default 1 s) still makes rare.
 */
export function electionJitterTicks(electionTimeoutTicks: number): number {
  return Math.max(1, Math.ceil(electionTimeoutTicks / 2));
}

/** Converts a duration to whole Raft ticks, at least one, so that no timer is ever zero ticks long. */
export function toTicks(ms: number): number {
  return Math.max(1, Math.round(ms / raftTickMs));
}

// ---------------------------------------------------------------------------
// Relations. These hold for any build: breaking one is a bug in this file, so the process must not start.

/** Every constant above, by name; what `assertLimitRelations` checks. */
export const limits = {
  batchJobsMax, listLimitMax, listLimitDefault, scheduleCountMax, scheduleCountDefault, clientBodyBytesMax,
  payloadBytesMax, jobBytesTypical, requestReceiveMs, pathParamCharsMax, forwardTimeoutMs, proposalTimeoutMs, raftTickMs, inflightAppendsMax, inflightBytesMax,
  appendBytesMax, applyBytesMax, batchEntryJobsMax, snapshotChunkBytes, uncommittedBytesMax, proposalBatchBytesMax,
  snapshotLogBytesThreshold,
  peerBodyBytesMax, pendingReadsMax, nearSlotsHeld, webhooksInFlightMax, catchupFiresMax, catchupGraceMs,
  catchupScanFiresMax, fireEventsPerEntryMax, fireEventsEntrySpacingMs, claimLeadMs, fireHandOverLeadMs, leaseCheckMs, indexPageFires, webhookConnectionsPerOrigin,
  deadLettersPageMax, drainTimeoutMs, clientDrainMs, clientCloseMs, shutdownOverdueMs, storeCheckPauseMs, stateDigestWaitMs,
} as const;

export type Limits = { readonly [K in keyof typeof limits]: number };

/** Throws an AssertionError naming the first relation that `l` breaks; run on `limits` when this module loads. */
export function assertLimitRelations(l: Limits): void {
  for (const [name, value] of Object.entries(l)) {
    assert.ok(Number.isSafeInteger(value) && value >= 1, `limits: ${name} must be a positive integer`);
  }
  assert.ok(l.listLimitDefault <= l.listLimitMax, 'limits: listLimitDefault must be at most listLimitMax');
  assert.ok(l.scheduleCountDefault <= l.scheduleCountMax, 'limits: scheduleCountDefault must be at most scheduleCountMax');
  // A full batch of small jobs must fit in one client body, or the batch bound could never be reached.
  assert.ok(l.batchJobsMax * l.jobBytesTypical <= l.clientBodyBytesMax,
    'limits: batchJobsMax jobs of jobBytesTypical must fit clientBodyBytesMax');
  // A job travels in one entry, and that entry must fit one append message with room for the job's other fields.
  assert.ok(l.payloadBytesMax <= l.appendBytesMax,
    'limits: payloadBytesMax must be at most appendBytesMax');
  assert.ok(l.payloadBytesMax < l.clientBodyBytesMax, 'limits: payloadBytesMax must be below clientBodyBytesMax');
  // Every peer request (an append, a snapshot chunk, the largest entry sent alone) must fit the Raft port's body.
  assert.ok(l.appendBytesMax < l.peerBodyBytesMax, 'limits: appendBytesMax must be below peerBodyBytesMax');
  assert.ok(l.snapshotChunkBytes < l.peerBodyBytesMax, 'limits: snapshotChunkBytes must be below peerBodyBytesMax');
  assert.ok(l.proposalBatchBytesMax < l.peerBodyBytesMax, 'limits: proposalBatchBytesMax must be below peerBodyBytesMax');
  // A leader must accept at least one full proposal batch, or a big write would wait forever.
  assert.ok(l.proposalBatchBytesMax <= l.uncommittedBytesMax,
    'limits: proposalBatchBytesMax must be at most uncommittedBytesMax');
  assert.ok(l.batchEntryJobsMax <= l.batchJobsMax, 'limits: batchEntryJobsMax must be at most batchJobsMax');
  // fire_all's last catchupFiresMax fires must fit one plan, or they would be passed before they are listed.
  assert.ok(l.catchupFiresMax < l.catchupScanFiresMax, 'limits: catchupFiresMax must be below catchupScanFiresMax');
  // The heap holds the current slot and at least one more, so a fire is loaded before its slot begins.
  assert.ok(l.nearSlotsHeld >= 2, 'limits: nearSlotsHeld must be at least 2');
  // An at_most_once claim may wait out one spacing before it is proposed; it must still apply before its send.
  assert.ok(l.fireEventsEntrySpacingMs * 2 <= l.claimLeadMs, 'limits: fireEventsEntrySpacingMs must be at most half of claimLeadMs');
  // A fire is handed over once claimed: handing it over before its claim could apply would only withdraw it again.
  assert.ok(l.fireHandOverLeadMs < l.claimLeadMs, 'limits: fireHandOverLeadMs must be below claimLeadMs');
  // Every webhook the scheduler lets be in flight gets its own connection, even when all of them go to one origin.
  assert.ok(l.webhookConnectionsPerOrigin >= l.webhooksInFlightMax,
    'limits: webhookConnectionsPerOrigin must be at least webhooksInFlightMax');
  // A follower's forward waits for the leader's own proposal timeout, so it must not give up first.
  assert.ok(l.forwardTimeoutMs > l.proposalTimeoutMs, 'limits: forwardTimeoutMs must be above proposalTimeoutMs');
}

assertLimitRelations(limits);
