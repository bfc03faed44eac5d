import fs from 'node:fs';
import { ConfigError, loadConfig, type Config } from './config.js';
import { openDatabase } from './infra/db/database.js';
import { DataDirLockedError } from './infra/db/pglite-lock.js';
import { createLogger } from './infra/logger.js';
import { createInfra, databaseOptions } from './infra/infra.js';
import { createModules } from './modules/index.js';
import { seed } from './seed.js';
import { exitOnSignals, startServer } from './server.js';
import { startWorker } from './worker.js';

const USAGE = `Usage: moim <command>

Commands:
  start     Run an API node (HTTP + Socket.IO; job workers too unless JOBS_IN_PROCESS=false)
  worker    Run job workers, cron schedules and the outbox relay without serving HTTP
  migrate   Apply database migrations and exit
  seed      Create demo users (and their data) to try the API with
  help      Show this text

Configuration comes from environment variables; see .env.example.`;

async function migrateCommand(config: Config): Promise<void> {
  const logger = createLogger(config);
  const database = await openDatabase(databaseOptions(config, 2));
  try {
    await database.migrate();
    logger.info({ database: database.kind }, 'migrations applied');
  } finally {
    await database.close();
  }
}

async function main(argv: string[]): Promise<void> {
  const command = argv[0] ?? 'start';
  if (command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  // A .env file in the working directory fills in variables the environment does not already set.
  if (fs.existsSync('.env')) process.loadEnvFile('.env');
  const config = loadConfig();
  switch (command) {
    case 'start': {
      const server = await startServer(config);
      exitOnSignals(server.infra.logger, config.http.shutdownTimeoutMs + 2_000, (reason) =>
        server.shutdown(reason),
      );
      return;
    }
    case 'worker': {
      const worker = await startWorker(config);
      exitOnSignals(worker.infra.logger, config.http.shutdownTimeoutMs + 2_000, (reason) =>
        worker.shutdown(reason),
      );
      return;
    }
    case 'migrate':
      await migrateCommand(config);
      return;
    case 'seed': {
      const infra = await createInfra(config);
      try {
        const modules = createModules(infra);
        for (const line of await seed(infra, modules)) process.stdout.write(`${line}\n`);
      } finally {
        await infra.close();
      }
      return;
    }
    default:
      console.error(`Unknown command "${command}".\n\n${USAGE}`);
      process.exitCode = 2;
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof DataDirLockedError) {
    console.error(err.message);
  } else {
    console.error('Moim failed to start:', err);
  }
  process.exit(1);
});
