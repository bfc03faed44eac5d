import type { FastifyPluginAsync } from 'fastify';
import type { Infra } from '../infra/infra.js';
import { createAccountsModule } from './accounts/accounts.module.js';
import { authRoutes, meRoutes } from './accounts/accounts.routes.js';
import { oauthRoutes } from './accounts/oauth.routes.js';
import { devRoutes } from './operations/dev.routes.js';
import { createOperationsModule } from './operations/operations.module.js';

/**
 * Builds every domain module from the infrastructure ports. Each module registers its job handlers, cron
 * schedules, outbox subscribers and socket events here, so the worker process (which serves no HTTP) wires the
 * same behaviour as an API node. `routes` holds the HTTP routes, mounted under /v1 by the app.
 */
export function createModules(infra: Infra) {
  const operations = createOperationsModule(infra);
  const accounts = createAccountsModule(infra);

  const routes: FastifyPluginAsync = async (app) => {
    await app.register(authRoutes, { accounts });
    await app.register(meRoutes, { accounts });
    await app.register(oauthRoutes, { accounts });
    if (infra.config.env === 'development') await app.register(devRoutes, { infra });
  };

  return { operations, accounts, routes };
}

export type Modules = ReturnType<typeof createModules>;
