import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { actorOf } from '../../http/auth.js';
import { errorResponses, IdParams, Page, PageQuery } from '../../http/schemas.js';
import { AccessLogEntry, ShareResponse, StartShareBody } from './locations.dto.js';
import type { LocationsModule } from './locations.module.js';

const tags = ['location'];
const ShareRef = Type.Ref('LocationShare');

/**
 * Location shares and the access log over HTTP. Positions themselves go over the socket (`location:update`),
 * and so do maps (`location:subscribe`): see docs/realtime.md.
 */
export const locationsRoutes: FastifyPluginAsyncTypebox<{ locations: LocationsModule }> = async (
  app,
  { locations: module },
) => {
  const { service } = module;
  app.addSchema(ShareResponse);
  app.addSchema(AccessLogEntry);
  const auth = { auth: 'required' as const };

  app.post(
    '/me/location/shares',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Start sharing my location',
        description:
          'With an audience (an event I am going to, from 30 min before its start to its end; a group I belong ' +
          'to; or the nearby layer, never exact), a precision, and an end. Replaces my active share for the ' +
          'same audience. Positions are then sent over the socket (`location:update`).',
        body: StartShareBody,
        response: { 201: ShareRef, ...errorResponses(404, 409) },
      },
    },
    async (request, reply) => {
      const share = await service.startShare(actorOf(request), request.body);
      return reply.code(201).send(share);
    },
  );

  app.get(
    '/me/location/shares',
    {
      config: auth,
      schema: {
        tags,
        summary: 'My location shares',
        description: 'Active ones first, then the latest 100 ended ones.',
        response: { 200: Type.Object({ items: Type.Array(ShareRef) }), ...errorResponses() },
      },
    },
    async (request) => ({ items: await service.listShares(actorOf(request)) }),
  );

  app.delete(
    '/me/location/shares/:id',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Stop a location share',
        description:
          'At once: from this answer on, nobody receives this share’s position. Stopping a share that already ' +
          'ended answers it as it is.',
        params: IdParams,
        response: { 200: ShareRef, ...errorResponses(404) },
      },
    },
    async (request) => service.stopShare(actorOf(request), request.params.id),
  );

  app.get(
    '/me/location/access-log',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Who received my position',
        description:
          'Every delivery of my position to someone else, counted per viewer and share over short spans, newest ' +
          'first; kept LOCATION_ACCESS_LOG_DAYS days.',
        querystring: PageQuery,
        response: { 200: Page(Type.Ref('LocationAccess')), ...errorResponses() },
      },
    },
    async (request) =>
      service.accessLog(actorOf(request), {
        ...(request.query.cursor !== undefined ? { cursor: request.query.cursor } : {}),
        limit: request.query.limit ?? 20,
      }),
  );
};
