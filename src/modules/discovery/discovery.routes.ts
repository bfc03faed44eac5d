import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { actorOf } from '../../http/auth.js';
import { errorResponses } from '../../http/schemas.js';
import {
  EventCard,
  EventPage,
  MapQuery,
  MineQuery,
  PinsResponse,
  RecommendedQuery,
  RecommendedResponse,
  SearchQuery,
  toCard,
  toPin,
} from './discovery.dto.js';
import type { DiscoveryModule } from './discovery.module.js';

const tags = ['discovery'];

/** Finding events: search, the map, "mine" views, recommendations. */
export const discoveryRoutes: FastifyPluginAsyncTypebox<{ discovery: DiscoveryModule }> = async (
  app,
  { discovery },
) => {
  const { service, clock } = discovery;
  app.addSchema(EventCard);

  app.get(
    '/events',
    {
      config: { auth: 'optional' },
      schema: {
        tags,
        summary: 'Search and list events',
        description:
          'Public events (and, with `groupId`, that group’s events for its members), upcoming unless `from` ' +
          'says otherwise, cancelled ones never. Filters combine with AND; a filter given several values ' +
          'matches any of them. Keyset pages: pass `nextCursor` back as `cursor` with the same filters and ' +
          'sort; a cursor used with other filters is refused (400).',
        querystring: SearchQuery,
        response: { 200: EventPage, ...errorResponses(404) },
      },
    },
    async (request) => {
      const page = await service.search(request.actor, request.query);
      const now = clock.now();
      return { items: page.items.map((r) => toCard(r, now)), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/events/map',
    {
      config: { auth: 'optional' },
      schema: {
        tags,
        summary: 'Map pins in a circle or a box',
        description:
          'Light pins for the events search would list (same filters), nearest to the centre first, at most ' +
          '`DISCOVERY_MAP_MAX_PINS`; `truncated` tells when more matched. Needs lat, lng (and radiusKm), or bbox.',
        querystring: MapQuery,
        response: { 200: PinsResponse, ...errorResponses(404) },
      },
    },
    async (request) => {
      const pins = await service.map(request.actor, request.query);
      return { items: pins.items.map(toPin), truncated: pins.truncated };
    },
  );

  app.get(
    '/me/events',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: 'My events: hosting, going, waitlisted, invited, past',
        querystring: MineQuery,
        response: { 200: EventPage, ...errorResponses(401) },
      },
    },
    async (request) => {
      const { view, ...page } = request.query;
      const result = await service.mine(actorOf(request), view, page);
      const now = clock.now();
      return { items: result.items.map((r) => toCard(r, now)), nextCursor: result.nextCursor };
    },
  );

  app.get(
    '/me/events/recommended',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: 'Open events recommended for me',
        description:
          'Ranked by my preferred region, course length and interests (tags and themes), set with ' +
          '`PATCH /v1/me`; near a point when lat/lng are given. Events I host or take part in, and those of ' +
          'groups that banned me, are left out. ' +
          'Without preferences: the soonest open events.',
        querystring: RecommendedQuery,
        response: { 200: RecommendedResponse, ...errorResponses(401) },
      },
    },
    async (request) => {
      const result = await service.recommended(actorOf(request), request.query);
      const now = clock.now();
      return { items: result.items.map((r) => toCard(r, now)), basedOn: result.basedOn };
    },
  );
};
