// What chronops says in chat, as text and Block Kit: the plan of a window (with its Cancel button), the list of
// windows, and the progress lines of a window's transitions. Pure functions of the window and the config, so the
// Slack worker, the progress reporter and the web console all say the same thing.

import { type Catalogue, type Locale, translator } from '../../chat/messages.ts';
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

/** What capacity's plans, lists and progress lines say, in every locale (its commands' own: grammar.ts). */
export const RENDER_MESSAGES: Catalogue<
  | 'tasks'
  | 'task'
  | 'readers'
  | 'reader'
  | 'toTasks'
  | 'plusReaders'
  | 'plan'
  | 'cancelledTitle'
  | 'product'
  | 'window'
  | 'opens'
  | 'starts'
  | 'scaleOutField'
  | 'scaleInField'
  | 'resources'
  | 'estimatedCost'
  | 'windowId'
  | 'by'
  | 'dryRunNote'
  | 'cancelledBy'
  | 'cancel'
  | 'cancelTitle'
  | 'cancelText'
  | 'cancelConfirm'
  | 'cancelDeny'
  | 'summaryEcs'
  | 'summaryAurora'
  | 'planText'
  | 'cancelledText'
  | 'noWindows'
  | 'windows'
  | 'scaleOut'
  | 'scaleIn'
  | 'reconcile'
  | 'baseline'
  | 'scaling'
  | 'already'
  | 'done'
  | 'newReaders'
  | 'failed'
  | 'willRetry'
  | 'missed'
  | 'readerAvailable'
  | 'toTasksTarget'
  | 'toReadersTarget'
> = {
  en: {
    tasks: 'tasks',
    task: 'task',
    readers: 'readers',
    reader: 'reader',
    toTasks: 'baseline → {n} {unit}',
    plusReaders: '+0 → +{n} {unit}',
    plan: 'Plan',
    cancelledTitle: 'Cancelled',
    product: 'Product',
    window: 'Window',
    opens: 'Opens',
    starts: 'Starts',
    scaleOutField: 'Scale-out',
    scaleInField: 'Scale-in',
    resources: 'Resources',
    estimatedCost: 'Estimated cost',
    windowId: 'Window `{id}`',
    by: 'by {who}',
    dryRunNote: 'dry-run: AWS calls are recorded, not sent',
    cancelledBy: 'cancelled by {who} at {at}',
    cancel: 'Cancel',
    cancelTitle: 'Cancel this window?',
    cancelText:
      'Window `{id}` ({title}) will not scale anything; capacity it already added goes back to the plan without it.',
    cancelConfirm: 'Cancel the window',
    cancelDeny: 'Keep it',
    summaryEcs: 'ECS {resource} → {n} {unit} from {at}',
    summaryAurora: 'Aurora {resource} +{n} {unit} from {at}',
    planText: 'Plan for {title}: {summary}, until {until} (window {id}){dry}',
    cancelledText: 'Cancelled: plan for {title} (window {id}), cancelled by {who}',
    noWindows: 'No active or upcoming windows.',
    windows: 'Active and upcoming windows ({n}):',
    scaleOut: 'scale-out',
    scaleIn: 'scale-in',
    reconcile: 'back to plan',
    baseline: 'back to baseline',
    scaling: 'scaling {target}…',
    already: 'already {to}',
    done: 'done',
    newReaders: 'new readers',
    failed: 'failed',
    willRetry: ' (chronops will retry)',
    missed:
      'was missed (due {due}; chronops was not running within the grace period), so this window does not count for it',
    readerAvailable: 'replica {id} available after {after}',
    toTasksTarget: 'to {n} {unit}',
    toReadersTarget: 'to +{n} {unit}',
  },
  ko: {
    tasks: '태스크',
    task: '태스크',
    readers: '읽기 복제본',
    reader: '읽기 복제본',
    toTasks: '기본값 → {n} {unit}',
    plusReaders: '+0 → +{n} {unit}',
    plan: '계획',
    cancelledTitle: '취소됨',
    product: '상품',
    window: '윈도우',
    opens: '오픈',
    starts: '시작',
    scaleOutField: '스케일 아웃',
    scaleInField: '스케일 인',
    resources: '리소스',
    estimatedCost: '예상 비용',
    windowId: '윈도우 `{id}`',
    by: '요청: {who}',
    dryRunNote: 'dry-run: AWS 호출은 기록만 하고 보내지 않습니다',
    cancelledBy: '{who} 님이 {at} 에 취소',
    cancel: '취소',
    cancelTitle: '이 윈도우를 취소할까요?',
    cancelText:
      '윈도우 `{id}` ({title}) 는 더 이상 스케일하지 않습니다. 이미 추가된 용량은 이 윈도우 없이 계획대로 돌아갑니다.',
    cancelConfirm: '윈도우 취소',
    cancelDeny: '유지',
    summaryEcs: 'ECS {resource} → 태스크 {n}개 ({at} 부터)',
    summaryAurora: 'Aurora {resource} 읽기 복제본 +{n}개 ({at} 부터)',
    planText: '{title} 계획: {summary}, {until} 까지 (윈도우 {id}){dry}',
    cancelledText: '취소됨: {title} 계획 (윈도우 {id}), {who} 님이 취소',
    noWindows: '진행 중이거나 예정된 윈도우가 없습니다.',
    windows: '진행 중이거나 예정된 윈도우 ({n}개):',
    scaleOut: '스케일 아웃',
    scaleIn: '스케일 인',
    reconcile: '계획으로 복귀',
    baseline: '기본값으로',
    scaling: '{target} 스케일 중…',
    already: '이미 {to}',
    done: '완료',
    newReaders: '새 읽기 복제본',
    failed: '실패',
    willRetry: ' (chronops 가 다시 시도합니다)',
    missed:
      '을(를) 놓쳤습니다 (예정 {due}; 유예 시간 안에 chronops 가 실행 중이 아니었습니다). 이 윈도우는 반영되지 않습니다',
    readerAvailable: '복제본 {id} 사용 가능 ({after} 걸림)',
    toTasksTarget: '태스크 {n}개로',
    toReadersTarget: '읽기 복제본 +{n}개로',
  },
};

