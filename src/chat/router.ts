// The ONE command router of chronops' chat side, in the style of Bolt's `app.command`: every capability registers
// its commands on it — their words, options, how to read them, what to run, their usage, their permission key —
// and every door (Slack, JANDI, Teams, the page's console) hands it ChatEvents and renders the Replies it gets.
// The router, not the capability, reads the text (src/chat/grammar.ts: Slack markup, entities, smart quotes, `—`
// for `--`, Korean around the command), finds the command, checks the permission, runs it, audits it, and answers
// a typo with the usage and the nearest command or name.
//
//   router.command('create', { flags: { ecs: { kind: 'value' } }, args: 1, parse, run, usage, permission: 'create' });
//   router.command('jobs run', { args: 1, run, usage, permission: 'jobs.run' });
//   router.command('<schedule> status', { values: { schedule: () => names }, run, usage });
//   router.action('cancel', { permission: 'delete', run });         // a button on a message chronops posted
//
// Words in `<…>` are dynamic: any of `values[name]()` (e.g. the configured schedules); the run gets the one typed
// in `ctx.words`. The command starts at the first word that is not chatter (Korean, emoji): `<@U1> 이거 create 2
// … 부탁해요` is `create 2 …`. `help` is built from every registration.

import { asFlag, isChatter, nearest, words as wordsOf } from './grammar.ts';
import { type Locale, type Localized, ROUTER_MESSAGES, type Translate, translator } from './messages.ts';
import type { PermissionPolicy } from './permissions.ts';
import { type ChatEvent, type Reply, type ReplyAddress, replyAddressOf } from './port.ts';
import { escapeMrkdwn, textReply } from './reply.ts';

/** An option: `--dry-run` (a switch) or `--ecs 12` / `--ecs=12` (a value). */
export type FlagSpec =
  | { kind: 'switch' }
  | {
      kind: 'value';
      /** Take the next word too when this says so (`--time 2026-11-23 16:00` typed without quotes). */
      join?: (value: string, next: string) => boolean;
    };

/** The words after a command's own words, split into options and positional words. */
export interface Args {
  positionals: string[];
  values: Map<string, string>;
  switches: Set<string>;
}

export interface ParseContext {
  locale: Locale;
  /** The dynamic words as typed (`{ schedule: 'office-hours' }`). */
  words: Record<string, string>;
}

export interface CommandContext extends ParseContext {
  event: ChatEvent;
  /** This command's usage, in the event's language (for an answer that should show it). */
  usage: string;
  /** Where answers that come later go (`notifier.reply(ctx.replyTo, …)`): the thread, room or channel. */
  replyTo: ReplyAddress;
}

/** Thrown by `parse`: the input is wrong. The person gets the message and the usage of this command. */
export class CommandRefusal extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommandRefusal';
  }
}

/**
 * Thrown by `run` for an answer that is not a success (a refusal, an unknown id, a conflict): the reply goes to
 * the person and the audit record says `outcome` instead of `ok`.
 */
export class CommandAnswer extends Error {
  readonly outcome: string;
  readonly reply: Reply;
  constructor(outcome: string, reply: Reply) {
    super(reply.text);
    this.name = 'CommandAnswer';
    this.outcome = outcome;
    this.reply = reply;
  }
}

/** What a run returns: the replies, and the target the audit record names (a window id, a job name). */
export type RunResult = Reply[] | { replies: Reply[]; target?: string };

export interface CommandUsage {
  /** `create <product#> [--ecs [NAME=]N] …` (placeholders in `<…>`; the router escapes them for Slack). */
  syntax: string;
  /** One sentence, in every locale. */
  about: Localized;
  example: string;
}

