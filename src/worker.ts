import type { Config } from './config.js';
import { createInfra, type Infra } from './infra/infra.js';
import { createModules } from './modules/index.js';
import { SHUTDOWN_CLOSE_GRACE_MS, ShutdownSteps } from './shutdown.js';

/**
 * A worker process: the same modules as an API node, but it serves no HTTP; it runs the job handlers, the cron
 * scheduler and the outbox relay. Run one or more beside the API nodes with JOBS_IN_PROCESS=false on the nodes.
 */
export async function startWorker(
  config: Config,
): Promise<{ infra: Infra; shutdown(reason: string): Promise<void> }> {
  const infra = await createInfra(config);
  try {
    createModules(infra);
    await infra.jobs.start({ work: true });
    infra.outbox.start();
  } catch (err) {
    await infra.close();
    throw err;
  }
  infra.logger.info({ database: infra.database.kind }, 'Moim worker started');
  let closing: Promise<void> | undefined;
  return {
    infra,
    /**
     * Within SHUTDOWN_TIMEOUT_MS, as an API node's: the relay's pass and the running jobs get what is left of it
     * (jobs still running then are handed back to pg-boss, which runs them again later), and the close of the
     * database 1.5 s more. Past that the process exits 0 all the same, naming what it left unfinished.
     */
    shutdown(reason) {
      closing ??= (async () => {
        const steps = new ShutdownSteps(infra.logger, Date.now() + config.http.shutdownTimeoutMs);
        infra.logger.info({ reason }, 'worker shutting down');
        infra.lifecycle.draining = true;
        await steps.run(
          'closing the relay, jobs, Redis and the database',
          () => infra.close(steps.leftMs()),
          {
            graceMs: SHUTDOWN_CLOSE_GRACE_MS,
          },
        );
        steps.finish();
      })();
      return closing;
    },
  };
}
