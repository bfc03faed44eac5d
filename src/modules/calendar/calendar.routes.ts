import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { actorOf } from '../../http/auth.js';
import { errorResponses, IdParams, Uuid } from '../../http/schemas.js';
import {
  ColorBody,
  ColorResponse,
  CreateFeedBody,
  DateParam,
  DayResponse,
  FeedFileParams,
  FeedListResponse,
  FeedResponse,
  FeedSecretResponse,
  MonthParam,
  MonthResponse,
  toDay,
  toFeed,
  toFeedWithSecret,
  toMonth,
} from './calendar.dto.js';
import type { CalendarModule } from './calendar.module.js';

const tags = ['calendar'];
const FEED_EXAMPLE = [
  'BEGIN:VCALENDAR',
  `PRODID:-//Moim//Moim Calendar 1.0//EN`,
  'VERSION:2.0',
  'BEGIN:VEVENT',
  'UID:6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b@moim',
  'DTSTAMP:20260501T090000Z',
  'SEQUENCE:2',
  'DTSTART:20260503T100000Z',
  'DTEND:20260503T120000Z',
  'SUMMARY:Han River 10K\\, easy pace',
  'LOCATION:여의나루역 2번 출구',
  'GEO:37.5283;126.9326',
  'STATUS:CONFIRMED',
  'END:VEVENT',
  'END:VCALENDAR',
  '',
].join('\r\n');

