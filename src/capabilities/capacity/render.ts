// What chronops says in chat, as text and Block Kit: the plan of a window (with its Cancel button), the list of
// windows, and the progress lines of a window's transitions. Pure functions of the window and the config, so the
// Slack worker, the progress reporter and the web console all say the same thing.

import {
  type BlockKitBlock,
  CANCEL_ACTION_ID,
  type ChatEvent,
  type ChatPlatform,
  type Reply,
} from '../../chat/port.ts';
import { escapeMrkdwn, truncate } from '../../chat/reply.ts';
import type { Config } from '../../kernel/config.ts';
import { formatDuration, formatLocal, formatLocalTime } from '../../kernel/time.ts';
import type { CapacityWindow, ConvergeOutcome, Hold, Resource, Target, Transition } from './model.ts';
import type { ReaderRecord } from './store.ts';

/** What a window created from chat remembers of where it came from (stored in `window.origin`). */
export interface ChatOrigin {
  platform: ChatPlatform;
  channel: string;
  /** The thread replies and progress go to; absent for a slash command (its plan message starts the thread). */
  threadTs?: string;
  /** The message that asked (the mention). */
  messageTs?: string;
  /** `platform:eventId`: one window per chat event, whatever the redeliveries. */
  eventKey: string;
  user: { id: string; name?: string };
}

/** The product of the alert message the window is for. */
export interface OriginProduct {
  number: number;
  productId: string;
  name: string;
  openAt: string;
  openText: string;
}

export function chatOriginOf(window: CapacityWindow): ChatOrigin | undefined {
  const chat = window.origin?.chat as ChatOrigin | undefined;
  return chat && typeof chat.channel === 'string' && typeof chat.platform === 'string' ? chat : undefined;
}

export function productOf(window: CapacityWindow): OriginProduct | undefined {
  const product = window.origin?.product as OriginProduct | undefined;
  return product && typeof product.productId === 'string' ? product : undefined;
}

/** How a user is named in a message: a mention on Slack, the name elsewhere. */
export function mention(platform: ChatPlatform, user: { id: string; name?: string }): string {
  return platform === 'slack' ? `<@${user.id}>` : (user.name ?? user.id);
}

const KIND_TITLE = { ecs: 'ECS', aurora: 'Aurora' } as const;

/** `ECS web (shop/web)`, `Aurora shop-db (shop-aurora)`. */
export function resourceLabel(resource: Resource | undefined, name: string): string {
  if (!resource) return name;
  return resource.kind === 'ecs'
    ? `ECS ${resource.name} (${resource.cluster}/${resource.service})`
    : `Aurora ${resource.name} (${resource.clusterId})`;
}

function holdChange(hold: Hold, resource: Resource | undefined): string {
  if (hold.kind === 'ecs') return `baseline → ${hold.amount} task${hold.amount === 1 ? '' : 's'}`;
  const cls = resource?.kind === 'aurora' ? ` (${resource.instanceClass})` : '';
  return `+0 → +${hold.amount} reader${hold.amount === 1 ? '' : 's'}${cls}`;
}

const money = (n: number) => `$${n.toFixed(2)}`;

/**
 * The estimated cost of a window's holds: amount × hours × price per unit-hour, for resources with a price. For
 * ECS it counts every task held, including those the baseline runs anyway, so it is an upper bound.
 */
export function estimateCost(
  window: Pick<CapacityWindow, 'holds'>,
  resources: Config['resources'],
): { total: number; lines: string[] } | undefined {
  const lines: string[] = [];
  let total = 0;
  for (const h of window.holds) {
    const price = resources[h.resource]?.pricePerUnitHour;
    if (price === undefined) continue;
    const ms = h.until.getTime() - h.from.getTime();
    const cost = (h.amount * ms * price) / 3_600_000;
    total += cost;
    const unit = h.kind === 'ecs' ? 'task' : 'reader';
    lines.push(
      `${KIND_TITLE[h.kind]} ${h.resource}: ${h.amount} ${unit}${h.amount === 1 ? '' : 's'} × ${formatDuration(ms)} × ${money(price)}/${unit}-h = ${money(cost)}`,
    );
  }
  return lines.length > 0 ? { total, lines } : undefined;
}

function span(holds: Hold[]): { from: Date; until: Date } {
  const from = new Date(Math.min(...holds.map((h) => h.from.getTime())));
  const until = new Date(Math.max(...holds.map((h) => h.until.getTime())));
  return { from, until };
}

/** `16:00` on the reference day, `11-24 16:00` on another. */
function at(d: Date, zone: string, referenceDay: string): string {
  const full = formatLocal(d, zone);
  return full.slice(0, 10) === referenceDay ? full.slice(11) : full.slice(5);
}