const msgs = (locale: Locale) => translator(RENDER_MESSAGES, locale);

/** `ECS web (shop/web)`, `Aurora shop-db (shop-aurora)`. */
export function resourceLabel(resource: Resource | undefined, name: string): string {
  if (!resource) return name;
  return resource.kind === 'ecs'
    ? `ECS ${resource.name} (${resource.cluster}/${resource.service})`
    : `Aurora ${resource.name} (${resource.clusterId})`;
}

function holdChange(hold: Hold, resource: Resource | undefined, locale: Locale): string {
  const m = msgs(locale);
  if (hold.kind === 'ecs')
    return m('toTasks', { n: hold.amount, unit: m(hold.amount === 1 ? 'task' : 'tasks') });
  const cls = resource?.kind === 'aurora' ? ` (${resource.instanceClass})` : '';
  return `${m('plusReaders', { n: hold.amount, unit: m(hold.amount === 1 ? 'reader' : 'readers') })}${cls}`;
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
  /** The language (a command's event's; default the config's). */
  locale?: Locale;
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
  const m = msgs(state.locale ?? config.locale);

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
          text: `*${m('product')}*\n#${product.number} · ${escapeMrkdwn(`${product.productId} ${product.name}`)}`,
        }
      : { type: 'mrkdwn' as const, text: `*${m('window')}*\n${escapeMrkdwn(window.name)}` },
    product
      ? {
          type: 'mrkdwn' as const,
          text: `*${m('opens')}*\n${formatLocal(new Date(product.openAt), zone)} (${zone})`,
        }
      : { type: 'mrkdwn' as const, text: `*${m('starts')}*\n${formatLocal(from, zone)} (${zone})` },
    { type: 'mrkdwn' as const, text: `*${m('scaleOutField')}*\n${scaleOut}` },
    { type: 'mrkdwn' as const, text: `*${m('scaleInField')}*\n${at(until, zone, referenceDay)}` },
  ];
  const resourceLines = window.holds.map(
    (h) =>
      `• ${resourceLabel(config.resources[h.resource], h.resource)}: ${holdChange(h, config.resources[h.resource], state.locale ?? config.locale)}`,
  );
  const blocks: BlockKitBlock[] = [
    {
      type: 'header',
      text: {
        type: 'plain_text',
        text: truncate(`${cancelled ? m('cancelledTitle') : m('plan')} · ${plainTitle}`, 150),
      },
    },
    { type: 'section', fields },
    { type: 'section', text: { type: 'mrkdwn', text: `*${m('resources')}*\n${resourceLines.join('\n')}` } },
  ];
  const cost = config.slack.estimatedCost ? estimateCost(window, config.resources) : undefined;
  if (cost) {
    blocks.push({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: `*${m('estimatedCost')}* ≈ ${money(cost.total)}\n${cost.lines.map((l) => `• ${l}`).join('\n')}`,
      },
    });
  }
  const context = [m('windowId', { id: window.id })];
  if (origin) context.push(m('by', { who: mention(origin.platform, origin.user) }));
  if (window.dryRun) context.push(m('dryRunNote'));
  if (cancelled)
    context.push(m('cancelledBy', { who: cancelled.by, at: formatLocalTime(cancelled.at, zone) }));
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
          text: { type: 'plain_text', text: m('cancel') },
          style: 'danger',
          value: window.id,
          confirm: {
            title: { type: 'plain_text', text: m('cancelTitle') },
            text: { type: 'mrkdwn', text: m('cancelText', { id: window.id, title }) },
            confirm: { type: 'plain_text', text: m('cancelConfirm') },
            deny: { type: 'plain_text', text: m('cancelDeny') },
            style: 'danger',
          },
        },
      ],
    });
  }
  const summary = window.holds
    .map((h) =>
      m(h.kind === 'ecs' ? 'summaryEcs' : 'summaryAurora', {
        resource: h.resource,
        n: h.amount,
        unit:
          h.kind === 'ecs' ? m(h.amount === 1 ? 'task' : 'tasks') : m(h.amount === 1 ? 'reader' : 'readers'),
        at: at(h.from, zone, referenceDay),
      }),
    )
    .join(', ');
  const text = cancelled
    ? m('cancelledText', { title, id: window.id, who: cancelled.by })
    : m('planText', {
        title,
        summary,
        until: at(until, zone, referenceDay),
        id: window.id,
        dry: window.dryRun ? ' [dry-run]' : '',
      });
  return { text, blocks, windowId: window.id, ...(cancelled ? { replaceOriginal: true } : {}) };
}

