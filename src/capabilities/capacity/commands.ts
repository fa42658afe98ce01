// The ONE handler of chat commands. Every door (Slack mentions and the slash command, Slack's Cancel button, the
// web console) turns its input into a ChatEvent and renders the Reply values it gets back; nothing here knows
// how a message travels. Every command, allowed, refused or malformed, leaves an audit record with the user, the
// channel and the raw text.

import {
  type Ask,
  type Command,
  type CreateCommand,
  type NowCommand,
  parseCommand,
  usage,
} from '../../chat/grammar.ts';
import type { GuardedCommand, PermissionPolicy } from '../../chat/permissions.ts';
import type { ChatEvent, Reply } from '../../chat/port.ts';
import type { Config } from '../../kernel/config.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../kernel/errors.ts';
import { formatLocal, parseLocalDateTime } from '../../kernel/time.ts';
import type { CapacityWindow } from './model.ts';
import {
  type ChatOrigin,
  escapeMrkdwn,
  listReply,
  type OriginProduct,
  planReply,
  textReply,
  who,
} from './render.ts';
import type { Actor, CapacityService } from './service.ts';
import type { AuditEntry } from './store.ts';
import { type Product, ProductNotFoundError, parseProductThread } from './thread-parser.ts';
import type { CapacityAsk, WindowRequest } from './windows.ts';

export interface CommandHandlerOptions {
  service: CapacityService;
  config: Config;
  /** Writes one audit record. */
  audit: (entry: AuditEntry) => Promise<void>;
  /** The window an event already created (a redelivered or re-run event), by `eventKey`. */
  windowForEvent: (eventKey: string) => Promise<string | null>;
  /** Allow-lists; absent: everything is allowed. */
  permissions?: PermissionPolicy;
  now?: () => Date;
}

/** `slack:event:Ev123`: the key of an event across doors, stored in the windows it creates. */
export function eventKeyOf(event: Pick<ChatEvent, 'platform' | 'eventId'>): string {
  return `${event.platform}:${event.eventId}`;
}

