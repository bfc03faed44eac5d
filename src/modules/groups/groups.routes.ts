import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { actorOf } from '../../http/auth.js';
import { errorResponses, IdParams, Page, PageQuery, Uuid, withExamples } from '../../http/schemas.js';
import { REGIONS } from '../../shared/regions.js';
import type { LoadedGroup } from './group-access.js';
import {
  BanResponse,
  CreateGroupBody,
  DisplayName,
  EXAMPLES,
  GroupResponse,
  InvitationResponse,
  InviteBody,
  InviteLinkResponse,
  JoinRequestResponse,
  MemberResponse,
  MembershipResponse,
  MyGroupResponse,
  MyInvitationResponse,
  toBan,
  toGroup,
  toInvitation,
  toLink,
  toMember,
  toMyGroup,
  toMyInvitation,
  toRequest,
  UpdateGroupBody,
} from './groups.dto.js';
import type { GroupsModule } from './groups.module.js';
import { seesAll } from './groups.policy.js';
import { GROUP_KINDS, type GroupRole } from './groups.schema.js';

const tags = ['groups'];
const GroupUserParams = Type.Object({ id: Uuid, userId: Uuid });
const Token = Type.String({
  minLength: 16,
  maxLength: 128,
  examples: [EXAMPLES.inviteLink.token],
  description: 'The secret of an invite link (sent in the body, so it stays out of URLs and logs).',
});
const DisplayNameBody = withExamples(
  Type.Object(
    { displayName: Type.Optional(Type.Union([DisplayName, Type.Null()])) },
    { additionalProperties: false },
  ),
  { displayName: 'Grandma' },
  {},
);
const NoContent = { 204: Type.Null() };

/**
 * Groups: create, read, edit, delete; joining, requests, leaving; members, roles, ownership; kicks and bans;
 * invitations by person, phone or email; invite links.
 */