/** The `list` answer: active and upcoming windows with their ids. */
export function listReply(windows: CapacityWindow[], config: Config, locale: Locale = config.locale): Reply {
  const m = msgs(locale);
  if (windows.length === 0) {
    return { text: m('noWindows') };
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
    return `• \`${w.id}\` ${escapeMrkdwn(w.name)} — ${w.status}${w.dryRun ? ' (dry-run)' : ''} — ${what} — ${at(from, zone, today)} → ${at(until, zone, today)} — ${m('by', { who: by })}`;
  });
  const text = `${m('windows', { n: windows.length })}\n${lines.join('\n')}`;
  return { text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: truncate(text, 3000) } }] };
}

export { escapeMrkdwn, textReply } from '../../chat/reply.ts';

// ---- progress ----------------------------------------------------------------------------------------------------

const TRANSITION_WORD = { start: 'scaleOut', end: 'scaleIn', reconcile: 'reconcile' } as const;

function dry(t: Transition): string {
  return t.dryRun ? ' [dry-run]' : '';
}

/** `min 2 max 10` → `min 12 max 12` as `min 2→12, max 10→12`; anything else as `from → to`. */
export function describeChange(
  outcome: Pick<ConvergeOutcome, 'from' | 'to' | 'changed'>,
  locale: Locale = 'en',
): string {
  const pairs = (s: string) => [...s.matchAll(/([a-z]+) (\d+)/g)].map((m) => [m[1]!, m[2]!] as const);
  const a = pairs(outcome.from);
  const b = pairs(outcome.to);
  const sameShape =
    a.length > 0 &&
    a.length === b.length &&
    a.every(([k], i) => b[i]![0] === k) &&
    outcome.from.replace(/\d+/g, '#') === outcome.to.replace(/\d+/g, '#');
  if (!outcome.changed) return msgs(locale)('already', { to: outcome.to });
  if (!sameShape) return `${outcome.from} → ${outcome.to}`;
  return a
    .map(([k, v], i) => [k, v, b[i]![1]] as const)
    .filter(([, v, w]) => v !== w)
    .map(([k, v, w]) => `${k} ${v}→${w}`)
    .join(', ');
}