export interface CommandSpec<I = Args> {
  /** Values of each dynamic word (`<schedule>`), read at every message (config reloads show at once). */
  values?: Record<string, () => readonly string[]>;
  flags?: Record<string, FlagSpec>;
  /** Most positional words after the command's words (default 0). */
  args?: number;
  /** Reads the arguments; throws CommandRefusal to refuse. Absent: the run gets the Args. */
  parse?: (args: Args, ctx: ParseContext) => I;
  run: (input: I, ctx: CommandContext) => Promise<RunResult>;
  usage: CommandUsage;
  /** The key of the permission rules (`slack.permissions.<key>`); absent: open to everyone who reaches the bot. */
  permission?: string;
  /** The audit action is `chat.<name>`; default: the literal words joined by `.` (`jobs.run`, `status`). */
  name?: string;
}

export interface ActionSpec {
  permission?: string;
  /** Audit name (`chat.<name>`); default: the action id. */
  name?: string;
  run: (value: string, ctx: Omit<CommandContext, 'usage' | 'words'>) => Promise<RunResult>;
}

/** One audit record per command, allowed, refused or malformed (the host writes it where audits live). */
export interface CommandAudit {
  actor: string;
  source: string;
  action: string;
  target: string | null;
  outcome: string;
  details: Record<string, unknown>;
}

export interface RouterOptions {
  /** The language of replies when the event does not say (config `locale`). */
  locale?: Locale;
  permissions?: PermissionPolicy;
  audit?: (entry: CommandAudit) => Promise<void>;
}

type Word = { literal: string } | { param: string };

interface Registration {
  words: Word[];
  spec: CommandSpec<unknown>;
  name: string;
}

export type Parsed =
  | { ok: true; registration: Registration; input: unknown; words: Record<string, string>; typed: string }
  | { ok: true; help: string; topic?: string }
  | { ok: false; error: string; usage: string };

/** `<@U1>` on Slack, the name (or id) elsewhere. */
export function who(event: Pick<ChatEvent, 'platform' | 'user'>): string {
  return event.platform === 'slack' ? `<@${event.user.id}>` : (event.user.name ?? event.user.id);
}

function parseWords(words: string): Word[] {
  const parts = words.trim().split(/\s+/);
  if (parts.length === 0 || parts[0] === '') throw new Error('a command needs at least one word');
  return parts.map((p) => {
    const m = /^<([a-z][\w-]*)>$/i.exec(p);
    if (m) return { param: m[1]! };
    if (!/^[a-z][\w-]*$/i.test(p)) throw new Error(`command word "${p}" must be letters, digits, _ or -`);
    return { literal: p.toLowerCase() };
  });
}

const literalOf = (w: Word | undefined) => (w && 'literal' in w ? w.literal : undefined);

export class CommandRouter {
  private readonly o: RouterOptions;
  private readonly registrations: Registration[] = [];
  private readonly actions = new Map<string, ActionSpec>();

  constructor(options: RouterOptions = {}) {
    this.o = options;
    this.registrations.push({
      words: [{ literal: 'help' }],
      name: 'help',
      spec: {
        args: 4,
        run: async () => [],
        usage: {
          syntax: 'help [command]',
          about: { en: ROUTER_MESSAGES.en.helpAbout, ko: ROUTER_MESSAGES.ko.helpAbout },
          example: 'help create',
        },
      },
    });
  }

  /** Registers a command: `router.command('jobs run', { … })`. Throws when the same words are registered twice. */
  command<I = Args>(words: string, spec: CommandSpec<I>): this {
    const parsed = parseWords(words);
    const key = parsed.map((w) => ('literal' in w ? w.literal : '<>')).join(' ');
    if (
      this.registrations.some(
        (r) => r.words.map((w) => ('literal' in w ? w.literal : '<>')).join(' ') === key,
      )
    ) {
      throw new Error(`the command "${words}" is registered twice`);
    }
    for (const w of parsed) {
      if ('param' in w && !spec.values?.[w.param]) throw new Error(`"${words}": no values for <${w.param}>`);
    }
    const name =
      spec.name ??
      parsed
        .map(literalOf)
        .filter((w) => w !== undefined)
        .join('.');
    // help stays last in listings
    this.registrations.splice(this.registrations.length - 1, 0, {
      words: parsed,
      spec: spec as CommandSpec<unknown>,
      name,
    });
    return this;
  }