export const groupsRoutes: FastifyPluginAsyncTypebox<{ groups: GroupsModule }> = async (app, { groups }) => {
  const { service, invitations } = groups;
  app.addSchema(GroupResponse);
  const GroupRef = Type.Ref('Group');
  const present = async ({ group, viewer }: LoadedGroup) =>
    toGroup(group, viewer, seesAll(group, viewer) ? await service.owner(group) : null);
  const membership = (
    groupId: string,
    status: 'member' | 'requested',
    m?: { role: GroupRole; displayName: string | null },
  ) => ({ groupId, status, role: m?.role ?? null, displayName: m?.displayName ?? null });
  const auth = { auth: 'required' as const };

  app.post(
    '/groups',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Create a group',
        description:
          'The caller becomes its owner and first member (with an optional display name such as "Dad"). ' +
          '`GROUP_CREATE_PER_DAY` per person.',
        body: CreateGroupBody,
        response: { 201: GroupRef, ...errorResponses() },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await present(await service.create(actorOf(request), request.body))),
  );

  app.get(
    '/groups',
    {
      config: { auth: 'optional' },
      schema: {
        tags,
        summary: 'Public groups, newest first',
        description: 'Private groups are never listed.',
        querystring: Type.Object(
          {
            ...PageQuery.properties,
            q: Type.Optional(Type.String({ minLength: 1, maxLength: 60, description: 'Part of the name.' })),
            kind: Type.Optional(Type.Enum([...GROUP_KINDS])),
            tag: Type.Optional(Type.String({ minLength: 1, maxLength: 30 })),
            region: Type.Optional(Type.Enum([...REGIONS])),
          },
          { additionalProperties: false },
        ),
        response: { 200: withExamples(Page(GroupRef), EXAMPLES.publicGroups), ...errorResponses() },
      },
    },
    async (request) => {
      const { cursor, limit, ...filter } = request.query;
      const page = await service.listPublic(filter, cursor, limit ?? 20);
      return { items: page.items.map((g) => toGroup(g, null, null)), nextCursor: page.nextCursor };
    },
  );

  app.get(
    '/me/groups',
    {
      config: auth,
      schema: {
        tags,
        summary: 'My groups',
        description: 'Every group I belong to, latest joined first, with my role and display name.',
        response: {
          200: withExamples(Type.Object({ items: Type.Array(MyGroupResponse) }), EXAMPLES.myGroups),
          ...errorResponses(),
        },
      },
    },
    async (request) => ({ items: (await service.myGroups(actorOf(request))).map(toMyGroup) }),
  );

  app.get(
    '/groups/:id',
    {
      config: { auth: 'optional' },
      schema: {
        tags,
        summary: 'A group',
        description:
          'Private groups answer 404 to everyone but their members and people holding an invitation; the ' +
          'latter get a `preview`.',
        params: IdParams,
        response: { 200: GroupRef, ...errorResponses(404) },
      },
    },
    async (request) => present(await service.get(request.actor, request.params.id)),
  );

  app.patch(
    '/groups/:id',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Edit a group (owner, admins)',
        description:
          'The cap cannot drop below the members there are. Making a group private makes its events private.',
        params: IdParams,
        body: UpdateGroupBody,
        response: { 200: GroupRef, ...errorResponses(403, 404, 409) },
      },
    },
    async (request) => present(await service.update(actorOf(request), request.params.id, request.body)),
  );

  app.delete(
    '/groups/:id',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Delete a group (owner)',
        description:
          'The group disappears (404) for everyone; its upcoming events are cancelled and its conversation ' +
          'archived.',
        params: IdParams,
        response: { ...NoContent, ...errorResponses(403, 404) },
      },
    },
    async (request, reply) => {
      await service.delete(actorOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/groups/:id/members',
    {
      config: { auth: 'optional' },
      schema: {
        tags,
        summary: 'Members, in the order they joined',
        description:
          "A public group's members are public; a private group's are for its members (404 otherwise).",
        params: IdParams,
        querystring: PageQuery,
        response: { 200: withExamples(Page(MemberResponse), EXAMPLES.members), ...errorResponses(404) },
      },
    },
    async (request) => {
      const page = await service.members(
        request.actor,
        request.params.id,
        request.query.cursor,
        request.query.limit ?? 20,
      );
      return { items: page.items.map(toMember), nextCursor: page.nextCursor };
    },
  );

  app.post(
    '/groups/:id/join',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Join, or ask to join',
        description:
          'Open groups take the caller at once while under the cap (409 `GROUP_FULL`); approval groups file a ' +
          'request (`requested`); invite-only groups refuse (403 `INVITATION_REQUIRED`). A pending invitation ' +
          'is accepted. Banned people are refused (403 `BANNED_FROM_GROUP`).',
        params: IdParams,
        body: Type.Object(
          {
            message: Type.Optional(Type.String({ maxLength: 500, description: 'For the admins.' })),
            displayName: Type.Optional(Type.Union([DisplayName, Type.Null()])),
          },
          { additionalProperties: false, examples: [{ message: 'Hello! I run 10K in 55 minutes.' }] },
        ),
        response: { 200: MembershipResponse, ...errorResponses(403, 404, 409) },
      },
    },
    async (request) => {
      const result = await service.join(actorOf(request), request.params.id, request.body ?? {});
      return result.status === 'member'
        ? membership(request.params.id, 'member', result.member)
        : membership(request.params.id, 'requested');
    },
  );

  app.delete(
    '/groups/:id/join-request',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Withdraw my request to join',
        params: IdParams,
        response: { ...NoContent, ...errorResponses(404, 409) },
      },
    },
    async (request, reply) => {
      await service.cancelRequest(actorOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/groups/:id/leave',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Leave a group',
        description: 'The owner must transfer ownership first (409 `OWNER_MUST_TRANSFER`).',
        params: IdParams,
        response: { ...NoContent, ...errorResponses(403, 404, 409) },
      },
    },
    async (request, reply) => {
      await service.leave(actorOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/groups/:id/join-requests',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Pending requests to join (owner, admins)',
        params: IdParams,
        response: {
          200: withExamples(Type.Object({ items: Type.Array(JoinRequestResponse) }), {
            items: [EXAMPLES.joinRequest],
          }),
          ...errorResponses(403, 404),
        },
      },
    },
    async (request) => ({
      items: (await service.requests(actorOf(request), request.params.id)).map(toRequest),
    }),
  );

  for (const decision of ['approve', 'reject'] as const) {
    app.post(
      `/groups/:id/join-requests/:userId/${decision}`,
      {
        config: auth,
        schema: {
          tags,
          summary:
            decision === 'approve'
              ? 'Accept a request to join (owner, admins)'
              : 'Decline a request (owner, admins)',
          description: decision === 'approve' ? 'Within the cap (409 `GROUP_FULL`).' : undefined,
          params: GroupUserParams,
          response: { ...NoContent, ...errorResponses(403, 404, 409) },
        },
      },
      async (request, reply) => {
        await service.decide(
          actorOf(request),
          request.params.id,
          request.params.userId,
          decision === 'approve',
        );
        return reply.code(204).send(null);
      },
    );
  }

  app.patch(
    '/groups/:id/members/:userId',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Change a member: display name, role',
        description:
          'Display name: one’s own, or the owner and admins for members below them (unique in the group, 409 ' +
          '`DISPLAY_NAME_TAKEN`). Role (admin | member): the owner only.',
        params: GroupUserParams,
        body: Type.Object(
          {
            displayName: Type.Optional(Type.Union([DisplayName, Type.Null()])),
            role: Type.Optional(Type.Enum(['admin', 'member'])),
          },
          {
            additionalProperties: false,
            minProperties: 1,
            examples: [{ displayName: 'Grandma' }, { role: 'admin' }],
          },
        ),
        response: { 200: MembershipResponse, ...errorResponses(403, 404, 409) },
      },
    },
    async (request) => {
      const m = await service.updateMember(
        actorOf(request),
        request.params.id,
        request.params.userId,
        request.body,
      );
      return membership(request.params.id, 'member', m);
    },
  );

  app.delete(
    '/groups/:id/members/:userId',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Remove a member (owner, admins)',
        description: 'Admins remove members; the owner removes anyone. They may come back unless banned.',
        params: GroupUserParams,
        response: { ...NoContent, ...errorResponses(403, 404) },
      },
    },
    async (request, reply) => {
      await service.kick(actorOf(request), request.params.id, request.params.userId);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/groups/:id/transfer',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Hand the group over (owner)',
        description: 'To another member; the previous owner stays as an admin.',
        params: IdParams,
        body: Type.Object(
          { userId: Uuid },
          { additionalProperties: false, examples: [{ userId: '5a1d2c3b-0e4f-4a5b-8c6d-7e8f9a0b1c2d' }] },
        ),
        response: { 200: GroupRef, ...errorResponses(403, 404, 409) },
      },
    },
    async (request) =>
      present(await service.transfer(actorOf(request), request.params.id, request.body.userId)),
  );

  app.get(
    '/groups/:id/bans',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Banned people (owner, admins)',
        params: IdParams,
        response: {
          200: withExamples(Type.Object({ items: Type.Array(BanResponse) }), { items: [EXAMPLES.ban] }),
          ...errorResponses(403, 404),
        },
      },
    },
    async (request) => ({ items: (await service.bans(actorOf(request), request.params.id)).map(toBan) }),
  );

  app.post(
    '/groups/:id/bans',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Ban someone (owner, admins)',
        description:
          'Removes them if they are a member (of a lower rank), withdraws their invitation and request; they ' +
          'cannot join, be invited or use a link until unbanned.',
        params: IdParams,
        body: Type.Object(
          { userId: Uuid, reason: Type.Optional(Type.String({ maxLength: 500 })) },
          {
            additionalProperties: false,
            examples: [{ userId: '5a1d2c3b-0e4f-4a5b-8c6d-7e8f9a0b1c2d', reason: 'Spam in the chat' }],
          },
        ),
        response: { ...NoContent, ...errorResponses(403, 404, 409) },
      },
    },
    async (request, reply) => {
      await service.ban(
        actorOf(request),
        request.params.id,
        request.body.userId,
        request.body.reason ?? null,
      );
      return reply.code(204).send(null);
    },
  );

  app.delete(
    '/groups/:id/bans/:userId',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Lift a ban (owner, admins)',
        params: GroupUserParams,
        response: { ...NoContent, ...errorResponses(403, 404, 409) },
      },
    },
    async (request, reply) => {
      await service.unban(actorOf(request), request.params.id, request.params.userId);
      return reply.code(204).send(null);
    },
  );

  // invitations

  app.post(
    '/groups/:id/invitations',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Invite someone (owner, admins)',
        description:
          'By `userId`: 201, or 409 `ALREADY_MEMBER` / `ALREADY_INVITED`, 403 `BANNED_FROM_GROUP`. By `phone` ' +
          'or `email`: always 202 with the same shape, whether or not someone holds the contact (no look-up ' +
          'oracle); the holder, if they may be invited, finds the invitation in their list. ' +
          '`GROUP_CONTACT_INVITES_PER_HOUR` contact invitations per person.',
        params: IdParams,
        body: InviteBody,
        response: { 201: InvitationResponse, 202: InvitationResponse, ...errorResponses(403, 404, 409) },
      },
    },
    async (request, reply) => {
      const { userId, phone, email } = request.body;
      const target = userId ? { userId } : phone ? { phone } : { email: email! };
      const { invitation, byContact } = await invitations.invite(actorOf(request), request.params.id, target);
      return reply.code(byContact ? 202 : 201).send(toInvitation(invitation));
    },
  );

  app.get(
    '/groups/:id/invitations',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Pending invitations (owner, admins)',
        description: 'Invitations by phone or email show the masked contact, never who holds it.',
        params: IdParams,
        response: {
          200: withExamples(Type.Object({ items: Type.Array(InvitationResponse) }), {
            items: [EXAMPLES.invitation, EXAMPLES.phoneInvitation],
          }),
          ...errorResponses(403, 404),
        },
      },
    },
    async (request) => ({
      items: (await invitations.groupInvitations(actorOf(request), request.params.id)).map(toInvitation),
    }),
  );

  app.delete(
    '/groups/:id/invitations/:invitationId',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Withdraw an invitation (owner, admins)',
        params: Type.Object({ id: Uuid, invitationId: Uuid }),
        response: { ...NoContent, ...errorResponses(403, 404, 409) },
      },
    },
    async (request, reply) => {
      await invitations.cancel(actorOf(request), request.params.id, request.params.invitationId);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/me/group-invitations',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Invitations to groups I have received',
        description: 'Pending and unexpired; a private group shows as a preview.',
        response: {
          200: withExamples(Type.Object({ items: Type.Array(MyInvitationResponse) }), {
            items: [EXAMPLES.myInvitation],
          }),
          ...errorResponses(),
        },
      },
    },
    async (request) => {
      const actor = actorOf(request);
      const items = await invitations.myInvitations(actor);
      return {
        items: items.map((i) =>
          toMyInvitation(i, {
            userId: actor.userId,
            member: null,
            banned: false,
            invitation: i,
            request: null,
          }),
        ),
      };
    },
  );

  app.post(
    '/group-invitations/:id/accept',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Accept an invitation to a group',
        description: 'Joins past the join policy, within the cap (409 `GROUP_FULL`), never when banned.',
        params: IdParams,
        body: DisplayNameBody,
        response: { 200: MembershipResponse, ...errorResponses(403, 404, 409) },
      },
    },
    async (request) => {
      const m = await invitations.answer(actorOf(request), request.params.id, true, request.body ?? {});
      return membership(m!.groupId, 'member', m!);
    },
  );

  app.post(
    '/group-invitations/:id/reject',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Decline an invitation to a group',
        params: IdParams,
        response: { ...NoContent, ...errorResponses(404, 409) },
      },
    },
    async (request, reply) => {
      await invitations.answer(actorOf(request), request.params.id, false);
      return reply.code(204).send(null);
    },
  );

  // invite links

  app.post(
    '/groups/:id/invite-links',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Make an invite link (owner, admins)',
        description: 'The `token` is shown once, here; only its hash is kept.',
        params: IdParams,
        body: Type.Object(
          {
            expiresInHours: Type.Optional(
              Type.Integer({ minimum: 1, maximum: 8760, description: 'Default `GROUP_INVITE_LINK_HOURS`.' }),
            ),
            maxUses: Type.Optional(
              Type.Union([Type.Integer({ minimum: 1, maximum: 10_000 }), Type.Null()], {
                description: 'How many people may join with it; null: no limit.',
              }),
            ),
          },
          { additionalProperties: false, examples: [{ expiresInHours: 72, maxUses: 10 }] },
        ),
        response: { 201: InviteLinkResponse, ...errorResponses(403, 404) },
      },
    },
    async (request, reply) => {
      const { link, token } = await invitations.createLink(
        actorOf(request),
        request.params.id,
        request.body ?? {},
      );
      return reply.code(201).send(toLink(link, token));
    },
  );

  app.get(
    '/groups/:id/invite-links',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Live invite links (owner, admins)',
        description: 'Without their secrets.',
        params: IdParams,
        response: {
          200: withExamples(Type.Object({ items: Type.Array(InviteLinkResponse) }), EXAMPLES.inviteLinks),
          ...errorResponses(403, 404),
        },
      },
    },
    async (request) => ({
      items: (await invitations.links(actorOf(request), request.params.id)).map((l) => toLink(l)),
    }),
  );

  app.delete(
    '/groups/:id/invite-links/:linkId',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Revoke an invite link (owner, admins)',
        params: Type.Object({ id: Uuid, linkId: Uuid }),
        response: { ...NoContent, ...errorResponses(403, 404) },
      },
    },
    async (request, reply) => {
      await invitations.revokeLink(actorOf(request), request.params.id, request.params.linkId);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/group-invite-links/preview',
    {
      config: { auth: 'optional' },
      schema: {
        tags,
        summary: 'What an invite link leads to',
        description:
          'A preview of the group (name, kind, size). 404 `INVITE_LINK_INVALID` alike for unknown, expired, ' +
          'used-up and revoked links.',
        body: withExamples(Type.Object({ token: Token }, { additionalProperties: false }), {
          token: EXAMPLES.inviteLink.token,
        }),
        response: { 200: GroupRef, ...errorResponses(404) },
      },
    },
    async (request) => {
      return toGroup(await invitations.preview(request.body.token), null, null);
    },
  );

  app.post(
    '/group-invite-links/join',
    {
      config: auth,
      schema: {
        tags,
        summary: 'Join with an invite link',
        description:
          'Past the join policy and a private group’s walls; never past a ban (403) or the cap (409 ' +
          '`GROUP_FULL`). Each join uses the link once.',
        body: withExamples(
          Type.Object(
            { token: Token, displayName: Type.Optional(Type.Union([DisplayName, Type.Null()])) },
            { additionalProperties: false },
          ),
          { token: EXAMPLES.inviteLink.token, displayName: 'Jisoo' },
          { token: EXAMPLES.inviteLink.token },
        ),
        response: { 200: MembershipResponse, ...errorResponses(403, 404, 409) },
      },
    },
    async (request) => {
      const { group, member } = await invitations.joinByLink(
        actorOf(request),
        request.body.token,
        request.body,
      );
      return membership(group.id, 'member', member);
    },
  );
};
