// Office-hours power's chat commands, the seed's grammar, registered on the one command router
// (src/chat/router.ts) for every door (Slack, JANDI, Teams, the page's console):
//
//   <schedule> status | info [date] | exception info [date] | exception set <date> <start|stop> <h:m>
//   <schedule> exception del <date> <start|stop> | force_start | force_stop
//
// Permission keys: `power.exception` (exception set/del) and `power.force` (force_start/stop), per platform, room
// and user (slack/jandi/teams.permissions). Replies in English or Korean.

import { type Catalogue, type Locale, translator } from '../../chat/messages.ts';
import { escapeMrkdwn, textReply } from '../../chat/reply.ts';
import { CommandAnswer, CommandRefusal, type CommandRouter } from '../../chat/router.ts';
import { ValidationError } from '../../kernel/errors.ts';
import { formatLocal, formatLocalTime } from '../../kernel/time.ts';
import type { DayException, PowerState } from './model.ts';
import { formatMinutes } from './periods.ts';
import { isLocalDate } from './schedule.ts';
import { type PowerService, WindowHoldsError } from './service.ts';

type Key =
  | 'status'
  | 'statusLine'
  | 'window'
  | 'noNext'
  | 'next'
  | 'noResources'
  | 'lastError'
  | 'info'
  | 'periods'
  | 'noPeriods'
  | 'exception'
  | 'noException'
  | 'runs'
  | 'notRunning'
  | 'exceptions'
  | 'noExceptions'
  | 'exceptionLine'
  | 'set'
  | 'deleted'
  | 'notDeleted'
  | 'forced'
  | 'forcedUntil'
  | 'forcedForever'
  | 'refusedWindow'
  | 'badDate'
  | 'badWhat'
  | 'badTime'
  | 'needs'
  | 'running'
  | 'stopped'
  | 'start'
  | 'stop';

export const POWER_MESSAGES: Catalogue<Key> = {
  en: {
    status: '*{schedule}* ({zone}): {count} resources',
    statusLine:
      '• *{resource}* ({kind}): AWS {observed} ({status}) · wanted {desired} ({reason}{window}) · {next}',
    window: ': window {windows}',
    noNext: 'no change ahead',
    next: 'next: {state} at {at}',
    noResources: 'No resources use *{schedule}*.',
    lastError: '   last error: {error}',
    info: '*{schedule}* on {date} ({zone})',
    periods: 'Periods: {list}',
    noPeriods: 'Periods: none that day',
    exception: 'Exception: {what}',
    noException: 'Exception: none',
    runs: 'Runs: {list}',
    notRunning: 'Runs: not at all',
    exceptions: '*{schedule}* exceptions ({zone})',
    noExceptions: '*{schedule}* has no exceptions{from}.',
    exceptionLine: '• {date}: {what}',
    set: 'Exception set: *{schedule}* on {date} {what}. Runs that day: {runs}.',
    deleted: 'Exception removed: *{schedule}* on {date}, {what}. Runs that day: {runs}.',
    notDeleted: '*{schedule}* has no {what} exception on {date}.',
    forced: '{verb} *{schedule}*: {resources}. {until} I will say here when they are {state}.',
    forcedUntil: 'Held until its next change, {at}.',
    forcedForever: 'Held until changed again (the schedule has no change ahead).',
    refusedWindow: 'Not stopped: {message}',
    badDate: '"{value}" is not a date; write YYYY-MM-DD (e.g. 2026-12-24)',
    badWhat: '"{value}": say start or stop',
    badTime: '"{value}" is not a time of day; write h:m from 0:00 to 23:59 (e.g. 15:00)',
    needs: 'needs {what}',
    running: 'running',
    stopped: 'stopped',
    start: 'starts at {time}',
    stop: 'stops at {time}',
  },
  ko: {
    status: '*{schedule}* ({zone}): 리소스 {count}개',
    statusLine:
      '• *{resource}* ({kind}): AWS {observed} ({status}) · 목표 {desired} ({reason}{window}) · {next}',
    window: ': 윈도 {windows}',
    noNext: '예정된 변경 없음',
    next: '다음: {at}에 {state}',
    noResources: '*{schedule}* 일정을 쓰는 리소스가 없습니다.',
    lastError: '   최근 오류: {error}',
    info: '*{schedule}* {date} ({zone})',
    periods: '기간: {list}',
    noPeriods: '기간: 그날은 없음',
    exception: '예외: {what}',
    noException: '예외: 없음',
    runs: '실행: {list}',
    notRunning: '실행: 없음',
    exceptions: '*{schedule}* 예외 ({zone})',
    noExceptions: '*{schedule}* 에 예외가 없습니다{from}.',
    exceptionLine: '• {date}: {what}',
    set: '예외 설정: *{schedule}* {date} {what}. 그날 실행: {runs}.',
    deleted: '예외 삭제: *{schedule}* {date}, {what}. 그날 실행: {runs}.',
    notDeleted: '*{schedule}* 에 {date} {what} 예외가 없습니다.',
    forced: '*{schedule}* {verb}: {resources}. {until} {state} 상태가 되면 이 방에 알려 드립니다.',
    forcedUntil: '다음 일정 변경({at})까지 유지됩니다.',
    forcedForever: '다시 바꿀 때까지 유지됩니다 (예정된 일정 변경 없음).',
    refusedWindow: '중지하지 않았습니다: {message}',
    badDate: '"{value}" 은(는) 날짜가 아닙니다. YYYY-MM-DD 로 쓰세요 (예: 2026-12-24)',
    badWhat: '"{value}": start 또는 stop 으로 쓰세요',
    badTime: '"{value}" 은(는) 시각이 아닙니다. 0:00 부터 23:59 사이의 h:m 으로 쓰세요 (예: 15:00)',
    needs: '{what} 이(가) 필요합니다',
    running: '실행',
    stopped: '중지',
    start: '{time} 시작',
    stop: '{time} 중지',
  },
};