  /** Registers a button: a ChatEvent with `action.id === id` runs it with the button's value. */
  action(id: string, spec: ActionSpec): this {
    if (this.actions.has(id)) throw new Error(`the action "${id}" is registered twice`);
    this.actions.set(id, spec);
    return this;
  }

  /** Every permission key a registration uses. */
  permissionKeys(): string[] {
    const keys = new Set<string>();
    for (const r of this.registrations) if (r.spec.permission) keys.add(r.spec.permission);
    for (const a of this.actions.values()) if (a.permission) keys.add(a.permission);
    return [...keys];
  }

  /** Config rules for keys no command uses (a typo in the config): `[{ key, path }]`. */
  unusedPermissionRules(): Array<{ key: string; path: string }> {
    const used = new Set(this.permissionKeys());
    return (this.o.permissions?.keys() ?? []).filter((k) => !used.has(k.key));
  }

  private localeOf(event?: Pick<ChatEvent, 'locale'>): Locale {
    return event?.locale ?? this.o.locale ?? 'en';
  }

  // ---- usage ----------------------------------------------------------------------------------------------------

  /** The first word of each command as people see it in lists (`create`, `jobs`, `<schedule>`). */
  private heads(): string[] {
    const heads: string[] = [];
    for (const r of this.registrations) {
      const w = r.words[0]!;
      const head = 'literal' in w ? w.literal : `<${w.param}>`;
      if (!heads.includes(head)) heads.push(head);
    }
    return heads;
  }

  private detail(r: Registration, locale: Locale): string {
    const m = ROUTER_MESSAGES[locale];
    return `${m.usage}${r.spec.usage.syntax}\n${r.spec.usage.about[locale]}\n${m.example}${r.spec.usage.example}`;
  }

  private listing(rs: Registration[], locale: Locale): string {
    const m = ROUTER_MESSAGES[locale];
    const lines = [m.commands];
    for (const r of rs) lines.push(`• ${r.spec.usage.syntax}\n    ${m.eg} ${r.spec.usage.example}`);
    return lines.join('\n');
  }

  /** Registrations a help topic names: `create`, `jobs` (all of jobs'), a schedule's name (all of `<schedule> …`). */
  private topic(word: string): Registration[] {
    const w = word.toLowerCase();
    const byLiteral = this.registrations.filter((r) => literalOf(r.words[0]) === w);
    if (byLiteral.length > 0) return byLiteral;
    return this.registrations.filter((r) => {
      const first = r.words[0]!;
      return 'param' in first && this.valuesOf(r, first.param).some((v) => v.toLowerCase() === w);
    });
  }

  /**
   * Help text: every command with one example; one command in detail (`Usage: …`); a group (`jobs`, a schedule)
   * listed. An unknown topic gets the full list.
   */
  usage(topic?: string, locale: Locale = this.o.locale ?? 'en'): string {
    const rs = topic === undefined ? [] : this.topic(topic.trim());
    if (rs.length === 1) return this.detail(rs[0]!, locale);
    if (rs.length > 1) return this.listing(rs, locale);
    return this.listing(this.registrations, locale);
  }

  private usageOf(r: Registration, locale: Locale): string {
    const first = literalOf(r.words[0]);
    // A command of a group shows its own detail; the group's list is one `help <group>` away.
    return first !== undefined && this.topic(first).length === 1
      ? this.usage(first, locale)
      : this.detail(r, locale);
  }

  // ---- parsing --------------------------------------------------------------------------------------------------

  private valuesOf(r: Registration, param: string): readonly string[] {
    return r.spec.values?.[param]?.() ?? [];
  }

