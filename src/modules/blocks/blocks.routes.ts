import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { actorOf } from '../../http/auth.js';
import { EXAMPLE, errorResponses, IdParams, IsoDateTime, Uuid, withExamples } from '../../http/schemas.js';
import type { BlocksModule } from './blocks.module.js';

const Block = Type.Object(
  { userId: Uuid, blockedAt: IsoDateTime },
  { $id: 'Block', examples: [{ userId: EXAMPLE.otherUserId, blockedAt: EXAMPLE.now }] },
);
const tags = ['blocks'];

/** My blocks: whom I blocked, block, unblock. */
export const blocksRoutes: FastifyPluginAsyncTypebox<{ blocks: BlocksModule }> = async (app, { blocks }) => {
  const { service } = blocks;
  app.addSchema(Block);

  app.get(
    '/me/blocks',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: 'People I blocked',
        description: 'Newest first.',
        response: {
          200: withExamples(Type.Object({ items: Type.Array(Type.Ref('Block')) }), {
            items: [{ userId: EXAMPLE.otherUserId, blockedAt: EXAMPLE.now }],
          }),
          ...errorResponses(401),
        },
      },
    },
    async (request) => ({ items: await service.list(actorOf(request)) }),
  );

  app.put(
    '/me/blocks/:id',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: 'Block someone',
        description:
          'Idempotent. From then on neither of us can open or write a direct conversation with the other ' +
          "(403 USER_BLOCKED), and neither sees the other's presence. Group and event conversations are " +
          'unchanged. 404 for an unknown or deleted user; 400 for yourself.',
        params: IdParams,
        response: { 200: Type.Ref('Block'), ...errorResponses(401, 404) },
      },
    },
    async (request) => service.block(actorOf(request), request.params.id),
  );

  app.delete(
    '/me/blocks/:id',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: 'Unblock someone',
        description: 'Idempotent: unblocking someone not blocked changes nothing.',
        params: IdParams,
        response: { 204: Type.Null(), ...errorResponses(401) },
      },
    },
    async (request, reply) => {
      await service.unblock(actorOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  );
};