const STATE_WORDS: Record<Locale, Record<string, string>> = {
  en: { running: 'running', stopped: 'stopped', starting: 'starting', stopping: 'stopping', busy: 'busy' },
  ko: { running: '실행 중', stopped: '중지됨', starting: '시작 중', stopping: '중지 중', busy: '작업 중' },
};
const REASONS: Record<Locale, Record<string, string>> = {
  en: { schedule: 'schedule', exception: 'exception', forced: 'forced', window: 'capacity window' },
  ko: { schedule: '일정', exception: '예외', forced: '강제', window: '용량 윈도' },
};

function word(locale: Locale, state: string): string {
  return STATE_WORDS[locale][state] ?? state;
}

/** `15:00`, `9:5` → minutes after midnight; null when it is not a time of day. */
export function parseHm(text: string): number | null {
  const m = /^(\d{1,2}):(\d{1,2})$/.exec(text.trim());
  if (!m) return null;
  const h = Number(m[1]);
  const min = Number(m[2]);
  return h <= 23 && min <= 59 ? h * 60 + min : null;
}

function describeException(e: DayException, locale: Locale): string {
  const t = translator(POWER_MESSAGES, locale);
  const parts: string[] = [];
  if (e.start !== undefined) parts.push(t('start', { time: formatMinutes(e.start) }));
  if (e.stop !== undefined) parts.push(t('stop', { time: formatMinutes(e.stop) }));
  return parts.join(', ');
}

