// Capacity's chat commands as registered on the one router (src/chat/router.ts): their words, options, how their
// arguments are read, and what they say, in English and Korean.
//
//   create <product#> [--ecs [NAME=]N] [--rds [NAME=][+]N] [--auto | --time "YYYY-MM-DD HH:mm" [--until "…"]] [--dry-run]
//   list
//   delete <id>
//   now [--ecs [NAME=]N] [--rds [NAME=][+]N] [--for 90m|2h|1h30m] [--dry-run]
//
// The router finds the command in the text and splits its options; what is read here is each option's value.

import { DateTime } from 'luxon';
import { type Catalogue, type Locale, translator } from '../../chat/messages.ts';
import {
  type Args,
  CommandRefusal,
  CommandRouter,
  type CommandSpec,
  type CommandUsage,
  type FlagSpec,
  type ParseContext,
} from '../../chat/router.ts';

export const COMMAND_NAMES = ['create', 'list', 'delete', 'now', 'help'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

/** A capacity ask: for ECS the task count to hold, for RDS the number of extra Aurora readers. */
export interface Ask {
  /** A resource name from the allow-list; absent means the configured default. */
  resource?: string;
  amount: number;
}

/**
 * `auto`: lead times computed from the product's open time. `explicit`: `at`/`until` as typed, normalized to
 * `YYYY-MM-DD HH:mm` or, when no date was given, `HH:mm` (the caller resolves it against the thread's date or
 * today, in the team's zone).
 */
export type Timing = { mode: 'auto' } | { mode: 'explicit'; at: string; until?: string };

export interface CreateCommand {
  name: 'create';
  product: number;
  ecs?: Ask;
  rds?: Ask;
  timing: Timing;
  dryRun: boolean;
}
export interface ListCommand {
  name: 'list';
}
export interface DeleteCommand {
  name: 'delete';
  id: string;
}
export interface NowCommand {
  name: 'now';
  ecs?: Ask;
  rds?: Ask;
  /** How long to hold the capacity; 60 unless `--for` says otherwise. */
  forMinutes: number;
  dryRun: boolean;
}
export interface HelpCommand {
  name: 'help';
  topic?: CommandName;
}
export type Command = CreateCommand | ListCommand | DeleteCommand | NowCommand | HelpCommand;

export type ParsedCommand = { ok: true; command: Command } | { ok: false; error: string; usage: string };

export const DEFAULT_NOW_MINUTES = 60;

// ---------------------------------------------------------------------------------------------------------------
// What capacity says

type Key =
  | 'aboutCreate'
  | 'aboutList'
  | 'aboutDelete'
  | 'aboutNow'
  | 'needsProduct'
  | 'badProduct'
  | 'needsResources'
  | 'autoOrTime'
  | 'untilNeedsTime'
  | 'untilAfterTime'
  | 'wantsDateTime'
  | 'dateNeedsTime'
  | 'badDateTime'
  | 'wantsAmount'
  | 'ecsNotIncrease'
  | 'wantsDuration'
  | 'deleteNeedsId'
  | 'notWindowId'
  | 'cannotPlan'
  | 'cannotReadThread'
  | 'parentUnreadable'
  | 'autoNeedsThread'
  | 'giveTimes'
  | 'noWindow'
  | 'nothingToCancel'
  | 'cancelled';

export const CAPACITY_MESSAGES: Catalogue<Key> = {
  en: {
    aboutCreate:
      'In the thread of a product alert: hold N ECS tasks (--ecs) and add N Aurora readers (--rds) for product ' +
      '<product#> of the message. --auto (the default) computes the times from its open time; --time/--until ' +
      'set them yourself. --dry-run only shows the plan.',
    aboutList: 'Show the active and upcoming windows with their ids.',
    aboutDelete: 'Cancel a window (the id is in `list` and in the plan message).',
    aboutNow: `Scale right away and hold it for a while (${DEFAULT_NOW_MINUTES} minutes unless --for says otherwise).`,
    needsProduct: 'create needs the product number from the thread message, e.g. create 2 --ecs 12',
    badProduct: 'the product number must be a positive whole number, got "{word}"',
    needsResources: '{command} needs --ecs and/or --rds',
    autoOrTime: 'use either --auto or --time, not both',
    untilNeedsTime: '--until needs --time',
    untilAfterTime: '--until ({until}) must be after --time ({at})',
    wantsDateTime: '{flag} wants "YYYY-MM-DD HH:mm"{hint}, got "{value}"',
    dateNeedsTime: ' (a date needs a time too)',
    badDateTime: '{flag} "{value}" is not a valid date and time',
    wantsAmount: '--{flag} wants a positive whole number ({example}), got "{value}"',
    ecsNotIncrease: '--ecs is the task count to hold, not an increase: write --ecs {n}',
    wantsDuration: '--for wants a duration like 90m, 2h or 1h30m, got "{value}"',
    deleteNeedsId: 'delete needs the id of a window (see list)',
    notWindowId: '"{word}" is not a window id (see list)',
    cannotPlan: "I can't plan that:",
    cannotReadThread: "I can't read the thread's message: {error}",
    parentUnreadable:
      "I couldn't read the message this thread belongs to (is chronops in the channel, with channels:history / groups:history?)",
    autoNeedsThread: 'create with --auto works in the thread of the product alert message',
    giveTimes: '{why}. Mention me in that thread, or give the times: --time "YYYY-MM-DD HH:mm" [--until …].',
    noWindow: 'There is no window `{id}`. `list` shows them.',
    nothingToCancel: '{error}; nothing to cancel.',
    cancelled: 'Cancelled window `{id}` ({name}). Capacity it added goes back to the plan without it.',
  },
  ko: {
    aboutCreate:
      '상품 알림 메시지의 스레드에서: 메시지의 <product#> 번 상품을 위해 ECS 태스크 N 개를 유지하고(--ecs) Aurora ' +
      '읽기 복제본 N 개를 추가합니다(--rds). --auto(기본값)는 오픈 시각에서 시간을 계산하고, --time/--until 로 ' +
      '직접 정할 수 있습니다. --dry-run 은 계획만 보여 줍니다.',
    aboutList: '진행 중이거나 예정된 윈도우를 id 와 함께 보여 줍니다.',
    aboutDelete: '윈도우를 취소합니다 (id 는 `list` 와 계획 메시지에 있습니다).',
    aboutNow: `지금 바로 스케일하고 잠시 유지합니다 (--for 가 없으면 ${DEFAULT_NOW_MINUTES}분).`,
    needsProduct: 'create 에는 스레드 메시지의 상품 번호가 필요합니다. 예: create 2 --ecs 12',
    badProduct: '상품 번호는 양의 정수여야 합니다. 받은 값: "{word}"',
    needsResources: '{command} 에는 --ecs 나 --rds 가 필요합니다',
    autoOrTime: '--auto 와 --time 중 하나만 쓰세요',
    untilNeedsTime: '--until 에는 --time 이 필요합니다',
    untilAfterTime: '--until ({until}) 은 --time ({at}) 보다 뒤여야 합니다',
    wantsDateTime: '{flag} 은(는) "YYYY-MM-DD HH:mm" 형식이어야 합니다{hint}. 받은 값: "{value}"',
    dateNeedsTime: ' (날짜에는 시각도 필요합니다)',
    badDateTime: '{flag} "{value}" 은(는) 올바른 날짜와 시각이 아닙니다',
    wantsAmount: '--{flag} 에는 양의 정수가 필요합니다 ({example}). 받은 값: "{value}"',
    ecsNotIncrease: '--ecs 는 늘릴 양이 아니라 유지할 태스크 수입니다: --ecs {n} 으로 쓰세요',
    wantsDuration: '--for 에는 90m, 2h, 1h30m 같은 기간이 필요합니다. 받은 값: "{value}"',
    deleteNeedsId: 'delete 에는 윈도우 id 가 필요합니다 (list 참고)',
    notWindowId: '"{word}" 은(는) 윈도우 id 가 아닙니다 (list 참고)',
    cannotPlan: '계획을 세울 수 없습니다:',
    cannotReadThread: '스레드의 메시지를 읽을 수 없습니다: {error}',
    parentUnreadable:
      '이 스레드의 원래 메시지를 읽지 못했습니다 (chronops 가 채널에 있고 channels:history / groups:history 권한이 있나요?)',
    autoNeedsThread: 'create --auto 는 상품 알림 메시지의 스레드에서만 쓸 수 있습니다',
    giveTimes:
      '{why}. 그 스레드에서 저를 부르거나, 시간을 직접 주세요: --time "YYYY-MM-DD HH:mm" [--until …].',
    noWindow: '`{id}` 윈도우가 없습니다. `list` 로 확인하세요.',
    nothingToCancel: '{error}. 취소할 것이 없습니다.',
    cancelled:
      '윈도우 `{id}` ({name}) 을(를) 취소했습니다. 추가된 용량은 이 윈도우 없이 계획대로 돌아갑니다.',
  },
};

// ---------------------------------------------------------------------------------------------------------------
// Values

const DATE = /^(\d{4})[-./](\d{1,2})[-./](\d{1,2})$/;
const TIME = /^(\d{1,2}):(\d{2})$/;
const DATE_TIME = /^(\d{4})[-./](\d{1,2})[-./](\d{1,2})(?:T|\s+)(\d{1,2}):(\d{2})$/;

const pad = (n: number) => String(n).padStart(2, '0');

type T = ReturnType<typeof translator<Key>>;

/** `YYYY-MM-DD HH:mm` (date optional) → normalized, or a refusal naming the flag. */
function parseWhen(value: string, flag: string, t: T): string {
  const text = value.trim();
  const full = DATE_TIME.exec(text);
  const timeOnly = TIME.exec(text);
  if (!full && !timeOnly) {
    const hint = DATE.test(text) ? t('dateNeedsTime') : '';
    throw new CommandRefusal(t('wantsDateTime', { flag, hint, value }));
  }
  const [year, month, day] = full ? [Number(full[1]), Number(full[2]), Number(full[3])] : [2000, 1, 1];
  const clock = full ? full.slice(4) : timeOnly!.slice(1);
  const hour = Number(clock[0]);
  const minute = Number(clock[1]);
  // luxon accepts hour 24 (the next midnight); a person typing 24:00 more likely made a mistake.
  if (hour > 23 || !DateTime.fromObject({ year, month, day, hour, minute }, { zone: 'utc' }).isValid) {
    throw new CommandRefusal(t('badDateTime', { flag, value }));
  }
  const time = `${pad(hour)}:${pad(minute)}`;
  return full ? `${year}-${pad(month)}-${pad(day)} ${time}` : time;
}

const ASK = /^(?:([A-Za-z0-9][\w./:-]*)=)?(\+)?(\d+)(?:개|대)?$/;

function parseAsk(value: string, flag: 'ecs' | 'rds', t: T): Ask {
  const m = ASK.exec(value.trim());
  const example = flag === 'ecs' ? '--ecs 12 or --ecs web=12' : '--rds 2, --rds +2 or --rds main=2';
  if (!m) throw new CommandRefusal(t('wantsAmount', { flag, example, value }));
  if (flag === 'ecs' && m[2]) throw new CommandRefusal(t('ecsNotIncrease', { n: m[3]! }));
  const amount = Number(m[3]);
  if (!Number.isSafeInteger(amount) || amount <= 0) {
    throw new CommandRefusal(t('wantsAmount', { flag, example, value }));
  }
  return m[1] ? { resource: m[1], amount } : { amount };
}

const DURATION = /^(?:(\d+)\s*(?:h|hr|hrs|hours?|시간))?\s*(?:(\d+)\s*(?:m|min|mins|minutes?|분))?$/i;

function parseDuration(value: string, t: T): number {
  const text = value.trim();
  let minutes: number | undefined;
  if (/^\d+$/.test(text)) minutes = Number(text);
  else {
    const m = DURATION.exec(text);
    if (m && (m[1] !== undefined || m[2] !== undefined)) minutes = Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0);
  }
  if (minutes === undefined || !Number.isSafeInteger(minutes) || minutes <= 0) {
    throw new CommandRefusal(t('wantsDuration', { value }));
  }
  return minutes;
}

