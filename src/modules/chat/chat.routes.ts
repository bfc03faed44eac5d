import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { actorOf } from '../../http/auth.js';
import { EXAMPLE, errorResponses, IdParams, Uuid, withExamples } from '../../http/schemas.js';
import {
  CHAT_EXAMPLES,
  ClientId,
  ConversationResponse,
  MessageBody,
  MessageResponse,
  Seq,
  toConversation,
  toSummary,
} from './chat.dto.js';
import type { ChatModule } from './chat.module.js';

const tags = ['chat'];
const MessageParams = Type.Object({ id: Uuid, messageId: Uuid });
const MessageRef = Type.Ref('ChatMessage');
const ConversationRef = Type.Ref('Conversation');
const Messages = withExamples(Type.Object({ items: Type.Array(MessageRef), hasMore: Type.Boolean() }), {
  items: [CHAT_EXAMPLES.message],
  hasMore: true,
});
const Sent = withExamples(Type.Object({ message: MessageRef, duplicate: Type.Boolean() }), {
  message: CHAT_EXAMPLES.message,
  duplicate: false,
});
const Member = Type.Object({
  user: Type.Object({
    id: Uuid,
    nickname: Type.String(),
    avatarUrl: Type.Union([Type.String(), Type.Null()]),
  }),
  role: Type.Enum(['member', 'admin']),
  lastReadSeq: Type.Integer(),
});

/**
 * Chat over HTTP: the same service as the socket events, for clients that are not connected (or that prefer
 * REST for history). Sending here is idempotent by client id too.
 */
