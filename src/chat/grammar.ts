// The ONE command grammar of chronops' chat side: Slack mentions, the `/chronops` slash command and the web
// console all hand their text to `parseCommand`, and show `usage()` when it says no.
//
//   create <product#> [--ecs [NAME=]N] [--rds [NAME=][+]N] [--auto | --time "YYYY-MM-DD HH:mm" [--until "…"]] [--dry-run]
//   list
//   delete <id>
//   now [--ecs [NAME=]N] [--rds [NAME=][+]N] [--for 90m|2h|1h30m] [--dry-run]
//   help [command]
//
// People type these in Slack, so the text arrives formatted: `<@U123>` mentions, `<https://x|label>` links,
// `&lt;`/`&gt;`/`&amp;` entities, smart quotes, non-breaking spaces, `—ecs` where macOS or Slack autocorrected `--`,
// and Korean around the command (`<@U1> 이거 create 2 --ecs 12 --auto 부탁해요`). All of that is tolerated; what
// is still wrong gets a short error and the usage of the command that was meant.

import { DateTime } from 'luxon';

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
// Usage

const USAGE: Record<CommandName, { syntax: string; about: string; example: string }> = {
  create: {
    syntax:
      'create <product#> [--ecs [NAME=]N] [--rds [NAME=][+]N] [--auto | --time "YYYY-MM-DD HH:mm" [--until "YYYY-MM-DD HH:mm"]] [--dry-run]',
    about:
      'In the thread of a product alert: hold N ECS tasks (--ecs) and add N Aurora readers (--rds) for product ' +
      '<product#> of the message. --auto (the default) computes the times from its open time; --time/--until ' +
      'set them yourself. --dry-run only shows the plan.',
    example: 'create 2 --ecs 12 --rds 2 --auto',
  },
  list: {
    syntax: 'list',
    about: 'Show the active and upcoming windows with their ids.',
    example: 'list',
  },
  delete: {
    syntax: 'delete <id>',
    about: 'Cancel a window (the id is in `list` and in the plan message).',
    example: 'delete w_8f3k2',
  },
  now: {
    syntax: 'now [--ecs [NAME=]N] [--rds [NAME=][+]N] [--for 90m|2h|1h30m] [--dry-run]',
    about: `Scale right away and hold it for a while (${DEFAULT_NOW_MINUTES} minutes unless --for says otherwise).`,
    example: 'now --ecs 12 --rds 1 --for 90m',
  },
  help: {
    syntax: 'help [command]',
    about: 'Show the commands, or one command in detail.',
    example: 'help create',
  },
};

function isCommandName(word: string): word is CommandName {
  return (COMMAND_NAMES as readonly string[]).includes(word);
}