export function registerPowerCommands(router: CommandRouter, service: PowerService): CommandRouter {
  const values = { schedule: () => Object.keys(service.config.schedules) };
  const zoneOf = (s: string) => service.schedule(s).timezone;
  const runsText = async (schedule: string, date: string) => {
    const info = await service.info(schedule, date);
    const zone = info.timezone;
    return info.running.length === 0
      ? '—'
      : info.running
          .map((r) => `${formatLocalTime(r.from, zone)}–${formatLocalTime(r.until, zone)}`)
          .join(', ');
  };
  const date = (value: string | undefined, locale: Locale): string | undefined => {
    if (value === undefined) return undefined;
    if (!isLocalDate(value))
      throw new CommandRefusal(translator(POWER_MESSAGES, locale)('badDate', { value }));
    return value;
  };

  router.command('<schedule> status', {
    values,
    run: async (_input, ctx) => {
      const t = translator(POWER_MESSAGES, ctx.locale);
      const schedule = ctx.words.schedule!;
      const { resources } = await service.status(schedule);
      const zone = zoneOf(schedule);
      if (resources.length === 0) return [textReply(t('noResources', { schedule: escapeMrkdwn(schedule) }))];
      const lines = [t('status', { schedule: escapeMrkdwn(schedule), zone, count: resources.length })];
      for (const r of resources) {
        lines.push(
          t('statusLine', {
            resource: escapeMrkdwn(r.resource),
            kind: r.kind.toUpperCase(),
            observed: word(ctx.locale, r.observed),
            status: escapeMrkdwn(r.observedStatus),
            desired: word(ctx.locale, r.desired),
            reason: REASONS[ctx.locale][r.reason] ?? r.reason,
            window: r.windows.length > 0 ? t('window', { windows: r.windows.join(', ') }) : '',
            next: r.next
              ? t('next', { state: word(ctx.locale, r.next.state), at: formatLocal(r.next.at, zone) })
              : t('noNext'),
          }),
        );
        if (r.lastError) lines.push(t('lastError', { error: escapeMrkdwn(r.lastError) }));
      }
      return { replies: [textReply(lines.join('\n'))], target: schedule };
    },
    usage: {
      syntax: '<schedule> status',
      example: 'office-hours status',
      about: {
        en: 'Each resource of a schedule: its state on AWS, the state wanted now, and the next change.',
        ko: '일정의 리소스마다 AWS 상태, 지금 목표 상태, 다음 변경을 보여 줍니다.',
      },
    },
  });

  router.command('<schedule> info', {
    values,
    args: 1,
    parse: (args, ctx) => ({ date: date(args.positionals[0], ctx.locale) }),
    run: async (input, ctx) => {
      const t = translator(POWER_MESSAGES, ctx.locale);
      const schedule = ctx.words.schedule!;
      const info = await service.info(schedule, input.date);
      const zone = info.timezone;
      const lines = [t('info', { schedule: escapeMrkdwn(schedule), date: info.date, zone })];
      lines.push(
        info.periods.length > 0
          ? t('periods', { list: info.periods.map((p) => `${p.from}–${p.until}`).join(', ') })
          : t('noPeriods'),
      );
      lines.push(
        info.exception
          ? t('exception', { what: describeException(info.exception, ctx.locale) })
          : t('noException'),
      );
      lines.push(
        info.running.length > 0
          ? t('runs', {
              list: info.running
                .map((r) => `${formatLocal(r.from, zone)}–${formatLocalTime(r.until, zone)}`)
                .join(', '),
            })
          : t('notRunning'),
      );
      return { replies: [textReply(lines.join('\n'))], target: schedule };
    },
    usage: {
      syntax: '<schedule> info [YYYY-MM-DD]',
      example: 'office-hours info 2026-12-24',
      about: {
        en: "A day's periods and exception, in the schedule's time zone (default today).",
        ko: '하루의 기간과 예외를 일정의 시간대로 보여 줍니다 (기본: 오늘).',
      },
    },
  });

  router.command('<schedule> exception info', {
    values,
    args: 1,
    parse: (args, ctx) => ({ date: date(args.positionals[0], ctx.locale) }),
    run: async (input, ctx) => {
      const t = translator(POWER_MESSAGES, ctx.locale);
      const schedule = ctx.words.schedule!;
      const list = await service.exceptions(schedule, input.date);
      if (list.length === 0) {
        const from = input.date ? ` (${input.date})` : '';
        return { replies: [textReply(t('noExceptions', { schedule: escapeMrkdwn(schedule), from }))] };
      }
      const lines = [t('exceptions', { schedule: escapeMrkdwn(schedule), zone: zoneOf(schedule) })];
      for (const e of list)
        lines.push(t('exceptionLine', { date: e.date, what: describeException(e, ctx.locale) }));
      return { replies: [textReply(lines.join('\n'))], target: schedule };
    },
    usage: {
      syntax: '<schedule> exception info [YYYY-MM-DD]',
      example: 'office-hours exception info',
      about: {
        en: "A day's exception, or every exception from today on.",
        ko: '하루의 예외, 또는 오늘부터의 모든 예외를 보여 줍니다.',
      },
    },
  });

  const what = (value: string | undefined, locale: Locale): 'start' | 'stop' => {
    const t = translator(POWER_MESSAGES, locale);
    if (value === undefined) throw new CommandRefusal(t('needs', { what: 'start|stop' }));
    const v = value.toLowerCase();
    if (v !== 'start' && v !== 'stop') throw new CommandRefusal(t('badWhat', { value }));
    return v;
  };

  router.command('<schedule> exception set', {
    values,
    args: 3,
    parse: (args, ctx) => {
      const t = translator(POWER_MESSAGES, ctx.locale);
      const [d, w, time] = args.positionals;
      if (d === undefined) throw new CommandRefusal(t('needs', { what: '<date> <start|stop> <h:m>' }));
      const field = what(w, ctx.locale);
      if (time === undefined) throw new CommandRefusal(t('needs', { what: '<h:m>' }));
      const minutes = parseHm(time);
      if (minutes === null) throw new CommandRefusal(t('badTime', { value: time }));
      return { date: date(d, ctx.locale)!, field, minutes };
    },
    run: async (input, ctx) => {
      const t = translator(POWER_MESSAGES, ctx.locale);
      const schedule = ctx.words.schedule!;
      const by = ctx.event.user.name ?? ctx.event.user.id;
      const e = await service.setException(
        schedule,
        input.date,
        input.field,
        input.minutes,
        `${ctx.event.platform}:${by}`,
      );
      const runs = await runsText(schedule, input.date);
      return {
        replies: [
          textReply(
            t('set', {
              schedule: escapeMrkdwn(schedule),
              date: e.date,
              what: describeException(e, ctx.locale),
              runs,
            }),
          ),
        ],
        target: `${schedule} ${input.date}`,
      };
    },
    usage: {
      syntax: '<schedule> exception set <YYYY-MM-DD> <start|stop> <h:m>',
      example: 'office-hours exception set 2026-12-24 stop 15:00',
      about: {
        en: 'On that day, start or stop at this time instead of the schedule’s.',
        ko: '그날은 일정 대신 이 시각에 시작하거나 중지합니다.',
      },
    },
    permission: 'power.exception',
    name: 'power.exception.set',
  });

  router.command('<schedule> exception del', {
    values,
    args: 2,
    parse: (args, ctx) => {
      const t = translator(POWER_MESSAGES, ctx.locale);
      const [d, w] = args.positionals;
      if (d === undefined) throw new CommandRefusal(t('needs', { what: '<date> <start|stop>' }));
      return { date: date(d, ctx.locale)!, field: what(w, ctx.locale) };
    },
    run: async (input, ctx) => {
      const t = translator(POWER_MESSAGES, ctx.locale);
      const schedule = ctx.words.schedule!;
      const removed = await service.deleteException(schedule, input.date, input.field);
      const whatText = input.field === 'start' ? 'start' : 'stop';
      if (!removed) {
        throw new CommandAnswer(
          'not_found',
          textReply(t('notDeleted', { schedule: escapeMrkdwn(schedule), date: input.date, what: whatText })),
        );
      }
      const runs = await runsText(schedule, input.date);
      return {
        replies: [
          textReply(
            t('deleted', { schedule: escapeMrkdwn(schedule), date: input.date, what: whatText, runs }),
          ),
        ],
        target: `${schedule} ${input.date}`,
      };
    },
    usage: {
      syntax: '<schedule> exception del <YYYY-MM-DD> <start|stop>',
      example: 'office-hours exception del 2026-12-24 stop',
      about: {
        en: 'Remove the start or stop of a day’s exception.',
        ko: '그날 예외의 시작 또는 중지를 지웁니다.',
      },
    },
    permission: 'power.exception',
    name: 'power.exception.del',
  });

  const force = (state: PowerState, name: string) =>
    router.command(`<schedule> ${name}`, {
      values,
      run: async (_input, ctx) => {
        const t = translator(POWER_MESSAGES, ctx.locale);
        const schedule = ctx.words.schedule!;
        const by = ctx.event.user.name ?? ctx.event.user.id;
        try {
          const { force: f, resources } = await service.force(
            schedule,
            state,
            `${ctx.event.platform}:${by}`,
            {
              address: { ...ctx.replyTo },
              locale: ctx.locale,
              event: `${ctx.event.platform}:${ctx.event.eventId}`,
            },
          );
          const zone = zoneOf(schedule);
          return {
            replies: [
              textReply(
                t('forced', {
                  verb: name,
                  schedule: escapeMrkdwn(schedule),
                  resources: resources.map(escapeMrkdwn).join(', ') || '—',
                  until: f.until ? t('forcedUntil', { at: formatLocal(f.until, zone) }) : t('forcedForever'),
                  state: t(state),
                }),
              ),
            ],
            target: schedule,
          };
        } catch (error) {
          if (error instanceof WindowHoldsError) {
            throw new CommandAnswer(
              'refused',
              textReply(t('refusedWindow', { message: escapeMrkdwn(error.message) })),
            );
          }
          if (error instanceof ValidationError) throw new CommandRefusal(error.message);
          throw error;
        }
      },
      usage: {
        syntax: `<schedule> ${name}`,
        example: `office-hours ${name}`,
        about:
          state === 'running'
            ? {
                en: 'Start the schedule’s resources now, until its next change.',
                ko: '일정의 리소스를 지금 시작합니다 (다음 일정 변경까지).',
              }
            : {
                en: 'Stop the schedule’s resources now, until its next change (not while a capacity window holds one).',
                ko: '일정의 리소스를 지금 중지합니다 (다음 일정 변경까지, 용량 윈도가 잡고 있으면 거절).',
              },
      },
      permission: 'power.force',
      name: `power.${name}`,
    });
  force('running', 'force_start');
  force('stopped', 'force_stop');
  return router;
}
