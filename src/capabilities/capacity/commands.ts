// What capacity's chat commands do, registered on the one command router (src/chat/router.ts), which reads the
// text, checks the permission key, audits and answers typos; the grammar is in grammar.ts. Every door (Slack
// mentions and the slash command, Slack's Cancel button, JANDI, Teams, the web console) reaches these through the
// router; nothing here knows how a message travels.
//
// This is the example to follow for a capability's commands: a `register…Commands(router, deps)` the host calls,
// runs that return Reply values, CommandAnswer for answers that are not a success, replies from a catalogue.

import { type Locale, translator } from '../../chat/messages.ts';
import type { ChatEvent, Reply } from '../../chat/port.ts';
import { escapeMrkdwn, textReply } from '../../chat/reply.ts';
import { CommandAnswer, type CommandContext, type CommandRouter } from '../../chat/router.ts';
import type { Config } from '../../kernel/config.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../kernel/errors.ts';
import { formatLocal, parseLocalDateTime } from '../../kernel/time.ts';
import {
  type Ask,
  CAPACITY_MESSAGES,
  type CreateCommand,
  type NowCommand,
  registerCapacityGrammar,
} from './grammar.ts';
import type { CapacityWindow } from './model.ts';
import { type ChatOrigin, listReply, type OriginProduct, planReply, who } from './render.ts';
import type { Actor, CapacityService } from './service.ts';
import { type Product, ProductNotFoundError, parseProductThread } from './thread-parser.ts';
import type { CapacityAsk, WindowRequest } from './windows.ts';

export interface CapacityCommandOptions {
  service: CapacityService;
  config: Config;
  /** The window an event already created (a redelivered or re-run event), by `eventKey`. */
  windowForEvent: (eventKey: string) => Promise<string | null>;
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

type Result = { replies: Reply[]; target: string };

/** Registers create, list, delete, now and the plan's Cancel button on the router. */
export function registerCapacityCommands(
  router: CommandRouter,
  options: CapacityCommandOptions,
): CommandRouter {
  const c = new CapacityCommands(options);
  registerCapacityGrammar(router, {
    create: (command, ctx) => c.create(command, ctx),
    list: async (_command, ctx) => [
      listReply(await options.service.list(['scheduled', 'active'], 50), options.config, ctx.locale),
    ],
    delete: (command, ctx) => c.cancel(command.id, ctx.event, ctx.locale),
    now: (command, ctx) => c.now_(command, ctx),
  });
  // The Cancel button of a plan message: a delete of its window, under the same permission.
  router.action('cancel', {
    permission: 'delete',
    run: (windowId, ctx) => c.cancel(windowId, ctx.event, ctx.locale),
  });
  return router;
}

class CapacityCommands {
  private readonly o: CapacityCommandOptions;
  private readonly now: () => Date;

  constructor(options: CapacityCommandOptions) {
    this.o = options;
    this.now = options.now ?? (() => new Date());
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
  private async createOnce(ctx: CommandContext, request: WindowRequest, product?: Product): Promise<Result> {
    const { event } = ctx;
    const t = translator(CAPACITY_MESSAGES, ctx.locale);
    const existing = await this.o.windowForEvent(eventKeyOf(event));
    if (existing) {
      const window = await this.o.service.get(existing);
      return { replies: [planReply(window, this.o.config, { locale: ctx.locale })], target: window.id };
    }
    let created: { window: CapacityWindow; warnings: string[] };
    try {
      created = await this.o.service.create(request, this.actor(event), this.origin(event, product));
    } catch (error) {
      if (error instanceof ValidationError) {
        const issues = error.issues.map((i) => `• ${i.field}: ${escapeMrkdwn(i.message)}`).join('\n');
        throw new CommandAnswer('invalid', textReply(`:warning: ${t('cannotPlan')}\n${issues}`, ctx.usage));
      }
      // The unique index on the event key: another worker made it meanwhile.
      const id = await this.o.windowForEvent(eventKeyOf(event));
      if (!id) throw error;
      const window = await this.o.service.get(id);
      return { replies: [planReply(window, this.o.config, { locale: ctx.locale })], target: id };
    }
    return {
      replies: [planReply(created.window, this.o.config, { warnings: created.warnings, locale: ctx.locale })],
      target: created.window.id,
    };
  }

  async create(command: CreateCommand, ctx: CommandContext): Promise<Result> {
    const { event } = ctx;
    const t = translator(CAPACITY_MESSAGES, ctx.locale);
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
        throw new CommandAnswer(
          'invalid',
          textReply(`:warning: ${t('cannotReadThread', { error: escapeMrkdwn(error.message) })}`),
        );
      }
      const found = parsed.products.find((p) => p.number === command.product);
      if (!found) {
        throw new CommandAnswer(
          'not_found',
          textReply(
            `:warning: ${escapeMrkdwn(new ProductNotFoundError(command.product, parsed).message)}`,
            ctx.usage,
          ),
        );
      }
      product = found;
      threadDate = parsed.date;
    } else if (command.timing.mode === 'auto') {
      const why = event.parentText === null ? t('parentUnreadable') : t('autoNeedsThread');
      throw new CommandAnswer('invalid', textReply(`:warning: ${t('giveTimes', { why })}`, ctx.usage));
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
          throw new CommandAnswer(
            'invalid',
            textReply(`:warning: ${escapeMrkdwn(error.message)}`, ctx.usage),
          );
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
    return this.createOnce(ctx, request, product);
  }

  /** `now`: a window from (about) now for --for minutes. */
  async now_(command: NowCommand, ctx: CommandContext): Promise<Result> {
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
    return this.createOnce(ctx, request);
  }

  async cancel(id: string, event: ChatEvent, locale: Locale): Promise<Result> {
    const t = translator(CAPACITY_MESSAGES, locale);
    let window: CapacityWindow;
    try {
      window = await this.o.service.cancel(id, this.actor(event));
    } catch (error) {
      if (error instanceof NotFoundError) {
        throw new CommandAnswer(
          'not_found',
          textReply(`:warning: ${t('noWindow', { id: escapeMrkdwn(id) })}`),
        );
      }
      if (error instanceof ConflictError) {
        throw new CommandAnswer(
          'conflict',
          textReply(`:information_source: ${t('nothingToCancel', { error: escapeMrkdwn(error.message) })}`),
        );
      }
      throw error;
    }
    const by = who(event);
    const plan = planReply(window, this.o.config, {
      cancelled: { by, at: window.cancelledAt ?? this.now() },
      locale,
    });
    if (event.action) return { replies: [plan], target: id };
    return {
      replies: [textReply(`:no_entry_sign: ${t('cancelled', { id, name: window.name })}`)],
      target: id,
    };
  }
}