  /** The registration whose words match `tokens` from `at`, the longest first; with the dynamic words typed. */
  private matchAt(
    tokens: string[],
    at: number,
  ): { r: Registration; words: Record<string, string>; length: number } | undefined {
    let best:
      | { r: Registration; words: Record<string, string>; length: number; literals: number }
      | undefined;
    for (const r of this.registrations) {
      const words: Record<string, string> = {};
      let literals = 0;
      const ok = r.words.every((w, i) => {
        const token = tokens[at + i];
        if (token === undefined) return false;
        if ('literal' in w) {
          literals++;
          return token.toLowerCase() === w.literal;
        }
        const value = this.valuesOf(r, w.param).find((v) => v.toLowerCase() === token.toLowerCase());
        if (value === undefined) return false;
        words[w.param] = value;
        return true;
      });
      if (!ok) continue;
      const length = r.words.length;
      if (!best || length > best.length || (length === best.length && literals > best.literals)) {
        best = { r, words, length, literals };
      }
    }
    return best;
  }

  /** Why nothing matched at `at`: a typo in a sub-command, in a dynamic name, or in the command itself. */
  private diagnose(tokens: string[], at: number, locale: Locale): { error: string; usage: string } {
    const t = translator(ROUTER_MESSAGES, locale);
    const word = tokens[at]!;
    const lower = word.toLowerCase();
    const suggest = (candidates: readonly string[], typed = word) => {
      const s = nearest(typed, candidates);
      return s ? t('didYouMean', { suggestion: s }) : '';
    };
    // A group whose first word is right (`jobs rnu`) or a known dynamic name (`office-hours stauts`).
    const group = this.registrations.filter((r) => {
      const first = r.words[0]!;
      if ('literal' in first) return first.literal === lower;
      return this.valuesOf(r, first.param).some((v) => v.toLowerCase() === lower);
    });
    if (group.length > 0) {
      const next = tokens[at + 1];
      const subs = [...new Set(group.map((r) => literalOf(r.words[1])).filter((w) => w !== undefined))];
      if (subs.length > 0) {
        const groupName = word;
        const error =
          next === undefined || asFlag(next) || isChatter(next)
            ? t('needsSub', { group: groupName, commands: subs.join(', ') })
            : t('unknownSub', { word: next, group: groupName, commands: subs.join(', ') }) +
              suggest(subs, next);
        return { error, usage: this.listing(group, locale) };
      }
    }
    // A dynamic name with a typo, the rest right: `offce-hours status`.
    for (const r of this.registrations) {
      const first = r.words[0]!;
      if (!('param' in first) || r.words.length < 2) continue;
      const rest = r.words.slice(1);
      const ok = rest.every((w, i) => {
        const token = tokens[at + 1 + i];
        return token !== undefined && 'literal' in w && token.toLowerCase() === w.literal;
      });
      if (!ok) continue;
      const values = this.valuesOf(r, first.param);
      const error =
        t('unknownValue', { param: first.param, value: word, values: values.join(', ') || '-' }) +
        suggest(values);
      return { error, usage: this.detail(r, locale) };
    }
    const heads = this.heads();
    const names = [
      ...heads.filter((h) => !h.startsWith('<')),
      ...this.registrations.flatMap((r) => {
        const first = r.words[0]!;
        return 'param' in first ? this.valuesOf(r, first.param) : [];
      }),
    ];
    return {
      error: t('unknownCommand', { word, commands: heads.join(', ') }) + suggest([...new Set(names)]),
      usage: this.listing(this.registrations, locale),
    };
  }