export interface PlanState {
  warnings?: string[];
  /** Set once the window is cancelled: the plan is shown struck, without its button. */
  cancelled?: { by: string; at: Date };
}

/** The plan of a window as a chat message: times in the team's zone, resources, cost, Cancel button. */
export function planReply(window: CapacityWindow, config: Config, state: PlanState = {}): Reply {
  const zone = config.timezone;
  const product = productOf(window);
  const origin = chatOriginOf(window);
  const { from, until } = span(window.holds);
  const referenceDay = formatLocal(product ? new Date(product.openAt) : from, zone).slice(0, 10);
  const plainTitle = product ? `${product.productId} ${product.name}` : window.name;
  const title = escapeMrkdwn(plainTitle);
  const cancelled = state.cancelled;

  const starts = new Map<string, Date>();
  for (const h of window.holds) {
    const label = KIND_TITLE[h.kind];
    const seen = starts.get(label);
    if (!seen || h.from < seen) starts.set(label, h.from);
  }
  const scaleOut = [...starts].map(([label, d]) => `${label} ${at(d, zone, referenceDay)}`).join(' · ');
  const fields = [
    product
      ? {
          type: 'mrkdwn' as const,
          text: `*Product*\n#${product.number} · ${escapeMrkdwn(`${product.productId} ${product.name}`)}`,
        }
      : { type: 'mrkdwn' as const, text: `*Window*\n${escapeMrkdwn(window.name)}` },
    product
      ? { type: 'mrkdwn' as const, text: `*Opens*\n${formatLocal(new Date(product.openAt), zone)} (${zone})` }
      : { type: 'mrkdwn' as const, text: `*Starts*\n${formatLocal(from, zone)} (${zone})` },
    { type: 'mrkdwn' as const, text: `*Scale-out*\n${scaleOut}` },
    { type: 'mrkdwn' as const, text: `*Scale-in*\n${at(until, zone, referenceDay)}` },
  ];
  const resourceLines = window.holds.map(
    (h) =>
      `• ${resourceLabel(config.resources[h.resource], h.resource)}: ${holdChange(h, config.resources[h.resource])}`,
  );
  const blocks: BlockKitBlock[] = [
    {
      type: 'header',
      text: {
        type: 'plain_text',
        text: truncate(`${cancelled ? 'Cancelled' : 'Plan'} · ${plainTitle}`, 150),
      },
    },
    { type: 'section', fields },
    { type: 'section', text: { type: 'mrkdwn', text: `*Resources*\n${resourceLines.join('\n')}` } },
  ];
  const cost = config.slack.estimatedCost ? estimateCost(window, config.resources) : undefined;
  if (cost) {
    blocks.push({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: `*Estimated cost* ≈ ${money(cost.total)}\n${cost.lines.map((l) => `• ${l}`).join('\n')}`,
      },
    });
  }
  const context = [`Window \`${window.id}\``];
  if (origin) context.push(`by ${mention(origin.platform, origin.user)}`);
  if (window.dryRun) context.push('dry-run: AWS calls are recorded, not sent');
  if (cancelled) context.push(`cancelled by ${cancelled.by} at ${formatLocalTime(cancelled.at, zone)}`);
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: context.join(' · ') }] });
  for (const warning of state.warnings ?? []) {
    blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `:warning: ${warning}` }] });
  }
  if (!cancelled) {
    blocks.push({
      type: 'actions',
      block_id: `chronops_plan_${window.id}`,
      elements: [
        {
          type: 'button',
          action_id: CANCEL_ACTION_ID,
          text: { type: 'plain_text', text: 'Cancel' },
          style: 'danger',
          value: window.id,
          confirm: {
            title: { type: 'plain_text', text: 'Cancel this window?' },
            text: {
              type: 'mrkdwn',
              text: `Window \`${window.id}\` (${title}) will not scale anything; capacity it already added goes back to the plan without it.`,
            },
            confirm: { type: 'plain_text', text: 'Cancel the window' },
            deny: { type: 'plain_text', text: 'Keep it' },
            style: 'danger',
          },
        },
      ],
    });
  }
  const summary = window.holds
    .map((h) =>
      h.kind === 'ecs'
        ? `ECS ${h.resource} → ${h.amount} tasks from ${at(h.from, zone, referenceDay)}`
        : `Aurora ${h.resource} +${h.amount} readers from ${at(h.from, zone, referenceDay)}`,
    )
    .join(', ');
  const text = cancelled
    ? `Cancelled: plan for ${title} (window ${window.id}), cancelled by ${cancelled.by}`
    : `Plan for ${title}: ${summary}, until ${at(until, zone, referenceDay)} (window ${window.id})${window.dryRun ? ' [dry-run]' : ''}`;
  return { text, blocks, windowId: window.id, ...(cancelled ? { replaceOriginal: true } : {}) };
}