function asks(args: Args, t: T): { ecs?: Ask; rds?: Ask } {
  const ecs = args.values.get('ecs');
  const rds = args.values.get('rds');
  const result: { ecs?: Ask; rds?: Ask } = {};
  if (ecs !== undefined) result.ecs = parseAsk(ecs, 'ecs', t);
  if (rds !== undefined) result.rds = parseAsk(rds, 'rds', t);
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// The commands' grammar

/** Unquoted two-word values: `--time 2026-11-23 16:00`. */
const joinDateTime = (value: string, next: string) => DATE.test(value) && TIME.test(next);
const ASK_FLAGS = { ecs: { kind: 'value' }, rds: { kind: 'value' } } as const satisfies Record<
  string,
  FlagSpec
>;

function parseCreate(args: Args, ctx: ParseContext): CreateCommand {
  const t = translator(CAPACITY_MESSAGES, ctx.locale);
  const productWord = args.positionals[0];
  if (productWord === undefined) throw new CommandRefusal(t('needsProduct'));
  const m = /^#?(\d+)번?$/.exec(productWord);
  const product = m ? Number(m[1]) : Number.NaN;
  if (!Number.isSafeInteger(product) || product <= 0) {
    throw new CommandRefusal(t('badProduct', { word: productWord }));
  }
  const { ecs, rds } = asks(args, t);
  if (!ecs && !rds) throw new CommandRefusal(t('needsResources', { command: 'create' }));
  const auto = args.switches.has('auto');
  const time = args.values.get('time');
  const until = args.values.get('until');
  if (auto && time !== undefined) throw new CommandRefusal(t('autoOrTime'));
  if (until !== undefined && time === undefined) throw new CommandRefusal(t('untilNeedsTime'));
  let timing: Timing = { mode: 'auto' };
  if (time !== undefined) {
    const at = parseWhen(time, '--time', t);
    if (until === undefined) timing = { mode: 'explicit', at };
    else {
      const end = parseWhen(until, '--until', t);
      const comparable = at.length === end.length;
      if (comparable && end <= at) throw new CommandRefusal(t('untilAfterTime', { until: end, at }));
      timing = { mode: 'explicit', at, until: end };
    }
  }
  const command: CreateCommand = { name: 'create', product, timing, dryRun: args.switches.has('dry-run') };
  if (ecs) command.ecs = ecs;
  if (rds) command.rds = rds;
  return command;
}

function parseNow(args: Args, ctx: ParseContext): NowCommand {
  const t = translator(CAPACITY_MESSAGES, ctx.locale);
  const { ecs, rds } = asks(args, t);
  if (!ecs && !rds) throw new CommandRefusal(t('needsResources', { command: 'now' }));
  const forValue = args.values.get('for');
  const forMinutes = forValue === undefined ? DEFAULT_NOW_MINUTES : parseDuration(forValue, t);
  const command: NowCommand = { name: 'now', forMinutes, dryRun: args.switches.has('dry-run') };
  if (ecs) command.ecs = ecs;
  if (rds) command.rds = rds;
  return command;
}

function parseDelete(args: Args, ctx: ParseContext): DeleteCommand {
  const t = translator(CAPACITY_MESSAGES, ctx.locale);
  const word = args.positionals[0];
  if (word === undefined) throw new CommandRefusal(t('deleteNeedsId'));
  const id = word.replace(/^#/, '');
  if (!/^[A-Za-z0-9][\w.:-]*$/.test(id)) throw new CommandRefusal(t('notWindowId', { word }));
  return { name: 'delete', id };
}

function usageOf(
  key: 'aboutCreate' | 'aboutList' | 'aboutDelete' | 'aboutNow',
  syntax: string,
  example: string,
) {
  return {
    syntax,
    about: { en: CAPACITY_MESSAGES.en[key], ko: CAPACITY_MESSAGES.ko[key] },
    example,
  } satisfies CommandUsage;
}

/** What each capacity command runs; the grammar around them is `capacityCommands`. */
export interface CapacityRuns {
  create: CommandSpec<CreateCommand>['run'];
  list: CommandSpec<ListCommand>['run'];
  delete: CommandSpec<DeleteCommand>['run'];
  now: CommandSpec<NowCommand>['run'];
}

/** Registers capacity's commands on `router`, each with its run. */
export function registerCapacityGrammar(router: CommandRouter, runs: CapacityRuns): CommandRouter {
  return router
    .command('create', {
      flags: {
        ...ASK_FLAGS,
        auto: { kind: 'switch' },
        time: { kind: 'value', join: joinDateTime },
        until: { kind: 'value', join: joinDateTime },
        'dry-run': { kind: 'switch' },
      },
      args: 1,
      parse: parseCreate,
      run: runs.create,
      usage: usageOf(
        'aboutCreate',
        'create <product#> [--ecs [NAME=]N] [--rds [NAME=][+]N] [--auto | --time "YYYY-MM-DD HH:mm" [--until "YYYY-MM-DD HH:mm"]] [--dry-run]',
        'create 2 --ecs 12 --rds 2 --auto',
      ),
      permission: 'create',
    })
    .command('list', {
      parse: (): ListCommand => ({ name: 'list' }),
      run: runs.list,
      usage: usageOf('aboutList', 'list', 'list'),
    })
    .command('delete', {
      args: 1,
      parse: parseDelete,
      run: runs.delete,
      usage: usageOf('aboutDelete', 'delete <id>', 'delete w_8f3k2'),
      permission: 'delete',
    })
    .command('now', {
      flags: {
        ...ASK_FLAGS,
        for: {
          kind: 'value',
          // `--for 1h 30m`
          join: (value, next) => /^\d+h$/i.test(value) && /^\d+m(in)?$/i.test(next),
        },
        'dry-run': { kind: 'switch' },
      },
      parse: parseNow,
      run: runs.now,
      usage: usageOf(
        'aboutNow',
        'now [--ecs [NAME=]N] [--rds [NAME=][+]N] [--for 90m|2h|1h30m] [--dry-run]',
        'now --ecs 12 --rds 1 --for 90m',
      ),
      permission: 'now',
    });
}

// ---------------------------------------------------------------------------------------------------------------
// Reading a message without running it (tests, and a door that wants to know what a text means)

const notRun = async () => [];
const grammarOnly = (locale: Locale) =>
  registerCapacityGrammar(new CommandRouter({ locale }), {
    create: notRun,
    list: notRun,
    delete: notRun,
    now: notRun,
  });
const routers = new Map<Locale, CommandRouter>();
const router = (locale: Locale) => {
  let r = routers.get(locale);
  if (!r) {
    r = grammarOnly(locale);
    routers.set(locale, r);
  }
  return r;
};

/** Parses one chat message (Slack formatting and surrounding chatter allowed) into a capacity command. */
export function parseCommand(text: string, locale: Locale = 'en'): ParsedCommand {
  const parsed = router(locale).parse(text, locale);
  if (!parsed.ok) return parsed;
  if ('help' in parsed) {
    const topic = parsed.topic as CommandName | undefined;
    return { ok: true, command: topic === undefined ? { name: 'help' } : { name: 'help', topic } };
  }
  return { ok: true, command: parsed.input as Command };
}

/** Help text of capacity's commands: every command with one example, or one command in detail. */
export function usage(command?: string, locale: Locale = 'en'): string {
  return router(locale).usage(command, locale);
}
