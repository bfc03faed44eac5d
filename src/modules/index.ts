import type { FastifyPluginAsync } from 'fastify';
import type { Infra } from '../infra/infra.js';
import { createAccountsModule } from './accounts/accounts.module.js';
import { authRoutes, meRoutes } from './accounts/accounts.routes.js';
import { oauthRoutes } from './accounts/oauth.routes.js';
import { createBlocksModule } from './blocks/blocks.module.js';
import { blocksRoutes } from './blocks/blocks.routes.js';
import { createCalendarModule } from './calendar/calendar.module.js';
import { calendarRoutes } from './calendar/calendar.routes.js';
import { createChatModule } from './chat/chat.module.js';
import { chatRoutes } from './chat/chat.routes.js';
import { createDiscoveryModule } from './discovery/discovery.module.js';
import { discoveryRoutes } from './discovery/discovery.routes.js';
import { createEventsModule } from './events/events.module.js';
import { eventsRoutes } from './events/events.routes.js';
import { contactDirectory } from './groups/contacts.js';
import { createGroupsModule } from './groups/groups.module.js';
import { groupsRoutes } from './groups/groups.routes.js';
import { devRoutes } from './operations/dev.routes.js';
import { createLocationsModule } from './locations/locations.module.js';
import { locationsRoutes } from './locations/locations.routes.js';
import { createPresenceModule } from './presence/presence.module.js';
import { presenceRoutes } from './presence/presence.routes.js';
import { createOperationsModule } from './operations/operations.module.js';
import { createReactionsModule } from './reactions/reactions.module.js';
import { reactionsRoutes } from './reactions/reactions.routes.js';

/**
 * Builds every domain module from the infrastructure ports. Each module registers its job handlers, cron
 * schedules, outbox projections and subscribers and socket events here, so the worker process (which serves no HTTP) wires the
 * same behaviour as an API node. `routes` holds the HTTP routes, mounted under /v1 by the app.
 */
export function createModules(infra: Infra) {
  const operations = createOperationsModule(infra);
  const accounts = createAccountsModule(infra);
  const groups = createGroupsModule(infra, { contacts: contactDirectory(infra, accounts) });
  const events = createEventsModule(infra, { groups: groups.directory });
  const calendar = createCalendarModule(infra, { groups: groups.directory, events });
  const discovery = createDiscoveryModule(infra, {
    groups: groups.directory,
    preferences: {
      async preferences(userId) {
        const user = await accounts.repo.findUserById(infra.database.db, userId);
        return user
          ? { region: user.preferredRegion, distanceKm: user.preferredDistanceKm, interests: user.interests }
          : null;
      },
    },
  });
  const reactions = createReactionsModule(infra, { events, groups: groups.directory });
  const blocks = createBlocksModule(infra, { accounts });
  const chat = createChatModule(infra, { blocks: blocks.service });
  const presence = createPresenceModule(infra, { chat, blocks: blocks.service });
  const locations = createLocationsModule(infra, { groups: groups.directory });

  const routes: FastifyPluginAsync = async (app) => {
    await app.register(authRoutes, { accounts });
    await app.register(meRoutes, { accounts });
    await app.register(oauthRoutes, { accounts });
    await app.register(groupsRoutes, { groups });
    await app.register(eventsRoutes, { events });
    await app.register(calendarRoutes, { calendar });
    await app.register(discoveryRoutes, { discovery });
    await app.register(reactionsRoutes, { reactions });
    await app.register(chatRoutes, { chat });
    await app.register(blocksRoutes, { blocks });
    await app.register(presenceRoutes, { presence, chat });
    await app.register(locationsRoutes, { locations });
    if (infra.config.env === 'development') await app.register(devRoutes, { infra });
  };

  return {
    operations,
    accounts,
    groups,
    events,
    calendar,
    discovery,
    reactions,
    chat,
    blocks,
    presence,
    locations,
    routes,
  };
}

export type Modules = ReturnType<typeof createModules>;
