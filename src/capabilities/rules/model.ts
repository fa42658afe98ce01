// Event rules: what the config says (rules and the allow-list of runnable tasks) and what a run is. Pure types
// and small pure functions; no I/O.

import type { CompiledPattern } from './pattern.ts';

/** An allow-list entry: a cluster and the task definition families a rule may run on it. */
export interface TaskTarget {
  name: string;
  /** Cluster name (or ARN). */
  cluster: string;
  region: string;
  /** Families (`pricechecker`), never revisions: the revision is resolved at run time or pinned in the rule. */
  taskDefinitions: string[];
  /** At most this many tasks chronops started running at once on this entry; another start is refused. */
  maxRunning?: number;
}

export interface ContainerOverride {
  name: string;
  /** Templates allowed in every element. */
  command?: string[];
  /** Templates allowed in every value. */
  environment?: Record<string, string>;
}

export interface RunTaskSpec {
  kind: 'runTask';
  /** The allow-list entry (`resources.tasks[].name`). */
  task: string;
  family: string;
  /** Pinned revision; absent: the latest ACTIVE revision, resolved when the rule fires. */
  revision?: number;
  subnets: string[];
  securityGroups: string[];
  assignPublicIp: boolean;
  platformVersion?: string;
  containerOverrides: ContainerOverride[];
  /** Notify destination told how the run ended (its STOPPED event); chat-started runs report in their thread. */
  report?: string;
}

export interface NotifySpec {
  kind: 'notify';
  /** A destination name of `notify.destinations`. */
  to: string;
  title?: string;
  /** Template. */
  text: string;
  severity?: 'info' | 'success' | 'warning' | 'error';
}

export interface HttpSpec {
  kind: 'http';
  /** A service the HTTP jobs know (their one caller makes the request). */
  service: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Template; values are percent-encoded. */
  path: string;
  /** Every string in it is a template; sent as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
}

export type ActionSpec = RunTaskSpec | NotifySpec | HttpSpec;
export type ActionKind = ActionSpec['kind'];

export interface RuleMatch {
  /** Gateway sources (`sns` or `events` kind) the rule listens to; absent: all. */
  sources?: string[];
  /** SNS topic ARNs (exact); absent: any topic. A rule with topics only matches SNS notifications. */
  topicArns?: string[];
  pattern?: CompiledPattern;
}

export interface Rule {
  name: string;
  description?: string;
  match: RuleMatch;
  actions: ActionSpec[];
  /** Record the cloud calls of this rule's actions instead of sending them (the global dry-run applies too). */
  dryRun: boolean;
}

export interface RulesConfig {
  /** In the order of the file (the order rules are tried). */
  rules: Rule[];
  tasks: Record<string, TaskTarget>;
}

export const EMPTY_RULES: RulesConfig = { rules: [], tasks: {} };

/** What a rule sees of an incoming delivery, whatever its source kind. */
export interface RuleEvent {
  /** The gateway's delivery key (stable across redeliveries): `<source>:<MessageId or event id>`. */
  key: string;
  /** The gateway source's name. */
  source: string;
  kind: 'sns' | 'events';
  /**
   * The document patterns and templates read: the SNS envelope (`Type`, `MessageId`, `TopicArn`, `Subject`,
   * `Message` — parsed when it is JSON —, `Timestamp`, `MessageAttributes`) or the EventBridge event as sent.
   */
  document: Record<string, unknown>;
  /** For SNS: the topic. */
  topicArn?: string;
  /** One line saying what it is (`SNS price-list-api 6c5b…`, `aws.ecs ECS Task State Change`). */
  summary: string;
  receivedAt: Date;
}

/** Does `rule` apply to `event`? Source, topic and pattern must all agree (the absent ones agree with anything). */
export function ruleMatches(rule: Rule, event: RuleEvent): boolean {
  const { sources, topicArns, pattern } = rule.match;
  if (snsNotice(event)) return false;
  if (sources && !sources.includes(event.source)) return false;
  if (topicArns && (event.topicArn === undefined || !topicArns.includes(event.topicArn))) return false;
  if (pattern && !pattern.matches(event.document)) return false;
  return true;
}

/**
 * The type of an SNS message that is not a Notification (an UnsubscribeConfirmation is verified and kept, for
 * the record, but it is about the subscription, not news from the topic); undefined otherwise.
 */
function snsNotice(event: RuleEvent): string | undefined {
  if (event.kind !== 'sns') return undefined;
  const type = event.document.Type;
  return typeof type === 'string' && type !== 'Notification' ? type : undefined;
}

/** Why `rule` does not apply to `event`, for `rules test`; undefined when it does. */
export function whyNot(rule: Rule, event: RuleEvent): string | undefined {
  const { sources, topicArns, pattern } = rule.match;
  const notice = snsNotice(event);
  if (notice) return `an SNS ${notice} starts no rule (only Notifications do)`;
  if (sources && !sources.includes(event.source)) {
    return `source "${event.source}" is not one of the rule's sources (${sources.join(', ')})`;
  }
  if (topicArns && event.topicArn === undefined)
    return 'the rule matches SNS topics and this is not an SNS message';
  if (topicArns && event.topicArn !== undefined && !topicArns.includes(event.topicArn)) {
    return `topic ${event.topicArn} is not one of the rule's topics (${topicArns.join(', ')})`;
  }
  if (pattern && !pattern.matches(event.document)) return 'the event does not match the rule pattern';
  return undefined;
}
