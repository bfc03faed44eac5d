import type { Server } from 'node:http';
import { buildApp, type App } from './app.js';
import type { Config } from './config.js';
import { createInfra, type Infra } from './infra/infra.js';
import type { Logger } from './infra/logger.js';
import { SHUTDOWN_CLOSE_GRACE_MS, ShutdownSteps } from './shutdown.js';

export interface RunningServer {
  app: App;
  infra: Infra;
  url: string;
  /** Stops accepting, closes sockets, finishes in-flight requests, then stops jobs, Redis and the database. */
  shutdown(reason: string): Promise<void>;
}

/** Starts an API node: HTTP + Socket.IO, the outbox relay, and (when JOBS_IN_PROCESS) the job workers. */
export async function startServer(config: Config): Promise<RunningServer> {
  const infra = await createInfra(config);
  let app: App;
  try {
    app = await buildApp(infra);
    await infra.jobs.start({ work: config.jobs.inProcess });
    infra.outbox.start();
    await app.listen({ host: config.http.host, port: config.http.port });
    app.modules.presence.start();
    app.modules.chat.searchIndex.start();
    await app.modules.locations.start();
  } catch (err) {
    await infra.close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.http.port;
  const url = `http://${config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host}:${port}`;
  infra.logger.info(
    { url, database: infra.database.kind, redis: Boolean(infra.redis), jobsInProcess: config.jobs.inProcess },
    `Moim is listening on ${url} (API reference at ${url}/docs)`,
  );

  let closing: Promise<void> | undefined;
  const shutdown = (reason: string) => {
    closing ??= (async () => {
      const { logger } = infra;
      const deadline = Date.now() + config.http.shutdownTimeoutMs;
      logger.info({ reason, drainMs: config.http.shutdownDrainMs }, 'shutting down');
      infra.lifecycle.draining = true;
      await new Promise((r) => setTimeout(r, config.http.shutdownDrainMs));
      app.modules.presence.stop();
      app.modules.chat.searchIndex.stop();
      const steps = new ShutdownSteps(logger, deadline);
      await steps.run('location flush', () => app.modules.locations.stop());
      const stopGrace = holdIdleConnections(app.server, SHUTDOWN_GRACE_MS);
      await steps.run('closing connections', () => app.close());
      stopGrace();
      // The database is closed even when the budget is spent: an embedded one must not be left half-closed.
      await steps.run('closing jobs, Redis and the database', () => infra.close(steps.leftMs()), {
        graceMs: SHUTDOWN_CLOSE_GRACE_MS,
      });
      steps.finish();
    })();
    return closing;
  };
  return { app, infra, url, shutdown };
}

/** How long connections with no request yet stay open during shutdown, for a request already on the wire. */
const SHUTDOWN_GRACE_MS = 1_000;

/**
 * `server.close()` stops listening and, on Node 19+, immediately destroys every connection without an active
 * request, including one whose request bytes are still in flight, which the client sees as a reset. This keeps
 * such connections for a grace period (Fastify answers their requests with 503 and `Connection: close`), then
 * closes whatever is still idle. Returns a function that restores the normal behaviour.
 */
function holdIdleConnections(server: Server, graceMs: number): () => void {
  const closeIdle = server.closeIdleConnections.bind(server);
  server.closeIdleConnections = () => undefined;
  let sweep: NodeJS.Timeout | undefined;
  const start = setTimeout(() => {
    closeIdle();
    // Connections that finish their last response become idle; close them as they do.
    sweep = setInterval(closeIdle, 100);
    sweep.unref();
  }, graceMs);
  start.unref();
  return () => {
    clearTimeout(start);
    clearInterval(sweep);
    server.closeIdleConnections = closeIdle;
  };
}

/**
 * SIGTERM/SIGINT start a graceful shutdown; if it has not finished within the configured timeout the process
 * exits anyway, so an orchestrator never has to SIGKILL it. A second signal exits at once.
 */
export function exitOnSignals(
  logger: Logger,
  timeoutMs: number,
  shutdown: (reason: string) => Promise<void>,
): void {
  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    signalled = true;
    const timer = setTimeout(() => {
      logger.error({ timeoutMs }, 'graceful shutdown timed out');
      process.exit(1);
    }, timeoutMs);
    timer.unref();
    shutdown(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
