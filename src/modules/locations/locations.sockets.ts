import { Type } from 'typebox';
import { Uuid } from '../../http/schemas.js';
import { socketActor, type Gateway } from '../../realtime/gateway.js';
import type { LiveMapService } from './live-map.service.js';
import { StartShareBody, SubscribeBody, SubscriptionId, UpdateBody } from './locations.dto.js';
import type { LocationService } from './locations.service.js';

const strict = { additionalProperties: false } as const;

/**
 * Live location over the socket. Updates are the hot path (one per second per sharing person): the handler
 * does no I/O beyond, every few seconds, reading the person's shares. The gateway's own per-socket limit on
 * updates is loose; the one-per-second rule is per person and answered with LOCATION_RATE_LIMITED.
 */
export function registerLocationSockets(
  gateway: Gateway,
  locations: LocationService,
  maps: LiveMapService,
): void {
  gateway.on(
    'location:share_start',
    StartShareBody,
    async (ctx, p) => ({ share: await locations.startShare(socketActor(ctx), p) }),
    { rateLimit: { limit: 5, windowMs: 10_000 } },
  );
  gateway.on(
    'location:share_stop',
    Type.Object({ shareId: Uuid }, strict),
    async (ctx, p) => ({ share: await locations.stopShare(socketActor(ctx), p.shareId) }),
    { rateLimit: { limit: 10, windowMs: 10_000 } },
  );
  gateway.on(
    'location:update',
    UpdateBody,
    async (ctx, p) => ({ shares: await locations.update(ctx.socket.data.userId!, p.lat, p.lng) }),
    { rateLimit: { limit: 5, windowMs: 1_000 } },
  );
  gateway.on(
    'location:subscribe',
    SubscribeBody,
    (ctx, p) => maps.subscribe(ctx.socket, socketActor(ctx).userId, p.layer),
    { rateLimit: { limit: 10, windowMs: 10_000 } },
  );
  gateway.on(
    'location:unsubscribe',
    Type.Object({ subscriptionId: SubscriptionId }, strict),
    (ctx, p) => {
      maps.unsubscribe(ctx.socket, p.subscriptionId);
      return {};
    },
    { rateLimit: { limit: 10, windowMs: 10_000 } },
  );
  gateway.onDisconnect((socket) => maps.dropSocket(socket.id));
}
