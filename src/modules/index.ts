import type { FastifyPluginAsync } from 'fastify';
import type { Infra } from '../infra/infra.js';
import { createAccountsModule } from './accounts/accounts.module.js';
import { authRoutes, meRoutes } from './accounts/accounts.routes.js';
import { oauthRoutes } from './accounts/oauth.routes.js';
import { createChatModule } from './chat/chat.module.js';
import { chatRoutes } from './chat/chat.routes.js';
import { createEventsModule } from './events/events.module.js';
import { eventsRoutes } from './events/events.routes.js';
import { devRoutes } from './operations/dev.routes.js';
import { createLocationsModule } from './locations/locations.module.js';
import { locationsRoutes } from './locations/locations.routes.js';
import { createPresenceModule } from './presence/presence.module.js';
import { presenceRoutes } from './presence/presence.routes.js';
import { createOperationsModule } from './operations/operations.module.js';

/**
 * Builds every domain module from the infrastructure ports. Each module registers its job handlers, cron
 * schedules, outbox subscribers and socket events here, so the worker process (which serves no HTTP) wires the
 * same behaviour as an API node. `routes` holds the HTTP routes, mounted under /v1 by the app.
 */
export function createModules(infra: Infra) {
  const operations = createOperationsModule(infra);
  const accounts = createAccountsModule(infra);
  // Until the groups module lands, no group exists: events are standalone.
  const groups = { findGroup: async () => null, membership: async () => null };
  const events = createEventsModule(infra, { groups });
  const chat = createChatModule(infra);
  const presence = createPresenceModule(infra, { chat });
  const locations = createLocationsModule(infra, { groups });

  const routes: FastifyPluginAsync = async (app) => {
    await app.register(authRoutes, { accounts });
    await app.register(meRoutes, { accounts });
    await app.register(oauthRoutes, { accounts });
    await app.register(eventsRoutes, { events });
    await app.register(chatRoutes, { chat });
    await app.register(presenceRoutes, { presence, chat });
    await app.register(locationsRoutes, { locations });
    if (infra.config.env === 'development') await app.register(devRoutes, { infra });
  };

  return { operations, accounts, events, chat, presence, locations, routes };
}

export type Modules = ReturnType<typeof createModules>;