/** The `list` answer: active and upcoming windows with their ids. */
export function listReply(windows: CapacityWindow[], config: Config): Reply {
  if (windows.length === 0) {
    return { text: 'No active or upcoming windows.' };
  }
  const zone = config.timezone;
  const today = formatLocal(new Date(), zone).slice(0, 10);
  const lines = windows.map((w) => {
    const { from, until } = span(w.holds);
    const what = w.holds
      .map((h) => (h.kind === 'ecs' ? `ECS ${h.resource} ${h.amount}` : `Aurora ${h.resource} +${h.amount}`))
      .join(' · ');
    const origin = chatOriginOf(w);
    const by = origin ? mention(origin.platform, origin.user) : w.createdBy;
    return `• \`${w.id}\` ${escapeMrkdwn(w.name)} — ${w.status}${w.dryRun ? ' (dry-run)' : ''} — ${what} — ${at(from, zone, today)} → ${at(until, zone, today)} — by ${by}`;
  });
  const text = `Active and upcoming windows (${windows.length}):\n${lines.join('\n')}`;
  return { text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: truncate(text, 3000) } }] };
}

export { escapeMrkdwn, textReply } from '../../chat/reply.ts';

// ---- progress ----------------------------------------------------------------------------------------------------

const TRANSITION_WORD = { start: 'scale-out', end: 'scale-in', reconcile: 'back to plan' } as const;

function dry(t: Transition): string {
  return t.dryRun ? ' [dry-run]' : '';
}

/** `min 2 max 10` → `min 12 max 12` as `min 2→12, max 10→12`; anything else as `from → to`. */
export function describeChange(outcome: Pick<ConvergeOutcome, 'from' | 'to' | 'changed'>): string {
  const pairs = (s: string) => [...s.matchAll(/([a-z]+) (\d+)/g)].map((m) => [m[1]!, m[2]!] as const);
  const a = pairs(outcome.from);
  const b = pairs(outcome.to);
  const sameShape =
    a.length > 0 &&
    a.length === b.length &&
    a.every(([k], i) => b[i]![0] === k) &&
    outcome.from.replace(/\d+/g, '#') === outcome.to.replace(/\d+/g, '#');
  if (!outcome.changed) return `already ${outcome.to}`;
  if (!sameShape) return `${outcome.from} → ${outcome.to}`;
  return a
    .map(([k, v], i) => [k, v, b[i]![1]] as const)
    .filter(([, v, w]) => v !== w)
    .map(([k, v, w]) => `${k} ${v}→${w}`)
    .join(', ');
}

function targetText(resource: Resource | undefined, target: Target | null): string {
  if (target === null) return 'back to baseline';
  return resource?.kind === 'aurora' ? `to +${target.amount} readers` : `to ${target.amount} tasks`;
}

export function startedText(t: Transition, resource: Resource | undefined, target: Target | null): string {
  return `:hourglass_flowing_sand: ${resourceLabel(resource, t.resource)} ${TRANSITION_WORD[t.kind]}: scaling ${targetText(resource, target)}…${dry(t)}`;
}

export function doneText(t: Transition, resource: Resource | undefined, outcome: ConvergeOutcome): string {
  const readers = outcome.createdReaders?.length ? `; new readers: ${outcome.createdReaders.join(', ')}` : '';
  return `:white_check_mark: ${resourceLabel(resource, t.resource)} ${describeChange(outcome)} done${readers}${dry(t)}`;
}

export function failedText(
  t: Transition,
  resource: Resource | undefined,
  error: string,
  willRetry: boolean,
): string {
  return `:x: ${resourceLabel(resource, t.resource)} ${TRANSITION_WORD[t.kind]} failed: ${truncate(error, 500)}${willRetry ? ' (chronops will retry)' : ''}${dry(t)}`;
}

export function missedText(t: Transition, resource: Resource | undefined): string {
  return `:warning: ${resourceLabel(resource, t.resource)} ${TRANSITION_WORD[t.kind]} was missed (due ${t.dueAt.toISOString()}; chronops was not running within the grace period), so this window does not count for it`;
}

export function readerAvailableText(reader: ReaderRecord, timeToReadyMs: number): string {
  return `:large_green_circle: replica ${reader.instanceId} available after ${formatDuration(timeToReadyMs)}`;
}

export function readerFailedText(reader: ReaderRecord, reason: string): string {
  return `:x: replica ${reader.instanceId}: ${reason}`;
}

/** `<@U1>` for a Slack user, the name or id elsewhere, from an event. */
export function who(event: Pick<ChatEvent, 'platform' | 'user'>): string {
  return mention(event.platform, event.user);
}
