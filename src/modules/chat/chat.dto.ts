import { Type, type Static, type TSchema } from 'typebox';
import { EXAMPLE, IsoDateTime, Uuid } from '../../http/schemas.js';
import type { ConversationRow, ConversationSummary, MessageWithSender } from './chat.repository.js';

/** Request and response shapes of chat, over HTTP and the socket alike, and the presenters that fill them. */

const nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

/** Examples of the chat routes' bodies, for the OpenAPI document. */
export const CHAT_EXAMPLES = {
  message: {
    id: EXAMPLE.messageId,
    conversationId: EXAMPLE.conversationId,
    seq: 42,
    clientId: '0f3c2a9e-client-1',
    sender: { id: EXAMPLE.userId, nickname: 'runner_kim', avatarUrl: null },
    kind: 'text' as const,
    body: 'See you at exit 2!',
    mediaId: null,
    system: null,
    createdAt: EXAMPLE.now,
    editedAt: null,
    deleted: false,
    changeSeq: 0,
    readCount: 3,
  },
  conversation: {
    id: EXAMPLE.conversationId,
    kind: 'event' as const,
    groupId: null,
    eventId: EXAMPLE.eventId,
    historyVisibility: 'all' as const,
    lastSeq: 42,
    lastChange: 3,
    notice: { text: 'Meet at exit 2, 10 minutes early.', by: EXAMPLE.userId, at: EXAMPLE.now },
    archived: false,
    role: 'member' as const,
    lastReadSeq: 40,
    createdAt: '2026-04-28T11:00:00.000Z',
  },
};

export const Seq = Type.Integer({
  minimum: 0,
  maximum: Number.MAX_SAFE_INTEGER,
  description: 'Message number.',
});
export const ClientId = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[A-Za-z0-9_.:-]+$',
  description:
    'Chosen by the client, unique per message it sends; a retry with the same id returns the same message.',
  examples: ['0f3c2a9e-client-1'],
});
export const MessageBody = Type.String({ minLength: 1, maxLength: 4000, examples: ['See you at exit 2!'] });

export const MessageResponse = Type.Object(
  {
    id: Uuid,
    conversationId: Uuid,
    seq: Type.Integer({ description: 'Position in the conversation: 1, 2, 3… with no gaps.' }),
    clientId: nullable(Type.String()),
    sender: nullable(Type.Object({ id: Uuid, nickname: Type.String(), avatarUrl: nullable(Type.String()) })),
    kind: Type.Enum(['text', 'image', 'system']),
    body: nullable(Type.String({ description: 'Null once deleted, and for system messages.' })),
    mediaId: nullable(Uuid),
    system: nullable(
      Type.Object(
        { type: Type.String(), userId: Type.Optional(Uuid) },
        { description: 'What a system message reports: joined, left, removed, notice_set, notice_cleared.' },
      ),
    ),
    createdAt: IsoDateTime,
    editedAt: nullable(IsoDateTime),
    deleted: Type.Boolean(),
    changeSeq: Type.Integer({ description: 'Change number of the latest edit or deletion; 0 if none.' }),
    readCount: Type.Optional(
      Type.Integer({ description: 'Members other than the sender who have read it.' }),
    ),
  },
  { $id: 'ChatMessage', examples: [CHAT_EXAMPLES.message] },
);
export type MessageView = Static<typeof MessageResponse>;

export function toMessage(m: MessageWithSender, readCount?: number): MessageView {
  return {
    id: m.id,
    conversationId: m.conversationId,
    seq: m.seq,
    clientId: m.clientId,
    sender:
      m.senderId === null
        ? null
        : { id: m.senderId, nickname: m.senderNickname ?? '', avatarUrl: m.senderAvatarUrl },
    kind: m.kind,
    body: m.deletedAt ? null : m.body,
    mediaId: m.deletedAt ? null : m.mediaId,
    system: (m.system as MessageView['system']) ?? null,
    createdAt: m.createdAt.toISOString(),
    editedAt: m.editedAt?.toISOString() ?? null,
    deleted: m.deletedAt !== null,
    changeSeq: m.changeSeq,
    ...(readCount !== undefined ? { readCount } : {}),
  };
}

const Notice = nullable(
  Type.Object(
    { text: Type.String(), by: nullable(Uuid), at: nullable(IsoDateTime) },
    { description: 'The pinned notice.' },
  ),
);

export const ConversationResponse = Type.Object(
  {
    id: Uuid,
    kind: Type.Enum(['group', 'event', 'direct']),
    groupId: nullable(Uuid),
    eventId: nullable(Uuid),
    historyVisibility: Type.Enum(['all', 'since_join']),
    lastSeq: Type.Integer(),
    lastChange: Type.Integer(),
    notice: Notice,
    archived: Type.Boolean({ description: 'The group was deleted or the event cancelled: read-only.' }),
    role: Type.Enum(['member', 'admin']),
    lastReadSeq: Type.Integer(),
    unread: Type.Optional(Type.Integer()),
    lastMessage: Type.Optional(nullable(Type.Ref('ChatMessage'))),
    createdAt: IsoDateTime,
  },
  { $id: 'Conversation', examples: [CHAT_EXAMPLES.conversation] },
);
export type ConversationView = Static<typeof ConversationResponse>;

export function toConversation(
  c: ConversationRow,
  me: { role: 'member' | 'admin'; lastReadSeq: number },
  extra: { unread?: number; lastMessage?: MessageView | null } = {},
): ConversationView {
  return {
    id: c.id,
    kind: c.kind,
    groupId: c.groupId,
    eventId: c.eventId,
    historyVisibility: c.historyVisibility,
    lastSeq: c.lastSeq,
    lastChange: c.lastChange,
    notice: c.noticeText
      ? { text: c.noticeText, by: c.noticeBy, at: c.noticeAt?.toISOString() ?? null }
      : null,
    archived: c.archivedAt !== null,
    role: me.role,
    lastReadSeq: me.lastReadSeq,
    ...extra,
    createdAt: c.createdAt.toISOString(),
  };
}

export function toSummary(s: ConversationSummary): ConversationView {
  return toConversation(s.conversation, s, {
    unread: s.unread,
    lastMessage: s.lastMessage ? toMessage(s.lastMessage) : null,
  });
}