  /** Splits the words after the command into options and positionals, per the command's spec. */
  private readArgs(
    r: Registration,
    typed: string,
    args: string[],
    t: Translate<keyof (typeof ROUTER_MESSAGES)['en']>,
  ): Args | 'help' {
    if (args.some((a) => ['help', 'h'].includes(asFlag(a)?.name ?? ''))) return 'help';
    const spec = r.spec.flags ?? {};
    const max = r.spec.args ?? 0;
    const known = Object.keys(spec);
    const flagNamed = (name: string) => known.find((k) => k.replace(/-/g, '') === name.replace(/-/g, ''));
    const positionals: string[] = [];
    const values = new Map<string, string>();
    const switches = new Set<string>();
    let chatter = false;
    for (let i = 0; i < args.length; i++) {
      const token = args[i]!;
      const flag = asFlag(token);
      if (!flag) {
        if (positionals.length < max && !isChatter(token)) positionals.push(token);
        else if (isChatter(token)) chatter = true;
        else if (!chatter) {
          throw new CommandRefusal(
            max === 0
              ? t('takesNoArguments', { command: typed, token })
              : t('unexpected', { token, command: [typed, ...positionals].join(' ') }),
          );
        }
        continue;
      }
      const name = flagNamed(flag.name);
      const kind = name === undefined ? undefined : spec[name];
      if (name === undefined || kind === undefined) {
        throw new CommandRefusal(
          t('unknownOption', { flag: flag.name, command: typed }) +
            (known.length
              ? t('options', { options: known.map((f) => `--${f}`).join(', ') })
              : t('noOptions', { command: typed })),
        );
      }
      if (values.has(name) || switches.has(name)) throw new CommandRefusal(t('givenTwice', { flag: name }));
      if (kind.kind === 'switch') {
        if (flag.value !== undefined) throw new CommandRefusal(t('takesNoValue', { flag: name }));
        switches.add(name);
        continue;
      }
      let value = flag.value;
      if (value === undefined) {
        const next = args[i + 1];
        if (next === undefined || asFlag(next)) throw new CommandRefusal(t('needsValue', { flag: name }));
        value = next;
        i++;
        const after = args[i + 1];
        if (after !== undefined && kind.join?.(value, after)) {
          value = `${value} ${after}`;
          i++;
        }
      }
      if (value.trim() === '') throw new CommandRefusal(t('needsValue', { flag: name }));
      values.set(name, value);
    }
    return { positionals, values, switches };
  }

  /**
   * Reads one chat message (formatting and chatter allowed) into a command and its input, or a refusal with the
   * usage to show. `help` parses to the text it would answer.
   */
  parse(text: string, locale: Locale = this.o.locale ?? 'en'): Parsed {
    const t = translator(ROUTER_MESSAGES, locale);
    const tokens = wordsOf(text);
    const at = tokens.findIndex((token) => !isChatter(token));
    const word = at === -1 ? undefined : tokens[at]!;
    if (word === undefined || asFlag(word) || !/^[A-Za-z]/.test(word)) {
      return {
        ok: false,
        error: t('noCommand', { commands: this.heads().join(', ') }),
        usage: this.usage(undefined, locale),
      };
    }
    const match = this.matchAt(tokens, at);
    if (!match) return { ok: false, ...this.diagnose(tokens, at, locale) };
    const { r, words } = match;
    const typed = tokens
      .slice(at, at + match.length)
      .map((w, i) => ('literal' in r.words[i]! ? w.toLowerCase() : w))
      .join(' ');
    try {
      const args = this.readArgs(r, typed, tokens.slice(at + match.length), t);
      if (args === 'help') return { ok: true, help: this.usageOf(r, locale), topic: typed };
      if (r.name === 'help' && r.words.length === 1) {
        const topic = args.positionals[0];
        if (topic === undefined) return { ok: true, help: this.usage(undefined, locale) };
        // `help jobs run`: one command of a group
        const exact = args.positionals.length > 1 ? this.matchAt(args.positionals, 0) : undefined;
        if (exact) return { ok: true, help: this.detail(exact.r, locale), topic: args.positionals.join(' ') };
        if (this.topic(topic).length === 0)
          return { ok: false, ...this.diagnose(args.positionals, 0, locale) };
        return { ok: true, help: this.usage(topic, locale), topic: topic.toLowerCase() };
      }
      const input = r.spec.parse ? r.spec.parse(args, { locale, words }) : args;
      return { ok: true, registration: r, input, words, typed };
    } catch (error) {
      if (error instanceof CommandRefusal)
        return { ok: false, error: error.message, usage: this.usageOf(r, locale) };
      throw error;
    }
  }