/** Window names allow letters, digits, Hangul and ` _.:#-`; a product id from a custom pattern may hold more. */
function windowName(text: string): string {
  const cleaned = text
    .replace(/[^\w .:#\-\p{Script=Hangul}]/gu, '-')
    .trim()
    .slice(0, 64);
  return cleaned || 'window';
}

function askList(ask: Ask | undefined): CapacityAsk[] | undefined {
  if (!ask) return undefined;
  return [
    ask.resource === undefined ? { amount: ask.amount } : { resource: ask.resource, amount: ask.amount },
  ];
}

/** An outcome that is an answer to the person, not a failure of chronops: replied and audited as such. */
class Answer extends Error {
  readonly outcome: string;
  readonly reply: Reply;
  constructor(outcome: string, reply: Reply) {
    super(reply.text);
    this.outcome = outcome;
    this.reply = reply;
  }
}

export class CommandHandler {
  private readonly o: CommandHandlerOptions;
  private readonly now: () => Date;

  constructor(options: CommandHandlerOptions) {
    this.o = options;
    this.now = options.now ?? (() => new Date());
  }

  /**
   * Handles one event. Answers people get (bad syntax, a refusal, an unknown window) are replies; an error
   * thrown from here is chronops' own failure (the database is down), which the door may retry: a retried
   * create finds the window the first attempt made.
   */
  async handle(event: ChatEvent): Promise<Reply[]> {
    const parsed = event.action
      ? ({ ok: true, command: { name: 'delete', id: event.action.value } } as const)
      : parseCommand(event.text);
    const name = event.action ? 'cancel' : parsed.ok ? parsed.command.name : 'invalid';
    const audit = (outcome: string, details: Record<string, unknown> = {}, target?: string) =>
      this.o.audit({
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
      });

    if (!parsed.ok) {
      await audit('invalid', { error: parsed.error });
      return [textReply(`:warning: ${escapeMrkdwn(parsed.error)}`, parsed.usage)];
    }
    const command = parsed.command;
    try {
      const guarded = guardOf(command);
      if (guarded) {
        const decision = await (this.o.permissions?.check(guarded, event) ?? { allowed: true as const });
        if (!decision.allowed) {
          throw new Answer(
            'refused',
            textReply(
              `Sorry ${who(event)}, I can't do that: ${decision.reason}. ` +
                `An admin can allow it in the config (slack.permissions.${guarded}).`,
            ),
          );
        }
      }
      const { replies, target } = await this.run(command, event);
      await audit('ok', {}, target);
      return replies;
    } catch (error) {
      if (error instanceof Answer) {
        await audit(error.outcome, { reply: error.reply.text });
        return [error.reply];
      }
      await audit('error', { error: error instanceof Error ? error.message : String(error) });
      throw error;
    }
  }

  private async run(command: Command, event: ChatEvent): Promise<{ replies: Reply[]; target?: string }> {
    switch (command.name) {
      case 'help':
        return { replies: [textReply(escapeMrkdwn(usage(command.topic)))] };
      case 'list': {
        const windows = await this.o.service.list(['scheduled', 'active'], 50);
        return { replies: [listReply(windows, this.o.config)] };
      }
      case 'delete':
        return this.cancel(command.id, event);
      case 'create':
        return this.create(command, event);
      case 'now':
        return this.now_(command, event);
    }
  }

  private actor(event: ChatEvent): Actor {
    return { id: event.user.id, source: event.platform };
  }

  private origin(event: ChatEvent, product?: Product): Record<string, unknown> {
    const chat: ChatOrigin = {
      platform: event.platform,
      channel: event.channel,
      eventKey: eventKeyOf(event),
      user: event.user.name ? { id: event.user.id, name: event.user.name } : { id: event.user.id },
    };
    // Replies go in the thread of the mention: the thread it is in, or a new one under it.
    const thread = event.threadTs ?? event.messageTs;
    if (thread) chat.threadTs = thread;
    if (event.messageTs) chat.messageTs = event.messageTs;
    const origin: Record<string, unknown> = { chat };
    if (product) {
      const p: OriginProduct = {
        number: product.number,
        productId: product.productId,
        name: product.name,
        openAt: product.openAt.toISOString(),
        openText: product.openText,
      };
      origin.product = p;
    }
    return origin;
  }

  /** Creates the window, or — when this event already created one — shows that one again. */
  private async createOnce(
    event: ChatEvent,
    topic: 'create' | 'now',
    request: WindowRequest,
    product?: Product,
  ): Promise<{ replies: Reply[]; target: string }> {
    const existing = await this.o.windowForEvent(eventKeyOf(event));
    if (existing) {
      const window = await this.o.service.get(existing);
      return { replies: [planReply(window, this.o.config)], target: window.id };
    }
    let created: { window: CapacityWindow; warnings: string[] };
    try {
      created = await this.o.service.create(request, this.actor(event), this.origin(event, product));
    } catch (error) {
      if (error instanceof ValidationError) {
        const issues = error.issues.map((i) => `• ${i.field}: ${escapeMrkdwn(i.message)}`).join('\n');
        throw new Answer('invalid', textReply(`:warning: I can't plan that:\n${issues}`, usage(topic)));
      }
      // The unique index on the event key: another worker made it meanwhile.
      const id = await this.o.windowForEvent(eventKeyOf(event));
      if (!id) throw error;
      const window = await this.o.service.get(id);
      return { replies: [planReply(window, this.o.config)], target: id };
    }
    return {
      replies: [planReply(created.window, this.o.config, { warnings: created.warnings })],
      target: created.window.id,
    };
  }

  private async create(
    command: CreateCommand,
    event: ChatEvent,
  ): Promise<{ replies: Reply[]; target: string }> {
    const zone = this.o.config.timezone;
    const now = this.now();
    let product: Product | undefined;
    let threadDate: string | undefined;
    if (typeof event.parentText === 'string') {
      let parsed: ReturnType<typeof parseProductThread>;
      try {
        parsed = parseProductThread(event.parentText, {
          zone,
          now,
          pattern: this.o.config.slack.threadPattern,
        });
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        throw new Answer(
          'invalid',
          textReply(`:warning: I can't read the thread's message: ${escapeMrkdwn(error.message)}`),
        );
      }
      const found = parsed.products.find((p) => p.number === command.product);
      if (!found) {
        throw new Answer(
          'not_found',
          textReply(
            `:warning: ${escapeMrkdwn(new ProductNotFoundError(command.product, parsed).message)}`,
            usage('create'),
          ),
        );
      }
      product = found;
      threadDate = parsed.date;
    } else if (command.timing.mode === 'auto') {
      const why =
        event.parentText === null
          ? "I couldn't read the message this thread belongs to (is chronops in the channel, with channels:history / groups:history?)"
          : 'create with --auto works in the thread of the product alert message';
      throw new Answer(
        'invalid',
        textReply(
          `:warning: ${why}. Mention me in that thread, or give the times: --time "YYYY-MM-DD HH:mm" [--until …].`,
          usage('create'),
        ),
      );
    }

    let timing: WindowRequest['timing'];
    if (command.timing.mode === 'auto') {
      timing = { mode: 'auto', open: product!.openAt.toISOString() };
    } else {
      const day = threadDate ?? formatLocal(now, zone).slice(0, 10);
      const atText = command.timing.at.length === 5 ? `${day} ${command.timing.at}` : command.timing.at;
      let until = command.timing.until;
      if (until === undefined) {
        // No --until: scale in when --auto would (after the open), or that long after --time.
        let at: Date;
        try {
          at = parseLocalDateTime(atText, zone, { field: '--time' });
        } catch (error) {
          if (!(error instanceof ValidationError)) throw error;
          throw new Answer('invalid', textReply(`:warning: ${escapeMrkdwn(error.message)}`, usage('create')));
        }
        const afterMs = this.o.config.leadTimes.scaleInMinutesAfterOpen * 60_000;
        const byOpen = product ? product.openAt.getTime() + afterMs : 0;
        until = new Date(Math.max(byOpen, at.getTime() + afterMs)).toISOString();
      }
      timing = { mode: 'explicit', at: atText, until };
    }
    const request: WindowRequest = {
      name: windowName(product ? product.productId : `product #${command.product}`),
      timing,
      dryRun: command.dryRun,
    };
    const ecs = askList(command.ecs);
    const aurora = askList(command.rds);
    if (ecs) request.ecs = ecs;
    if (aurora) request.aurora = aurora;
    return this.createOnce(event, 'create', request, product);
  }

  /** `now`: a window from (about) now for --for minutes. */
  private async now_(command: NowCommand, event: ChatEvent): Promise<{ replies: Reply[]; target: string }> {
    // A second's margin, rounded up: the window must not start before the service's own clock reads it.
    const at = new Date(Math.ceil((this.now().getTime() + 1000) / 1000) * 1000);
    const until = new Date(at.getTime() + command.forMinutes * 60_000);
    const request: WindowRequest = {
      name: windowName(`now ${formatLocal(at, this.o.config.timezone).slice(11)}`),
      timing: { mode: 'explicit', at: at.toISOString(), until: until.toISOString() },
      dryRun: command.dryRun,
    };
    const ecs = askList(command.ecs);
    const aurora = askList(command.rds);
    if (ecs) request.ecs = ecs;
    if (aurora) request.aurora = aurora;
    return this.createOnce(event, 'now', request);
  }

  private async cancel(id: string, event: ChatEvent): Promise<{ replies: Reply[]; target: string }> {
    let window: CapacityWindow;
    try {
      window = await this.o.service.cancel(id, this.actor(event));
    } catch (error) {
      if (error instanceof NotFoundError) {
        throw new Answer(
          'not_found',
          textReply(`:warning: There is no window \`${escapeMrkdwn(id)}\`. \`list\` shows them.`),
        );
      }
      if (error instanceof ConflictError) {
        throw new Answer(
          'conflict',
          textReply(`:information_source: ${escapeMrkdwn(error.message)}; nothing to cancel.`),
        );
      }
      throw error;
    }
    const by = who(event);
    const plan = planReply(window, this.o.config, {
      cancelled: { by, at: window.cancelledAt ?? this.now() },
    });
    if (event.action) return { replies: [plan], target: id };
    return {
      replies: [
        textReply(
          `:no_entry_sign: Cancelled window \`${id}\` (${window.name}). Capacity it added goes back to the plan without it.`,
        ),
      ],
      target: id,
    };
  }
}

function guardOf(command: Command): GuardedCommand | undefined {
  return command.name === 'create' || command.name === 'delete' || command.name === 'now'
    ? command.name
    : undefined;
}
