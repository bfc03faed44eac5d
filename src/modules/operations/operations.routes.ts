import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import type { Infra } from '../../infra/infra.js';
import { AppError } from '../../shared/errors.js';
import { errorResponses, withExamples } from '../../http/schemas.js';

const CheckResult = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('fail'), Type.Literal('disabled')]),
  latencyMs: Type.Optional(Type.Number()),
  error: Type.Optional(Type.String()),
});

const Readiness = withExamples(
  Type.Object({
    status: Type.Union([Type.Literal('ok'), Type.Literal('fail')]),
    checks: Type.Object({ database: CheckResult, redis: CheckResult, jobs: CheckResult }),
  }),
  {
    status: 'ok',
    checks: {
      database: { status: 'ok', latencyMs: 1.8 },
      redis: { status: 'disabled' },
      jobs: { status: 'ok', latencyMs: 2.4 },
    },
  },
);

const CHECK_TIMEOUT_MS = 2_000;

async function check(run: (() => Promise<void>) | undefined): Promise<Static<typeof CheckResult>> {
  if (!run) return { status: 'disabled' };
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      run(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`timed out after ${CHECK_TIMEOUT_MS} ms`)),
          CHECK_TIMEOUT_MS,
        );
      }),
    ]);
    return { status: 'ok', latencyMs: Math.round((performance.now() - started) * 10) / 10 };
  } catch (err) {
    // Only the failure kind is reported: connection strings and hosts stay in the log.
    return {
      status: 'fail',
      error: (err as Error).message.includes('timed out') ? 'timeout' : 'unreachable',
    };
  } finally {
    clearTimeout(timer);
  }
}

function sameSecret(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}

/** Liveness, readiness and Prometheus metrics, for load balancers and monitoring. */
export const operationsRoutes: FastifyPluginAsyncTypebox<{ infra: Infra }> = async (app, { infra }) => {
  app.get(
    '/health/live',
    {
      schema: {
        tags: ['operations'],
        summary: 'The process is up',
        response: { 200: withExamples(Type.Object({ status: Type.Literal('ok') }), { status: 'ok' }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/health/ready',
    {
      schema: {
        tags: ['operations'],
        summary: 'The process can serve: database, Redis (when configured) and job queue reachable',
        description:
          'Answers 503 with the same body when any check fails, so a load balancer takes the node out.',
        response: { 200: Readiness, 503: Readiness },
      },
    },
    async (_request, reply) => {
      const [database, redis, jobs] = await Promise.all([
        check(() => infra.database.ping()),
        check(infra.redis ? async () => void (await infra.redis?.ping()) : undefined),
        check(() => infra.jobs.ping()),
      ]);
      const ok = !infra.lifecycle.draining && [database, redis, jobs].every((c) => c.status !== 'fail');
      if (!ok) infra.logger.warn({ database, redis, jobs }, 'readiness check failed');
      return reply
        .code(ok ? 200 : 503)
        .send({ status: ok ? 'ok' : 'fail', checks: { database, redis, jobs } });
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics',
        description: 'Requires `Authorization: Bearer <METRICS_TOKEN>` when METRICS_TOKEN is set.',
        produces: ['text/plain'],
        response: {
          200: withExamples(
            Type.String(),
            '# HELP http_request_duration_seconds Duration of HTTP requests\n' +
              '# TYPE http_request_duration_seconds histogram\n' +
              'http_request_duration_seconds_bucket{le="0.05",method="GET",route="/v1/events/:id",status="200"} 1024\n',
          ),
          ...errorResponses(401),
        },
      },
    },
    async (request, reply) => {
      const token = infra.config.http.metricsToken;
      if (token && !sameSecret(request.headers.authorization ?? '', `Bearer ${token}`)) {
        throw new AppError('UNAUTHENTICATED');
      }
      return reply.type(infra.metrics.registry.contentType).send(await infra.metrics.registry.metrics());
    },
  );
};
