// Deliveries (as the gateway stores them) → the one event shape rules read. An SNS notification becomes its
// envelope with `Message` parsed when it holds JSON (so `{{ Message.offerCode }}` and patterns on `Message` work);
// an EventBridge event stays as EventBridge sent it.

import type { RuleEvent } from './model.ts';

/** A delivery the rules capability handles: what the gateway's inbox hands over. */
export interface RuleDelivery {
  key: string;
  source: string;
  kind: 'sns' | 'events';
  body: string;
  receivedAt: Date;
}

/** The delivery's body is not what its kind promises: handling it again will not help. */
export class MalformedDeliveryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedDeliveryError';
  }
}

export function toRuleEvent(delivery: RuleDelivery): RuleEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(delivery.body);
  } catch {
    throw new MalformedDeliveryError(`delivery ${delivery.key}: the body is not JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new MalformedDeliveryError(`delivery ${delivery.key}: the body is not a JSON object`);
  }
  const body = parsed as Record<string, unknown>;
  const base = {
    key: delivery.key,
    source: delivery.source,
    kind: delivery.kind,
    receivedAt: delivery.receivedAt,
  };
  if (delivery.kind === 'sns') {
    const document: Record<string, unknown> = { ...body, Message: parseMessage(body.Message) };
    const topicArn = typeof body.TopicArn === 'string' ? body.TopicArn : undefined;
    const topic = topicArn ? topicArn.slice(topicArn.lastIndexOf(':') + 1) : 'unknown topic';
    const subject =
      typeof body.Subject === 'string' && body.Subject ? body.Subject : String(body.MessageId ?? '');
    return {
      ...base,
      document,
      ...(topicArn === undefined ? {} : { topicArn }),
      summary: `SNS ${topic}: ${subject}`.slice(0, 200),
    };
  }
  const summary = [body.source, body['detail-type']].filter((v) => typeof v === 'string').join(' ');
  return { ...base, document: body, summary: (summary || 'event').slice(0, 200) };
}

/** SNS carries the message as a string; a JSON object or array in it is parsed, anything else stays text. */
function parseMessage(message: unknown): unknown {
  if (typeof message !== 'string') return message;
  const text = message.trim();
  if (!text.startsWith('{') && !text.startsWith('[')) return message;
  try {
    return JSON.parse(text);
  } catch {
    return message;
  }
}

/** The fields of an ECS "Task State Change" event chronops reads to close the loop on a run it started. */
export interface TaskStateChange {
  taskArn: string;
  clusterArn?: string;
  lastStatus: string;
  startedBy?: string;
  group?: string;
  taskDefinitionArn?: string;
  stopCode?: string;
  stoppedReason?: string;
  createdAt?: string;
  startedAt?: string;
  stoppingAt?: string;
  stoppedAt?: string;
  containers: Array<{ name: string; exitCode?: number; reason?: string; lastStatus?: string }>;
  region?: string;
}

/** The event's task state change, when it is one (`aws.ecs` / `ECS Task State Change`). */
export function taskStateChange(event: RuleEvent): TaskStateChange | undefined {
  const d = event.document;
  if (d.source !== 'aws.ecs' || d['detail-type'] !== 'ECS Task State Change') return undefined;
  const detail = d.detail;
  if (typeof detail !== 'object' || detail === null) return undefined;
  const x = detail as Record<string, unknown>;
  if (typeof x.taskArn !== 'string' || typeof x.lastStatus !== 'string') return undefined;
  const s = (k: string) => (typeof x[k] === 'string' ? (x[k] as string) : undefined);
  const containers = Array.isArray(x.containers)
    ? x.containers.flatMap((c) => {
        if (typeof c !== 'object' || c === null) return [];
        const r = c as Record<string, unknown>;
        return [
          {
            name: typeof r.name === 'string' ? r.name : '?',
            ...(typeof r.exitCode === 'number' ? { exitCode: r.exitCode } : {}),
            ...(typeof r.reason === 'string' ? { reason: r.reason } : {}),
            ...(typeof r.lastStatus === 'string' ? { lastStatus: r.lastStatus } : {}),
          },
        ];
      })
    : [];
  const out: TaskStateChange = { taskArn: x.taskArn, lastStatus: x.lastStatus, containers };
  for (const k of [
    'clusterArn',
    'startedBy',
    'group',
    'taskDefinitionArn',
    'stopCode',
    'stoppedReason',
    'createdAt',
    'startedAt',
    'stoppingAt',
    'stoppedAt',
  ] as const) {
    const v = s(k);
    if (v !== undefined) out[k] = v;
  }
  if (typeof d.region === 'string') out.region = d.region;
  return out;
}
