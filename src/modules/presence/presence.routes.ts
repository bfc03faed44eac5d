import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { actorOf } from '../../http/auth.js';
import { EXAMPLE, errorResponses, IdParams, IsoDateTime, Uuid, withExamples } from '../../http/schemas.js';
import type { ChatModule } from '../chat/chat.module.js';
import type { PresenceModule } from './presence.module.js';

const Presence = Type.Object(
  {
    userId: Uuid,
    online: Type.Boolean({ description: 'Connected on at least one device, on any node.' }),
    lastSeenAt: Type.Union([IsoDateTime, Type.Null()], {
      description: 'When last connected or disconnected.',
    }),
  },
  { $id: 'Presence', examples: [{ userId: EXAMPLE.userId, online: true, lastSeenAt: EXAMPLE.now }] },
);
const tags = ['presence'];

/** Presence over HTTP: one person's, or a conversation's members'. Only for people who share a group or event. */
export const presenceRoutes: FastifyPluginAsyncTypebox<{
  presence: PresenceModule;
  chat: ChatModule;
}> = async (app, { presence, chat }) => {
  app.addSchema(Presence);
  app.get(
    '/users/:id/presence',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: "Someone's presence",
        description: 'Online now, and last seen. 404 unless the caller shares a group or an event with them.',
        params: IdParams,
        response: { 200: Type.Ref('Presence'), ...errorResponses(404) },
      },
    },
    async (request) => presence.service.one(actorOf(request).userId, request.params.id),
  );

  app.get(
    '/conversations/:id/presence',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: "A conversation's members, online or not",
        description:
          'For a group or event conversation: who of its members is online (a family: who is home).',
        params: IdParams,
        response: {
          200: withExamples(Type.Object({ items: Type.Array(Type.Ref('Presence')) }), {
            items: [
              { userId: EXAMPLE.userId, online: true, lastSeenAt: EXAMPLE.now },
              { userId: EXAMPLE.otherUserId, online: false, lastSeenAt: '2026-04-30T22:41:00.000Z' },
            ],
          }),
          ...errorResponses(404),
        },
      },
    },
    async (request) => {
      const actor = actorOf(request);
      const { members } = await chat.chat.get(actor, request.params.id);
      return {
        items: await presence.service.of(
          actor.userId,
          members.map((m) => m.userId),
        ),
      };
    },
  );
};