/** Help text: every command with one example, or one command in detail. */
export function usage(command?: string): string {
  const name = command?.trim().toLowerCase();
  if (name && isCommandName(name)) {
    const u = USAGE[name];
    return `Usage: ${u.syntax}\n${u.about}\nExample: ${u.example}`;
  }
  const lines = ['Commands:'];
  for (const n of COMMAND_NAMES) lines.push(`• ${USAGE[n].syntax}\n    e.g. ${USAGE[n].example}`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// Slack text → plain text (shared with the thread parser)

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', '#39': "'", nbsp: ' ' };

/** `<…>` markup of Slack: mentions and channel/group references vanish, links become their label (or URL). */
function slackAngle(inner: string): string {
  const bar = inner.indexOf('|');
  const target = bar === -1 ? inner : inner.slice(0, bar);
  const label = bar === -1 ? undefined : inner.slice(bar + 1);
  if (target.startsWith('@') || target.startsWith('#')) return ' ';
  if (target.startsWith('!')) return target.startsWith('!date') && label ? label : ' ';
  if (label) return label;
  return target.startsWith('mailto:') ? target.slice('mailto:'.length) : target;
}

/**
 * Slack message text as a person reads it: `<@U1>`/`<!here>`/`<#C1|x>` removed, `<url|label>` → label, `<url>` →
 * url, entities decoded (after the markup, as Slack escapes a literal `<` as `&lt;`), smart quotes straightened,
 * zero-width characters dropped, every space character other than a newline made a plain space.
 */
export function normalizeSlackText(text: string): string {
  return text
    .replace(/<([^<>\n]*)>/g, (_m, inner: string) => slackAngle(inner))
    .replace(/&(lt|gt|amp|quot|#39|nbsp);/g, (_m, name: string) => ENTITIES[name] ?? _m)
    .replace(/[\u201c\u201d\u201e\u201f\u2033\u301d\u301e\uff02]/g, '"')
    .replace(/[\u2018\u2019\u201a\u201b\u2032\uff07]/g, "'")
    .replace(/[\u200b-\u200d\u2060\ufeff]/g, '')
    .replace(/\r\n?/g, '\n')
    .replace(/[^\S\n]/g, ' ');
}

// ---------------------------------------------------------------------------------------------------------------
// Tokens

/**
 * Shell-like split: whitespace separates, "…" or '…' group (a quote opens only at the start of a token or right
 * after `=`, and only when it is closed later — so the apostrophe of "don't" stays a letter).
 */
function tokenize(text: string): string[] {
  const tokens: string[] = [];
  let current = '';
  let inToken = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (/\s/.test(ch)) {
      if (inToken) tokens.push(current);
      current = '';
      inToken = false;
      continue;
    }
    if ((ch === '"' || ch === "'") && (!inToken || current.endsWith('='))) {
      const close = text.indexOf(ch, i + 1);
      if (close !== -1) {
        current += text
          .slice(i + 1, close)
          .replace(/\s+/g, ' ')
          .trim();
        inToken = true;
        i = close;
        continue;
      }
    }
    current += ch;
    inToken = true;
  }
  if (inToken) tokens.push(current);
  return tokens;
}

/** `--ecs`, `—ecs` (autocorrected), `–ecs`, `-ecs`, `--ecs=12`. Dash-like characters of any kind. */
const FLAG = /^[-\u2010-\u2015\u2212\ufe58\ufe63\uff0d]+([A-Za-z][A-Za-z_-]*)(?:=(.*))?$/s;

function asFlag(token: string): { name: string; value?: string } | undefined {
  const m = FLAG.exec(token);
  if (!m) return undefined;
  const name = m[1]!.toLowerCase().replace(/_/g, '-');
  return m[2] === undefined ? { name } : { name, value: m[2] };
}

/** Words that are not part of a command: Korean (or any text without ASCII letters/digits), emoji shortcodes. */
function isChatter(token: string): boolean {
  return !/[A-Za-z0-9]/.test(token) || /^:[\w+'-]+:$/.test(token);
}

const FLAG_ALIASES: Record<string, string> = { dryrun: 'dry-run', h: 'help' };

type FlagKind = 'value' | 'switch';
const FLAGS: Record<CommandName, Record<string, FlagKind>> = {
  create: { ecs: 'value', rds: 'value', auto: 'switch', time: 'value', until: 'value', 'dry-run': 'switch' },
  list: {},
  delete: {},
  now: { ecs: 'value', rds: 'value', for: 'value', 'dry-run': 'switch' },
  help: {},
};
/** How many positional words each command takes. */
const POSITIONALS: Record<CommandName, number> = { create: 1, list: 0, delete: 1, now: 0, help: 1 };

// ---------------------------------------------------------------------------------------------------------------
// Values

class Refusal extends Error {}

const DATE = /^(\d{4})[-./](\d{1,2})[-./](\d{1,2})$/;
const TIME = /^(\d{1,2}):(\d{2})$/;
const DATE_TIME = /^(\d{4})[-./](\d{1,2})[-./](\d{1,2})(?:T|\s+)(\d{1,2}):(\d{2})$/;

const pad = (n: number) => String(n).padStart(2, '0');

/** `YYYY-MM-DD HH:mm` (date optional) → normalized, or a Refusal naming the flag. */
function parseWhen(value: string, flag: string): string {
  const text = value.trim();
  const full = DATE_TIME.exec(text);
  const timeOnly = TIME.exec(text);
  if (!full && !timeOnly) {
    const hint = DATE.test(text) ? ' (a date needs a time too)' : '';
    throw new Refusal(`${flag} wants "YYYY-MM-DD HH:mm"${hint}, got "${value}"`);
  }
  const [year, month, day] = full ? [Number(full[1]), Number(full[2]), Number(full[3])] : [2000, 1, 1];
  const clock = full ? full.slice(4) : timeOnly!.slice(1);
  const hour = Number(clock[0]);
  const minute = Number(clock[1]);
  // luxon accepts hour 24 (the next midnight); a person typing 24:00 more likely made a mistake.
  if (hour > 23 || !DateTime.fromObject({ year, month, day, hour, minute }, { zone: 'utc' }).isValid) {
    throw new Refusal(`${flag} "${value}" is not a valid date and time`);
  }
  const time = `${pad(hour)}:${pad(minute)}`;
  return full ? `${year}-${pad(month)}-${pad(day)} ${time}` : time;
}

const ASK = /^(?:([A-Za-z0-9][\w./:-]*)=)?(\+)?(\d+)(?:개|대)?$/;

function parseAsk(value: string, flag: 'ecs' | 'rds'): Ask {
  const m = ASK.exec(value.trim());
  const example = flag === 'ecs' ? '--ecs 12 or --ecs web=12' : '--rds 2, --rds +2 or --rds main=2';
  if (!m) {
    throw new Refusal(`--${flag} wants a positive whole number (${example}), got "${value}"`);
  }
  if (flag === 'ecs' && m[2]) {
    throw new Refusal(`--ecs is the task count to hold, not an increase: write --ecs ${m[3]}`);
  }
  const amount = Number(m[3]);
  if (!Number.isSafeInteger(amount) || amount <= 0) {
    throw new Refusal(`--${flag} wants a positive whole number (${example}), got "${value}"`);
  }
  return m[1] ? { resource: m[1], amount } : { amount };
}

const DURATION = /^(?:(\d+)\s*(?:h|hr|hrs|hours?|시간))?\s*(?:(\d+)\s*(?:m|min|mins|minutes?|분))?$/i;

function parseDuration(value: string): number {
  const text = value.trim();
  let minutes: number | undefined;
  if (/^\d+$/.test(text)) minutes = Number(text);
  else {
    const m = DURATION.exec(text);
    if (m && (m[1] !== undefined || m[2] !== undefined)) minutes = Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0);
  }
  if (minutes === undefined || !Number.isSafeInteger(minutes) || minutes <= 0) {
    throw new Refusal(`--for wants a duration like 90m, 2h or 1h30m, got "${value}"`);
  }
  return minutes;
}

// ---------------------------------------------------------------------------------------------------------------
// Parsing

interface Args {
  positionals: string[];
  values: Map<string, string>;
  switches: Set<string>;
}

/** Split the words after the command into flags and positionals, per the command's flag table. */
function readArgs(command: CommandName, args: string[]): Args | { help: true } {
  if (
    args.some((a) => {
      const f = asFlag(a);
      return f !== undefined && (FLAG_ALIASES[f.name] ?? f.name) === 'help';
    })
  ) {
    return { help: true };
  }
  const spec = FLAGS[command];
  const positionals: string[] = [];
  const values = new Map<string, string>();
  const switches = new Set<string>();
  let chatter = false;
  for (let i = 0; i < args.length; i++) {
    const token = args[i]!;
    const flag = asFlag(token);
    if (!flag) {
      if (positionals.length < POSITIONALS[command] && !isChatter(token)) positionals.push(token);
      else if (isChatter(token)) chatter = true;
      else if (!chatter) {
        throw new Refusal(
          POSITIONALS[command] === 0
            ? `${command} takes no arguments, got "${token}"`
            : `unexpected "${token}" after ${command} ${positionals.join(' ')}`,
        );
      }
      continue;
    }
    const name = FLAG_ALIASES[flag.name] ?? flag.name;
    const kind = spec[name];
    if (!kind) {
      const known = Object.keys(spec).map((f) => `--${f}`);
      throw new Refusal(
        `unknown option "--${flag.name}" for ${command}` +
          (known.length ? ` (options: ${known.join(', ')})` : ` (${command} takes no options)`),
      );
    }
    if (values.has(name) || switches.has(name)) throw new Refusal(`--${name} is given twice`);
    if (kind === 'switch') {
      if (flag.value !== undefined) throw new Refusal(`--${name} takes no value`);
      switches.add(name);
      continue;
    }
    let value = flag.value;
    if (value === undefined) {
      const next = args[i + 1];
      if (next === undefined || asFlag(next)) throw new Refusal(`--${name} needs a value`);
      value = next;
      i++;
      const after = args[i + 1];
      // Unquoted two-token values: `--time 2026-11-23 16:00`, `--for 1h 30m`.
      if (
        after !== undefined &&
        (name === 'time' || name === 'until') &&
        DATE.test(value) &&
        TIME.test(after)
      ) {
        value = `${value} ${after}`;
        i++;
      } else if (
        after !== undefined &&
        name === 'for' &&
        /^\d+h$/i.test(value) &&
        /^\d+m(in)?$/i.test(after)
      ) {
        value = `${value}${after}`;
        i++;
      }
    }
    if (value.trim() === '') throw new Refusal(`--${name} needs a value`);
    values.set(name, value);
  }
  return { positionals, values, switches };
}

function asks(args: Args): { ecs?: Ask; rds?: Ask } {
  const ecs = args.values.get('ecs');
  const rds = args.values.get('rds');
  const result: { ecs?: Ask; rds?: Ask } = {};
  if (ecs !== undefined) result.ecs = parseAsk(ecs, 'ecs');
  if (rds !== undefined) result.rds = parseAsk(rds, 'rds');
  return result;
}

function buildCreate(args: Args): CreateCommand {
  const productWord = args.positionals[0];
  if (productWord === undefined) {
    throw new Refusal('create needs the product number from the thread message, e.g. create 2 --ecs 12');
  }
  const m = /^#?(\d+)번?$/.exec(productWord);
  const product = m ? Number(m[1]) : Number.NaN;
  if (!Number.isSafeInteger(product) || product <= 0) {
    throw new Refusal(`the product number must be a positive whole number, got "${productWord}"`);
  }
  const { ecs, rds } = asks(args);
  if (!ecs && !rds) throw new Refusal('create needs --ecs and/or --rds');
  const auto = args.switches.has('auto');
  const time = args.values.get('time');
  const until = args.values.get('until');
  if (auto && time !== undefined) throw new Refusal('use either --auto or --time, not both');
  if (until !== undefined && time === undefined) throw new Refusal('--until needs --time');
  let timing: Timing = { mode: 'auto' };
  if (time !== undefined) {
    const at = parseWhen(time, '--time');
    if (until === undefined) timing = { mode: 'explicit', at };
    else {
      const end = parseWhen(until, '--until');
      const comparable = at.length === end.length;
      if (comparable && end <= at) throw new Refusal(`--until (${end}) must be after --time (${at})`);
      timing = { mode: 'explicit', at, until: end };
    }
  }
  const command: CreateCommand = { name: 'create', product, timing, dryRun: args.switches.has('dry-run') };
  if (ecs) command.ecs = ecs;
  if (rds) command.rds = rds;
  return command;
}

function buildNow(args: Args): NowCommand {
  const { ecs, rds } = asks(args);
  if (!ecs && !rds) throw new Refusal('now needs --ecs and/or --rds');
  const forValue = args.values.get('for');
  const forMinutes = forValue === undefined ? DEFAULT_NOW_MINUTES : parseDuration(forValue);
  const command: NowCommand = { name: 'now', forMinutes, dryRun: args.switches.has('dry-run') };
  if (ecs) command.ecs = ecs;
  if (rds) command.rds = rds;
  return command;
}

function buildDelete(args: Args): DeleteCommand {
  const word = args.positionals[0];
  if (word === undefined) throw new Refusal('delete needs the id of a window (see list)');
  const id = word.replace(/^#/, '');
  if (!/^[A-Za-z0-9][\w.:-]*$/.test(id)) throw new Refusal(`"${word}" is not a window id (see list)`);
  return { name: 'delete', id };
}

function unknownCommand(word: string): ParsedCommand {
  return {
    ok: false,
    error: `unknown command "${word}"; commands: ${COMMAND_NAMES.join(', ')}`,
    usage: usage(),
  };
}

/** Parse one chat message (Slack formatting and surrounding chatter allowed) into a command. */
export function parseCommand(text: string): ParsedCommand {
  const plain = normalizeSlackText(text).replace(/`+/g, ' ');
  const tokens = tokenize(plain);
  const at = tokens.findIndex((t) => isCommandName(t.toLowerCase()));
  if (at === -1) {
    const word = tokens.find((t) => /^[A-Za-z][\w-]*$/.test(t) && !asFlag(t));
    if (word) return unknownCommand(word);
    return { ok: false, error: `no command found; commands: ${COMMAND_NAMES.join(', ')}`, usage: usage() };
  }
  const name = tokens[at]!.toLowerCase() as CommandName;
  try {
    const args = readArgs(name, tokens.slice(at + 1));
    if ('help' in args) return { ok: true, command: { name: 'help', topic: name } };
    switch (name) {
      case 'create':
        return { ok: true, command: buildCreate(args) };
      case 'now':
        return { ok: true, command: buildNow(args) };
      case 'delete':
        return { ok: true, command: buildDelete(args) };
      case 'list':
        return { ok: true, command: { name: 'list' } };
      case 'help': {
        const topic = args.positionals[0]?.toLowerCase();
        if (topic === undefined) return { ok: true, command: { name: 'help' } };
        if (!isCommandName(topic)) return unknownCommand(args.positionals[0]!);
        return { ok: true, command: { name: 'help', topic } };
      }
    }
  } catch (error) {
    if (error instanceof Refusal) return { ok: false, error: error.message, usage: usage(name) };
    throw error;
  }
}
