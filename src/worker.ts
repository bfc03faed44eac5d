import type { Config } from './config.js';
import { createInfra, type Infra } from './infra/infra.js';
import { createModules } from './modules/index.js';

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
    shutdown(reason) {
      closing ??= (async () => {
        infra.logger.info({ reason }, 'worker shutting down');
        await infra.close();
      })();
      return closing;
    },
  };
}