export const chatRoutes: FastifyPluginAsyncTypebox<{ chat: ChatModule }> = async (app, { chat: module }) => {
  const { chat, membership } = module;
  app.addSchema(MessageResponse);
  app.addSchema(ConversationResponse);
  const auth = { auth: 'required' as const };

  app.get(
    '/conversations',
    {
      config: auth,
      schema: {
        tags,
        summary: 'My conversations, latest activity first',
        description: 'With unread counts (others’ messages after my read position) and the latest message.',
        response: {
          200: withExamples(Type.Object({ items: Type.Array(ConversationRef) }), {
            items: [{ ...CHAT_EXAMPLES.conversation, unread: 2, lastMessage: CHAT_EXAMPLES.message }],
          }),
          ...errorResponses(),
        },
      },
    },
    async (request) => ({ items: (await chat.list(actorOf(request))).map(toSummary) }),
  );

  app.post(
    '/conversations/direct',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Open the direct conversation with someone',
        description:
          'Made on first use; the same conversation afterwards. 403 USER_BLOCKED when either of you has ' +
          'blocked the other (PUT /v1/me/blocks/{id}).',
        body: withExamples(Type.Object({ userId: Uuid }, { additionalProperties: false }), {
          userId: EXAMPLE.otherUserId,
        }),
        response: { 200: ConversationRef, ...errorResponses(403, 404) },
      },
    },
    async (request) => {
      const actor = actorOf(request);
      const conversation = await membership.openDirect(actor, request.body.userId);
      const { member } = await chat.access(conversation.id, actor.userId);
      return toConversation(conversation, member);
    },
  );

  app.get(
    '/events/:id/conversation',
    {
      config: auth,
      schema: {
        tags,
        summary: "An event's conversation",
        description: 'For the people going (the host included); 404 for everyone else.',
        params: IdParams,
        response: { 200: ConversationRef, ...errorResponses(404) },
      },
    },
    async (request) => {
      const { conversation, member } = await chat.forScope(actorOf(request), { eventId: request.params.id });
      return toConversation(conversation, member);
    },
  );

  app.get(
    '/groups/:id/conversation',
    {
      config: auth,
      schema: {
        tags,
        summary: "A group's conversation",
        description: 'For the members of the group; 404 for everyone else.',
        params: IdParams,
        response: { 200: ConversationRef, ...errorResponses(404) },
      },
    },
    async (request) => {
      const { conversation, member } = await chat.forScope(actorOf(request), { groupId: request.params.id });
      return toConversation(conversation, member);
    },
  );

  app.get(
    '/conversations/:id',
    {
      config: auth,
      schema: {
        tags,
        summary: 'A conversation and its members',
        params: IdParams,
        response: {
          200: withExamples(Type.Object({ conversation: ConversationRef, members: Type.Array(Member) }), {
            conversation: CHAT_EXAMPLES.conversation,
            members: [
              {
                user: { id: EXAMPLE.userId, nickname: 'runner_kim', avatarUrl: null },
                role: 'admin',
                lastReadSeq: 42,
              },
              {
                user: { id: EXAMPLE.otherUserId, nickname: 'jisoo_runs', avatarUrl: null },
                role: 'member',
                lastReadSeq: 40,
              },
            ],
          }),
          ...errorResponses(404),
        },
      },
    },
    async (request) => {
      const { conversation, member, members } = await chat.get(actorOf(request), request.params.id);
      return {
        conversation: toConversation(conversation, member),
        members: members.map((m) => ({
          user: { id: m.userId, nickname: m.nickname, avatarUrl: m.avatarUrl },
          role: m.role,
          lastReadSeq: m.lastReadSeq,
        })),
      };
    },
  );

  app.patch(
    '/conversations/:id',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Change who sees the history (admins)',
        description: '`since_join`: members see only messages sent after they joined.',
        params: IdParams,
        body: withExamples(
          Type.Object(
            { historyVisibility: Type.Enum(['all', 'since_join']) },
            { additionalProperties: false },
          ),
          { historyVisibility: 'since_join' },
        ),
        response: { 200: ConversationRef, ...errorResponses(403, 404) },
      },
    },
    async (request) => {
      const actor = actorOf(request);
      const conversation = await chat.setHistoryVisibility(
        actor,
        request.params.id,
        request.body.historyVisibility,
      );
      const { member } = await chat.access(conversation.id, actor.userId);
      return toConversation(conversation, member);
    },
  );

  app.get(
    '/conversations/:id/messages',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Message history',
        description:
          'Oldest first. With `beforeSeq` (or nothing): the page before it (the latest page). With `afterSeq`: ' +
          'the page after it (not both: 400 `VALIDATION_FAILED`). Each message carries `readCount`.',
        params: IdParams,
        querystring: Type.Object({
          beforeSeq: Type.Optional(Seq),
          afterSeq: Type.Optional(Seq),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
        }),
        response: { 200: Messages, ...errorResponses(404) },
      },
    },
    async (request) => {
      const { beforeSeq, afterSeq, limit } = request.query;
      const page = await chat.history(actorOf(request), request.params.id, {
        ...(beforeSeq !== undefined ? { beforeSeq } : {}),
        ...(afterSeq !== undefined ? { afterSeq } : {}),
        limit: limit ?? 50,
      });
      return { items: page.messages, hasMore: page.hasMore };
    },
  );

  app.get(
    '/conversations/:id/sync',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Catch up after being away',
        description:
          'Every message after `afterSeq` (at most 200; `hasMore` says to call again from the last one) and the ' +
          'messages up to `afterSeq` edited or deleted after change `sinceChange`. The same as the `chat:sync` ' +
          'socket event.',
        params: IdParams,
        querystring: Type.Object({ afterSeq: Seq, sinceChange: Type.Optional(Seq) }),
        response: {
          200: withExamples(
            Type.Object({
              messages: Type.Array(MessageRef),
              changes: Type.Array(MessageRef),
              lastSeq: Type.Integer(),
              lastChange: Type.Integer(),
              hasMore: Type.Boolean(),
            }),
            {
              messages: [CHAT_EXAMPLES.message],
              changes: [
                {
                  ...CHAT_EXAMPLES.message,
                  id: '9b8a7f6e-5d4c-4b3a-8291-0f1e2d3c4b5a',
                  seq: 39,
                  body: null,
                  deleted: true,
                  changeSeq: 3,
                },
              ],
              lastSeq: 42,
              lastChange: 3,
              hasMore: false,
            },
          ),
          ...errorResponses(404),
        },
      },
    },
    async (request) => {
      const { afterSeq, sinceChange } = request.query;
      return chat.sync(actorOf(request), request.params.id, {
        afterSeq,
        ...(sinceChange !== undefined ? { sinceChange } : {}),
      });
    },
  );

  app.post(
    '/conversations/:id/messages',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Send a message',
        description:
          'Stored, numbered and then delivered to the members’ sockets. A retry with the same `clientId` returns ' +
          'the message already made (200, `duplicate: true`) instead of a second one (201). In a direct ' +
          'conversation, 403 USER_BLOCKED while either person has blocked the other.',
        params: IdParams,
        body: withExamples(
          Type.Object({ clientId: ClientId, body: MessageBody }, { additionalProperties: false }),
          { clientId: '0f3c2a9e-client-1', body: 'See you at exit 2!' },
        ),
        response: {
          200: withExamples(Sent, { message: CHAT_EXAMPLES.message, duplicate: true }),
          201: Sent,
          ...errorResponses(403, 404, 409),
        },
      },
    },
    async (request, reply) => {
      const result = await chat.send(actorOf(request), request.params.id, request.body);
      return reply.code(result.duplicate ? 200 : 201).send(result);
    },
  );

  app.patch(
    '/conversations/:id/messages/:messageId',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Edit my message',
        description:
          'Text messages only, my own. 403 `USER_BLOCKED` in a direct conversation while either person has ' +
          'blocked the other; 409 `CONVERSATION_ARCHIVED` once the conversation is closed.',
        params: MessageParams,
        body: withExamples(Type.Object({ body: MessageBody }, { additionalProperties: false }), {
          body: 'See you at exit 3 instead!',
        }),
        response: { 200: MessageRef, ...errorResponses(403, 404, 409) },
      },
    },
    async (request) =>
      chat.edit(actorOf(request), request.params.id, request.params.messageId, request.body.body),
  );

  app.delete(
    '/conversations/:id/messages/:messageId',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Delete a message',
        description: 'Leaves a tombstone. The sender deletes their own; admins anyone’s.',
        params: MessageParams,
        response: { 200: MessageRef, ...errorResponses(403, 404, 409) },
      },
    },
    async (request) => chat.remove(actorOf(request), request.params.id, request.params.messageId),
  );

  app.post(
    '/conversations/:id/read',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Mark read up to a message',
        description: 'Moves my read position forward (never back), no further than the last message.',
        params: IdParams,
        body: withExamples(Type.Object({ seq: Seq }, { additionalProperties: false }), { seq: 42 }),
        response: {
          200: withExamples(Type.Object({ lastReadSeq: Type.Integer() }), { lastReadSeq: 42 }),
          ...errorResponses(404),
        },
      },
    },
    async (request) => ({
      lastReadSeq: await chat.markRead(actorOf(request), request.params.id, request.body.seq),
    }),
  );

  app.put(
    '/conversations/:id/notice',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Pin the notice (admins)',
        description: 'One notice per conversation; everyone sees a system message.',
        params: IdParams,
        body: withExamples(
          Type.Object(
            { text: Type.String({ minLength: 1, maxLength: 1000 }) },
            { additionalProperties: false },
          ),
          { text: 'Meet at exit 2, 10 minutes early.' },
        ),
        response: { 200: ConversationRef, ...errorResponses(403, 404, 409) },
      },
    },
    async (request) => {
      const actor = actorOf(request);
      const conversation = await chat.setNotice(actor, request.params.id, request.body.text);
      const { member } = await chat.access(conversation.id, actor.userId);
      return toConversation(conversation, member);
    },
  );

  app.delete(
    '/conversations/:id/notice',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Unpin the notice (admins)',
        params: IdParams,
        response: { 200: ConversationRef, ...errorResponses(403, 404, 409) },
      },
    },
    async (request) => {
      const actor = actorOf(request);
      const conversation = await chat.setNotice(actor, request.params.id, null);
      const { member } = await chat.access(conversation.id, actor.userId);
      return toConversation(conversation, member);
    },
  );

  app.get(
    '/conversations/:id/search',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Search a conversation',
        description: 'Messages containing `q`, newest first; page with `beforeSeq`.',
        params: IdParams,
        querystring: Type.Object({
          q: Type.String({ minLength: 1, maxLength: 100 }),
          beforeSeq: Type.Optional(Seq),
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 50, default: 20 })),
        }),
        response: {
          200: withExamples(Type.Object({ items: Type.Array(MessageRef) }), {
            items: [CHAT_EXAMPLES.message],
          }),
          ...errorResponses(404),
        },
      },
    },
    async (request) => {
      const { q, beforeSeq, limit } = request.query;
      return {
        items: await chat.search(actorOf(request), request.params.id, {
          q,
          ...(beforeSeq !== undefined ? { beforeSeq } : {}),
          limit: limit ?? 20,
        }),
      };
    },
  );
};