function targetText(resource: Resource | undefined, target: Target | null, locale: Locale): string {
  const m = msgs(locale);
  if (target === null) return m('baseline');
  return m(resource?.kind === 'aurora' ? 'toReadersTarget' : 'toTasksTarget', {
    n: target.amount,
    unit:
      resource?.kind === 'aurora'
        ? m(target.amount === 1 ? 'reader' : 'readers')
        : m(target.amount === 1 ? 'task' : 'tasks'),
  });
}

export function startedText(
  t: Transition,
  resource: Resource | undefined,
  target: Target | null,
  locale: Locale = 'en',
): string {
  const m = msgs(locale);
  return `:hourglass_flowing_sand: ${resourceLabel(resource, t.resource)} ${m(TRANSITION_WORD[t.kind])}: ${m('scaling', { target: targetText(resource, target, locale) })}${dry(t)}`;
}

export function doneText(
  t: Transition,
  resource: Resource | undefined,
  outcome: ConvergeOutcome,
  locale: Locale = 'en',
): string {
  const m = msgs(locale);
  const readers = outcome.createdReaders?.length
    ? `; ${m('newReaders')}: ${outcome.createdReaders.join(', ')}`
    : '';
  return `:white_check_mark: ${resourceLabel(resource, t.resource)} ${describeChange(outcome, locale)} ${m('done')}${readers}${dry(t)}`;
}

export function failedText(
  t: Transition,
  resource: Resource | undefined,
  error: string,
  willRetry: boolean,
  locale: Locale = 'en',
): string {
  const m = msgs(locale);
  return `:x: ${resourceLabel(resource, t.resource)} ${m(TRANSITION_WORD[t.kind])} ${m('failed')}: ${truncate(error, 500)}${willRetry ? m('willRetry') : ''}${dry(t)}`;
}

export function missedText(t: Transition, resource: Resource | undefined, locale: Locale = 'en'): string {
  const m = msgs(locale);
  return `:warning: ${resourceLabel(resource, t.resource)} ${m(TRANSITION_WORD[t.kind])} ${m('missed', { due: t.dueAt.toISOString() })}`;
}

export function readerAvailableText(
  reader: ReaderRecord,
  timeToReadyMs: number,
  locale: Locale = 'en',
): string {
  return `:large_green_circle: ${msgs(locale)('readerAvailable', { id: reader.instanceId, after: formatDuration(timeToReadyMs) })}`;
}

export function readerFailedText(reader: ReaderRecord, reason: string): string {
  return `:x: replica ${reader.instanceId}: ${reason}`;
}

/** `<@U1>` for a Slack user, the name or id elsewhere, from an event. */
export function who(event: Pick<ChatEvent, 'platform' | 'user'>): string {
  return mention(event.platform, event.user);
}