  // ---- handling -------------------------------------------------------------------------------------------------

  /**
   * Handles one event. Answers people get (bad syntax, a refusal, an unknown id) are replies; an error thrown
   * from here is chronops' own failure (the database is down), which the door may retry: commands with side
   * effects are idempotent per event (they carry `event.eventId` into what they create).
   *
   * With `audits`, the audit record of a command that answers is put there instead of written: the caller writes
   * it in the same transaction as the answers (the Slack worker: answers, "done" mark and audit in one statement).
   * The record of a command that throws is written here (the caller writes nothing then: the event is retried).
   */
  async handle(event: ChatEvent, options: { audits?: CommandAudit[] } = {}): Promise<Reply[]> {
    const locale = this.localeOf(event);
    const t = translator(ROUTER_MESSAGES, locale);
    let name = 'invalid';
    const audit = (outcome: string, details: Record<string, unknown> = {}, target?: string) => {
      const entry: CommandAudit = {
        actor: event.user.id,
        source: event.platform,
        action: `chat.${name}`,
        target: target ?? null,
        outcome,
        details: {
          channel: event.channel,
          threadTs: event.threadTs ?? null,
          text: event.text,
          eventId: event.eventId,
          ...(event.user.name ? { userName: event.user.name } : {}),
          ...details,
        },
      };
      if (options.audits && outcome !== 'error') {
        options.audits.push(entry);
        return Promise.resolve();
      }
      return this.o.audit?.(entry) ?? Promise.resolve();
    };

    let permission: string | undefined;
    let typed: string;
    let run: () => Promise<RunResult>;
    if (event.action) {
      const action = this.actions.get(event.action.id);
      name = action?.name ?? event.action.id;
      if (!action) {
        const reply = textReply(`:warning: ${escapeMrkdwn(t('unknownAction', { action: event.action.id }))}`);
        await audit('invalid', { error: reply.text });
        return [reply];
      }
      permission = action.permission;
      typed = action.permission ?? action.name ?? event.action.id;
      const value = event.action.value;
      run = () => action.run(value, { event, locale, replyTo: replyAddressOf(event) });
    } else {
      const parsed = this.parse(event.text, locale);
      if (!parsed.ok) {
        await audit('invalid', { error: parsed.error });
        return [textReply(`:warning: ${escapeMrkdwn(parsed.error)}`, parsed.usage)];
      }
      if ('help' in parsed) {
        name = 'help';
        await audit('ok');
        return [textReply(escapeMrkdwn(parsed.help))];
      }
      const r = parsed.registration;
      name = r.name;
      permission = r.spec.permission;
      typed = parsed.typed;
      const ctx: CommandContext = {
        event,
        locale,
        words: parsed.words,
        usage: this.usageOf(r, locale),
        replyTo: replyAddressOf(event),
      };
      run = () => r.spec.run(parsed.input, ctx);
    }

    try {
      if (permission) {
        const decision = await (this.o.permissions?.check(permission, event) ?? { allowed: true as const });
        if (!decision.allowed) {
          const reason = t(decision.code === 'channel' ? 'notInChannel' : 'notForYou', { command: typed });
          throw new CommandAnswer(
            'refused',
            textReply(t('refused', { who: who(event), reason, path: decision.path })),
          );
        }
      }
      const result = await run();
      const replies = Array.isArray(result) ? result : result.replies;
      const target = Array.isArray(result) ? undefined : result.target;
      await audit('ok', {}, target);
      return replies;
    } catch (error) {
      if (error instanceof CommandAnswer) {
        await audit(error.outcome, { reply: error.reply.text });
        return [error.reply];
      }
      await audit('error', { error: error instanceof Error ? error.message : String(error) });
      throw error;
    }
  }
}