/** Month views and day details (mine, a group's), my colours, and private iCalendar feeds. */
export const calendarRoutes: FastifyPluginAsyncTypebox<{ calendar: CalendarModule }> = async (
  app,
  { calendar },
) => {
  const { service, feeds } = calendar;
  app.addSchema(MonthResponse);
  app.addSchema(DayResponse);
  app.addSchema(FeedResponse);

  app.get(
    '/me/calendar/months/:month',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: 'My month',
        description:
          'Every event I host, go to, am waitlisted or applied for, per day of the month in the schedule time ' +
          'zone, with counts and compact entries marked with my part. Past months stay available.',
        params: Type.Object({ month: MonthParam }),
        response: { 200: Type.Ref('CalendarMonth'), ...errorResponses() },
      },
    },
    async (request) => toMonth(await service.month(actorOf(request), { kind: 'me' }, request.params.month)),
  );

  app.get(
    '/me/calendar/days/:date',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: 'My day',
        description: 'The events of my calendar overlapping the day, with time, place, status and my part.',
        params: Type.Object({ date: DateParam }),
        response: { 200: Type.Ref('CalendarDay'), ...errorResponses() },
      },
    },
    async (request) => toDay(await service.day(actorOf(request), { kind: 'me' }, request.params.date)),
  );

  app.get(
    '/groups/:id/calendar/months/:month',
    {
      config: { auth: 'optional' },
      schema: {
        tags,
        summary: "A group's month",
        description:
          "The group's events per day. Members see all of them; for a public group, everyone else sees its " +
          'public events; a private group answers 404 to non-members.',
        params: Type.Object({ id: Uuid, month: MonthParam }),
        response: { 200: Type.Ref('CalendarMonth'), ...errorResponses(404) },
      },
    },
    async (request) =>
      toMonth(
        await service.month(
          request.actor,
          { kind: 'group', groupId: request.params.id },
          request.params.month,
        ),
      ),
  );

  app.get(
    '/groups/:id/calendar/days/:date',
    {
      config: { auth: 'optional' },
      schema: {
        tags,
        summary: "A group's day",
        description:
          "The group's events overlapping the day, hosts shown by the name they go by in the group. Same " +
          'visibility as the month view.',
        params: Type.Object({ id: Uuid, date: DateParam }),
        response: { 200: Type.Ref('CalendarDay'), ...errorResponses(404) },
      },
    },
    async (request) =>
      toDay(
        await service.day(request.actor, { kind: 'group', groupId: request.params.id }, request.params.date),
      ),
  );

  app.put(
    '/me/calendar/events/:id/color',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: 'My colour for an event',
        description:
          'Shown to me only, in place of the host’s colour (which the host sets by editing the event). Any ' +
          'event I can see.',
        params: IdParams,
        body: ColorBody,
        response: { 200: ColorResponse, ...errorResponses(404) },
      },
    },
    async (request) => calendar.service.setColor(actorOf(request), request.params.id, request.body.color),
  );

  app.delete(
    '/me/calendar/events/:id/color',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: 'Back to the host’s colour',
        params: IdParams,
        response: { 200: ColorResponse, ...errorResponses(404) },
      },
    },
    async (request) => calendar.service.setColor(actorOf(request), request.params.id, null),
  );

  app.get(
    '/me/calendar/feeds',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: 'My calendar feeds',
        description: 'Without their URLs, which are shown only on creation and rotation.',
        response: { 200: FeedListResponse, ...errorResponses() },
      },
    },
    async (request) => ({ items: (await feeds.list(actorOf(request))).map(toFeed) }),
  );

  app.post(
    '/me/calendar/feeds',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: 'Create a private iCalendar feed',
        description:
          'My own calendar, or (with `groupId`) a group I belong to as I see it. Each member gets a URL of ' +
          'their own, so rotating one breaks no one else’s. One feed per calendar: 409 ' +
          '`CALENDAR_FEED_EXISTS` (with its id) when I have it already; rotate it instead.',
        body: CreateFeedBody,
        response: { 201: FeedSecretResponse, ...errorResponses(403, 404, 409) },
      },
    },
    async (request, reply) =>
      reply.code(201).send(toFeedWithSecret(await feeds.create(actorOf(request), request.body))),
  );

  app.post(
    '/me/calendar/feeds/:id/rotate',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: 'A new URL for a feed',
        description: 'The old URL answers 404 from now on.',
        params: IdParams,
        response: { 200: FeedSecretResponse, ...errorResponses(403, 404) },
      },
    },
    async (request) => toFeedWithSecret(await feeds.rotate(actorOf(request), request.params.id)),
  );

  app.delete(
    '/me/calendar/feeds/:id',
    {
      config: { auth: 'required' },
      schema: {
        tags,
        summary: 'Revoke a feed',
        description: 'Its URL answers 404 from now on.',
        params: IdParams,
        response: { 204: Type.Null(), ...errorResponses(404) },
      },
    },
    async (request, reply) => {
      await feeds.revoke(actorOf(request), request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/calendar/feeds/:file',
    {
      schema: {
        tags,
        summary: 'An iCalendar feed (secret URL)',
        description:
          'For calendar apps: no Authorization header, the secret in the URL is the credential. RFC 5545 text ' +
          'with times in UTC; cancelled events stay, as STATUS:CANCELLED, and SEQUENCE grows with each edit. ' +
          'Answers 304 to a matching If-None-Match. 404 for an unknown, rotated or revoked URL, a deleted ' +
          'account, or a group the owner has left; `CALENDAR_FEED_FETCHES_PER_HOUR` fetches an hour per feed.',
        params: FeedFileParams,
        response: {
          200: {
            description: 'The calendar.',
            content: { 'text/calendar': { schema: Type.String(), example: FEED_EXAMPLE } },
          },
          304: { description: 'Unchanged since the ETag given in If-None-Match.', ...Type.Null() },
          ...errorResponses(404),
        },
      },
    },
    async (request, reply) => {
      const { body, etag } = await feeds.render(request.params.file, request.ip);
      void reply.headers({
        etag,
        // The URL is a credential: shared caches must not keep the answer, the client may for a few minutes.
        'cache-control': 'private, max-age=300',
        'x-robots-tag': 'noindex, nofollow',
      });
      if (matches(request.headers['if-none-match'], etag)) return reply.code(304).send(null);
      return reply.type('text/calendar; charset=utf-8').send(body);
    },
  );
};

/** If-None-Match (a list, weak or strong, or `*`) against a strong ETag, by the weak comparison of RFC 9110. */
function matches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''))
    .some((t) => t === '*' || t === etag);
}
