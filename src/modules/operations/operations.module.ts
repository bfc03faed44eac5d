import { Type } from 'typebox';
import type { Infra } from '../../infra/infra.js';
import { defineJob } from '../../infra/jobs/job-queue.js';

export const pruneOutboxJob = defineJob({
  name: 'operations.prune-outbox',
  payload: Type.Object({}),
  retryLimit: 2,
});

/** Housekeeping jobs and the socket round-trip check. */
export function createOperationsModule(infra: Infra) {
  infra.jobs.handle(pruneOutboxJob, async () => {
    const deleted = await infra.outbox.prune();
    infra.logger.info({ deleted }, 'pruned delivered outbox events');
  });
  infra.jobs.schedule({ job: pruneOutboxJob, cron: '17 3 * * *' });

  infra.gateway.on(
    'system:ping',
    Type.Object({ nonce: Type.Optional(Type.String({ maxLength: 64 })) }, { additionalProperties: false }),
    (_ctx, payload) => ({ nonce: payload.nonce ?? null, serverTime: infra.clock.now().toISOString() }),
    { requiresAuth: false },
  );
  return {};
}
