// Liveness and readiness probes: public, cheap, and honest about whether this node can serve.
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from '../app.js';

export async function healthRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  app.get('/health', { schema: { hide: true } }, async () => {
    const s = deps.cluster.status();
    return { status: 'ok', role: s.role, node_id: s.id, leader: s.leaderId, term: s.term };
  });

  app.get('/ready', { schema: { hide: true } }, async (_request, reply) => {
    const s = deps.cluster.status();
    const applied = deps.store.appliedIndex();
    const stopping = deps.stopping();
    const ready = !stopping && s.leaderId !== null && applied >= s.commitIndex;
    const reason = stopping ? 'stopping' : s.leaderId === null ? 'no known leader'
      : ready ? null : `applied ${applied} of ${s.commitIndex} committed`;
    return reply.code(ready ? 200 : 503).send({
      ready, role: s.role, leader: s.leaderId, commit_index: s.commitIndex, applied_index: applied, ...(reason === null ? {} : { reason }),
    });
  });
}
