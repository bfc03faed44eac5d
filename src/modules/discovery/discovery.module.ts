import type { Infra } from '../../infra/infra.js';
import type { GroupDirectory } from '../events/event-access.js';
import { DiscoveryRepository } from './discovery.repository.js';
import { DiscoveryService, type PreferenceSource } from './discovery.service.js';

/** Discovery: reads events for search, the map, "mine" views and recommendations. */
export function createDiscoveryModule(
  infra: Infra,
  deps: { groups: GroupDirectory; preferences: PreferenceSource },
) {
  const repo = new DiscoveryRepository(infra.config.timeZone);
  const service = new DiscoveryService({
    repo,
    db: infra.database.db,
    clock: infra.clock,
    groups: deps.groups,
    preferences: deps.preferences,
    config: infra.config.discovery,
  });
  return { repo, service, clock: infra.clock };
}

export type DiscoveryModule = ReturnType<typeof createDiscoveryModule>;
