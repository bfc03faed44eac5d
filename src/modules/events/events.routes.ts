import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { actorOf } from '../../http/auth.js';
import { EXAMPLE, errorResponses, IdParams, IsoDateTime, Uuid, withExamples } from '../../http/schemas.js';
import {
  AttendanceSheet,
  CreateEventBody,
  EventResponse,
  EXAMPLES,
  InvitationResponse,
  Lat,
  Lng,
  MembershipResponse,
  MyInvitationResponse,
  ParticipantResponse,
  RatingResponse,
  Reason,
  ReputationResponse,
  toEvent,
  toInvitation,
  toMyInvitation,
  toParticipant,
  toRating,
  toReputation,
  UpdateEventBody,
} from './events.dto.js';
import type { EventsModule } from './events.module.js';
import { canManage } from './events.policy.js';

const EventUserParams = Type.Object({ id: Uuid, userId: Uuid });
const tags = ['events'];

/** Events: create, read, edit, cancel; taking part; invitations; roster; attendance; ratings. */
export const eventsRoutes: FastifyPluginAsyncTypebox<{ events: EventsModule }> = async (app, { events }) => {
  const { service, participation, attendance } = events;
  app.addSchema(EventResponse);
  const present = async (loaded: Parameters<typeof service.withHost>[0]) => {
    const { event, viewer, host, now } = await service.withHost(loaded);
    return toEvent(event, host, viewer, now);
  };
  const EventRef = Type.Ref('Event');

  app.post(
    '/events',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: 'Create an event',
        description:
          'The caller becomes the host and takes the first seat. With `groupId`, the caller must be a member; ' +
          'events of a private group are private. The start must be at least `EVENT_MIN_LEAD_MINUTES` ahead ' +
          '(per kind). One creation per 10 seconds and `EVENT_CREATE_PER_DAY` a day per person.',
        body: CreateEventBody,
        response: { 201: EventRef, ...errorResponses(403, 404, 409) },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await present(await service.create(actorOf(request), request.body))),
  );

  app.get(
    '/events/:id',
    {
      config: { auth: 'optional' },
      schema: {
        tags,
        summary: 'An event',
        description: 'Private events answer 404 to anyone who may not see them.',
        params: IdParams,
        response: { 200: EventRef, ...errorResponses(404) },
      },
    },
    async (request) => present(await service.get(request.actor, request.params.id)),
  );

  app.patch(
    '/events/:id',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: 'Edit an event (host)',
        description:
          'Until the start, unless the roster is locked. The capacity cannot drop below the people going; ' +
          'added seats go to the waitlist first. Everyone taking part is told what changed.',
        params: IdParams,
        body: UpdateEventBody,
        response: { 200: EventRef, ...errorResponses(403, 404, 409) },
      },
    },
    async (request) => present(await service.update(actorOf(request), request.params.id, request.body)),
  );

  app.delete(
    '/events/:id',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: 'Cancel an event (host)',
        description: 'Before the start. The event stays readable, as cancelled, for those involved.',
        params: IdParams,
        response: { 204: Type.Null(), ...errorResponses(403, 404, 409) },
      },
    },
    async (request, reply) => {
      await service.cancel(actorOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/events/:id/join',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: 'Join or apply',
        description:
          'Takes a free seat, or a place on the waitlist when full (409 `EVENT_FULL` when the waitlist is ' +
          'off). With host approval, files an application (`pending`). A pending invitation is accepted. ' +
          'Someone banned from the event’s group gets 403 `BANNED_FROM_GROUP`, public events included.',
        params: IdParams,
        body: withExamples(
          Type.Object(
            { message: Type.Optional(Type.String({ maxLength: 500, description: 'For the host.' })) },
            { additionalProperties: false },
          ),
          { message: 'First 10K for me; I can keep 6:30 per km.' },
        ),
        response: { 200: MembershipResponse, ...errorResponses(403, 404, 409) },
      },
    },
    async (request) => {
      const row = await participation.join(actorOf(request), request.params.id, request.body);
      return { eventId: row.eventId, status: row.status };
    },
  );

  app.post(
    '/events/:id/leave',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: 'Cancel my participation',
        description: 'The host cannot leave. A freed seat goes to the first person on the waitlist.',
        params: IdParams,
        response: { 204: Type.Null(), ...errorResponses(404, 409) },
      },
    },
    async (request, reply) => {
      await participation.leave(actorOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/events/:id/participants',
    {
      config: { auth: 'optional' },
      schema: {
        tags,
        summary: 'Who takes part',
        description:
          'The going list for anyone who can see the event; the host also sees the waitlist and applications.',
        params: IdParams,
        response: {
          200: withExamples(Type.Object({ items: Type.Array(ParticipantResponse) }), EXAMPLES.participants),
          ...errorResponses(404),
        },
      },
    },
    async (request) => {
      const { event, viewer, participants } = await participation.participants(
        request.actor,
        request.params.id,
      );
      const hostView = canManage(event, viewer);
      return { items: participants.map((p) => toParticipant(p, hostView)) };
    },
  );

  for (const decision of ['approve', 'reject'] as const) {
    app.post(
      `/events/:id/applications/:userId/${decision}`,
      {
        config: { auth: 'required' },
        schema: {
          tags,
          summary: decision === 'approve' ? 'Accept an application (host)' : 'Decline an application (host)',
          params: EventUserParams,
          response: { 200: MembershipResponse, ...errorResponses(403, 404, 409) },
        },
      },
      async (request) => {
        const row = await participation.decide(
          actorOf(request),
          request.params.id,
          request.params.userId,
          decision === 'approve',
        );
        return { eventId: row.eventId, status: row.status };
      },
    );
  }

  app.delete(
    '/events/:id/participants/:userId',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: 'Remove a participant (host)',
        description: 'They cannot rejoin unless invited again. Not after the start or once locked.',
        params: EventUserParams,
        response: { 204: Type.Null(), ...errorResponses(403, 404, 409) },
      },
    },
    async (request, reply) => {
      await participation.kick(actorOf(request), request.params.id, request.params.userId);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/events/:id/invitations',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: 'Invite someone (host)',
        description:
          'One pending invitation per person; not for people already taking part, nor for someone banned from ' +
          'the event’s group (403 `BANNED_FROM_GROUP`).',
        params: IdParams,
        body: withExamples(Type.Object({ userId: Uuid }, { additionalProperties: false }), {
          userId: EXAMPLE.otherUserId,
        }),
        response: { 201: InvitationResponse, ...errorResponses(403, 404, 409) },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(
          toInvitation(await participation.invite(actorOf(request), request.params.id, request.body.userId)),
        ),
  );

  app.get(
    '/events/:id/invitations',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: 'Pending invitations of an event (host)',
        params: IdParams,
        response: {
          200: withExamples(Type.Object({ items: Type.Array(InvitationResponse) }), {
            items: [EXAMPLES.invitation],
          }),
          ...errorResponses(403, 404),
        },
      },
    },
    async (request) => ({
      items: (await participation.eventInvitations(actorOf(request), request.params.id)).map(toInvitation),
    }),
  );

  app.delete(
    '/events/:id/invitations/:invitationId',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: 'Withdraw an invitation (host)',
        description:
          'The invitee is told (`event.invitation_cancelled`). 409 when already answered or withdrawn.',
        params: Type.Object({ id: Uuid, invitationId: Uuid }),
        response: { 204: Type.Null(), ...errorResponses(403, 404, 409) },
      },
    },
    async (request, reply) => {
      await participation.cancelInvitation(actorOf(request), request.params.id, request.params.invitationId);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/me/event-invitations',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: 'Invitations to upcoming events waiting for my answer',
        response: {
          200: withExamples(Type.Object({ items: Type.Array(MyInvitationResponse) }), {
            items: [EXAMPLES.myInvitation],
          }),
          ...errorResponses(),
        },
      },
    },
    async (request) => ({ items: (await participation.myInvitations(actorOf(request))).map(toMyInvitation) }),
  );

  for (const answer of ['accept', 'reject'] as const) {
    app.post(
      `/event-invitations/:id/${answer}`,
      {
        config: { auth: 'required' },
        schema: {
          tags,
          summary: answer === 'accept' ? 'Accept an invitation' : 'Decline an invitation',
          description:
            answer === 'accept'
              ? 'Takes a seat, or the waitlist when full, even when the event needs approval. 403 ' +
                '`BANNED_FROM_GROUP` for someone banned from the event’s group.'
              : undefined,
          params: IdParams,
          response: { 204: Type.Null(), ...errorResponses(...(answer === 'accept' ? [403] : []), 404, 409) },
        },
      },
      async (request, reply) => {
        await participation.answerInvitation(actorOf(request), request.params.id, answer === 'accept');
        return reply.code(204).send(null);
      },
    );
  }

  app.post(
    '/events/:id/confirm',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: 'Confirm the roster',
        description:
          'Each person going confirms; the host confirms last, which locks the event against edits, joins, ' +
          'leaves, kicks and invitations (409 `ROSTER_NOT_CONFIRMED` while others have not). The lock declines ' +
          'pending applications, clears the waitlist and withdraws pending invitations, telling each person.',
        params: IdParams,
        response: {
          200: withExamples(
            Type.Object({
              locked: Type.Boolean(),
              unconfirmed: Type.Integer({ description: 'People going who have not confirmed yet.' }),
            }),
            { locked: false, unconfirmed: 2 },
          ),
          ...errorResponses(404, 409),
        },
      },
    },
    async (request) => participation.confirm(actorOf(request), request.params.id),
  );

  app.get(
    '/events/:id/attendance',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: 'Attendance sheet (host)',
        params: IdParams,
        response: { 200: AttendanceSheet, ...errorResponses(403, 404) },
      },
    },
    async (request) => {
      const sheet = await attendance.sheet(actorOf(request), request.params.id);
      return {
        opensAt: sheet.opensAt.toISOString(),
        closesAt: sheet.closesAt.toISOString(),
        participants: sheet.participants.map((p) => ({
          user: { id: p.userId, nickname: p.nickname, avatarUrl: p.avatarUrl },
          attendance: p.attendance,
          markedBy: p.attendanceBy,
        })),
      };
    },
  );

  app.put(
    '/events/:id/attendance',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: 'Mark attendance (host)',
        description:
          'By user id, from 30 minutes before the start until `ATTENDANCE_GRACE_MINUTES` after the end. Marks ' +
          'can be corrected while the window is open.',
        params: IdParams,
        body: withExamples(
          Type.Object(
            {
              marks: Type.Array(
                Type.Object({ userId: Uuid, present: Type.Boolean() }, { additionalProperties: false }),
                { minItems: 1, maxItems: 1000 },
              ),
            },
            { additionalProperties: false },
          ),
          {
            marks: [
              { userId: EXAMPLE.otherUserId, present: true },
              { userId: EXAMPLE.userId, present: false },
            ],
          },
        ),
        response: { 204: Type.Null(), ...errorResponses(403, 404, 409) },
      },
    },
    async (request, reply) => {
      await attendance.mark(actorOf(request), request.params.id, request.body.marks);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/events/:id/check-in',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: 'Check myself in',
        description: 'Within `CHECKIN_RADIUS_METERS` of the meeting point, while attendance is open.',
        params: IdParams,
        body: withExamples(Type.Object({ lat: Lat, lng: Lng }, { additionalProperties: false }), {
          lat: 37.5284,
          lng: 126.9327,
        }),
        response: {
          200: withExamples(
            Type.Object({
              distanceM: Type.Integer(),
              attendance: Type.Union([Type.Literal('present'), Type.Literal('absent')]),
            }),
            { distanceM: 14, attendance: 'present' },
          ),
          ...errorResponses(404, 409),
        },
      },
    },
    async (request) => attendance.checkIn(actorOf(request), request.params.id, request.body),
  );

  app.post(
    '/events/:id/ratings',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: 'Rate the host, or an attendee (host)',
        description:
          'After the end, within `RATING_WINDOW_DAYS`. An attendee who was marked present rates the host once; ' +
          'the host rates each attendee once. The reason must be one of the ten for the ratee role: host — ' +
          'good_course, good_leading, quick_replies, helpful_info, punctual / bad_course, poor_leading, ' +
          'slow_replies, misleading_info, late; attendee — punctual, friendly, kept_pace, well_prepared, ' +
          'team_player / late, unfriendly, held_back_group, unprepared, disruptive.',
        params: IdParams,
        body: withExamples(
          Type.Object(
            {
              userId: Uuid,
              verdict: Type.Union([Type.Literal('good'), Type.Literal('bad')]),
              reason: Reason,
            },
            { additionalProperties: false },
          ),
          { userId: EXAMPLE.userId, verdict: 'good', reason: 'good_course' },
        ),
        response: { 201: RatingResponse, ...errorResponses(403, 404, 409) },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .send(toRating(await attendance.rate(actorOf(request), request.params.id, request.body))),
  );

  app.get(
    '/events/:id/ratings/mine',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: 'Whom I may still rate for this event, and what I gave',
        params: IdParams,
        response: {
          200: withExamples(
            Type.Object({
              canRate: Type.Array(Uuid),
              given: Type.Array(RatingResponse),
              opensAt: IsoDateTime,
              closesAt: IsoDateTime,
            }),
            {
              canRate: [],
              given: [EXAMPLES.rating],
              opensAt: EXAMPLE.endsAt,
              closesAt: '2026-05-16T12:00:00.000Z',
            },
          ),
          ...errorResponses(404),
        },
      },
    },
    async (request) => {
      const r = await attendance.myRatings(actorOf(request), request.params.id);
      return {
        canRate: r.canRate,
        given: r.given.map(toRating),
        opensAt: r.opensAt.toISOString(),
        closesAt: r.closesAt.toISOString(),
      };
    },
  );

  app.get(
    '/users/:id/reputation',
    {
      config: { auth: 'optional' },
      schema: {
        tags: ['users'],
        summary: "A person's manner score, rating reasons and hosting history",
        description: 'Computed by the server from attendance and ratings alone.',
        params: IdParams,
        response: { 200: ReputationResponse, ...errorResponses(404) },
      },
    },
    async (request) => toReputation(await attendance.reputation(request.params.id)),
  );
};
