// Operator routes: the cluster's live state, membership changes and leadership transfer.
import { readFileSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { CommandResult } from '../../jobs/commands.js';
import { encodeCommand } from '../../jobs/codec.js';
import { processAllocator } from '../allocator.js';
import { requireOperator } from '../auth.js';
import type { AppDeps } from '../app.js';
import { stateCheckToResponse, toRfc3339 } from '../serializers.js';

const errorBody = Type.Object({ error: Type.String(), code: Type.String() });
const nodeId = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:-]+$' });
const address = Type.String({ minLength: 3, maxLength: 255, pattern: '^[A-Za-z0-9.\\-\\[\\]:]+:[0-9]{1,5}$' });

export async function clusterRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  app.get('/debug/cluster', { schema: { tags: ['cluster'], summary: "This node's view of the cluster" } }, async (request) => {
    requireOperator(request.caller);
    const s = deps.cluster.status();
    const now = Date.now();
    const sched = deps.scheduler.status();
    const lastCheck = deps.stateChecks.last();
    const recordCheck = deps.store.recordCheck();
    const log = deps.cluster.logMemory();
    return {
      node_id: s.id, role: s.role, term: s.term, leader_id: s.leaderId,
      leader_addr: s.leaderId === null ? null : deps.cluster.peerAddress(s.leaderId),
      commit_index: s.commitIndex, applied_index: deps.store.appliedIndex(), last_log_index: s.lastIndex,
      snapshot_index: deps.cluster.snapshotIndex(),
      peers: deps.cluster.peers().map((p) => ({
        id: p.id, address: p.address, voter: p.voter, match_index: p.matchIndex, next_index: p.nextIndex,
        last_contact_ms: p.id === s.id ? 0 : p.lastContactAtMs === null ? null : now - p.lastContactAtMs,
      })),
      scheduler: {
        running: sched.running, firing_paused: sched.firingPaused, slots: sched.slots, jobs_queued: sched.jobsQueued,
        in_flight: sched.inFlight, waiting: sched.waiting, next_fire_at: sched.nextFireAtMs === null ? null : toRfc3339(sched.nextFireAtMs),
      },
      job_count: deps.store.jobCount(),
      store_check: { state: recordCheck.state, records: recordCheck.records, stale_index_entries: recordCheck.staleIndexEntries },
      state_check: lastCheck === null ? null : stateCheckToResponse(lastCheck),
      memory: {
        ...memoryOfProcess(),
        raft_log_entry_bytes: log.entryBytes,
        leveldb_bytes: { raft: log.levelDbBytes, state: deps.store.levelDbMemoryBytes() },
      },
    };
  });

  for (const [path, paused] of [['/cluster/pause-firing', true], ['/cluster/resume-firing', false]] as const) {
    app.post(path, {
      schema: { tags: ['cluster'], summary: paused ? 'Stop all firing, cluster-wide' : 'Restart all firing, cluster-wide' },
    }, async (request) => {
      requireOperator(request.caller);
      const result = await deps.cluster.propose(encodeCommand({
        type: 'set_firing', tenant: request.caller.tenant, proposedAtMs: Date.now(), paused,
      })) as CommandResult;
      if (result.type !== 'firing') throw new Error(`set_firing answered ${result.type}`);
      return { firing_paused: result.paused };
    });
  }

  app.post('/cluster/check-state', {
    schema: {
      tags: ['cluster'],
      summary: "Compare every member's digest of its whole state at one log index (they must be equal)",
      response: { 503: errorBody },
    },
  }, async (request) => {
    requireOperator(request.caller);
    return stateCheckToResponse(await deps.stateChecks.run());
  });

  app.post('/cluster/join', {
    schema: {
      tags: ['cluster'], summary: 'Add a node: a learner first, promoted to voter once caught up',
      body: Type.Object({ node_id: nodeId, address }, { additionalProperties: false }),
      response: { 400: errorBody, 409: errorBody, 503: errorBody },
    },
  }, async (request) => {
    requireOperator(request.caller);
    const body = request.body as { node_id: string; address: string };
    await deps.cluster.addNode(body.node_id, body.address);
    return { added: body.node_id, address: body.address };
  });

  app.delete('/cluster/nodes/:id', {
    schema: { tags: ['cluster'], summary: 'Remove a node', params: Type.Object({ id: nodeId }) },
  }, async (request, reply) => {
    requireOperator(request.caller);
    const { id } = request.params as { id: string };
    const s = deps.cluster.status();
    if (![...s.membership.voters, ...s.membership.learners].includes(id)) {
      return reply.code(404).send({ error: `node ${id} is not a member`, code: 'node_not_found' });
    }
    await deps.cluster.removeNode(id);
    return { removed: id };
  });

  app.post('/cluster/transfer-leadership', {
    schema: {
      tags: ['cluster'], summary: 'Hand leadership to another voter (or the most up-to-date one)',
      body: Type.Optional(Type.Object({ to: Type.Optional(nodeId) }, { additionalProperties: false })),
    },
  }, async (request) => {
    requireOperator(request.caller);
    const to = (request.body as { to?: string } | undefined)?.to ?? null;
    const before = deps.cluster.status();
    await deps.cluster.transferLeadership(to);
    // Answer once leadership has moved (a transfer finishes within an election timeout or is abandoned).
    const deadline = Date.now() + 5000;
    let leader = deps.cluster.status().leaderId;
    while ((leader === before.leaderId || leader === null) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      leader = deps.cluster.status().leaderId;
    }
    const moved = leader !== null && leader !== before.leaderId;
    return { transferred: moved, from: before.leaderId, to: moved ? leader : to };
  });
}

/**
 * Where this process's memory is, as V8 and the OS count it: RSS beyond the heap is buffers, malloc's heaps and
 * mapped files (LevelDB maps the tables it reads: clean pages the kernel can drop, but RSS all the same).
 */
function memoryOfProcess(): Record<string, string | number | null | Record<string, number>> {
  const m = process.memoryUsage();
  const rss = rssParts();
  return {
    allocator: processAllocator(),
    rss_bytes: m.rss, rss_anon_bytes: rss.anon, rss_file_bytes: rss.file, heap_used_bytes: m.heapUsed,
    heap_total_bytes: m.heapTotal, external_bytes: m.external, array_buffers_bytes: m.arrayBuffers,
    heap_spaces_bytes: Object.fromEntries(getHeapSpaceStatistics().filter((s) => s.space_size > 0).map((s) => [s.space_name, s.space_size])),
  };
}

/** Anonymous and file-backed RSS from /proc (Linux); null where there is no /proc. */
function rssParts(): { anon: number | null; file: number | null } {
  let status: string;
  try {
    status = readFileSync('/proc/self/status', 'utf8');
  } catch {
    return { anon: null, file: null };
  }
  const kib = (name: string): number | null => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    return match === null ? null : Number(match[1]) * 1024;
  };
  return { anon: kib('RssAnon'), file: kib('RssFile') };
}
