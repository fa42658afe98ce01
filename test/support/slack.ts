// Real signed Slack requests for tests: Events API callbacks, slash commands and Block Kit actions, signed with
// the product's one HMAC implementation, and a config that turns Slack on against a FakeSlack.

import { signSlackRequest } from '../../src/chat/channels/slack/signature.ts';
import type { InboxItem } from '../../src/gateway/inbox-store.ts';
import { type Config, parseConfig } from '../../src/kernel/config.ts';
import type { FakeSlack } from './fake-slack.ts';

export const SIGNING_SECRET = 'test-signing-secret-8f742231b10e';
export const BOT_TOKEN = 'xoxb-test-0000-bot-token';

export const ALERT = [
  '[오늘 오픈 예정 인기 상품] 2099-11-23',
  '1. (12345) 나이키 덩크 로우 - 16:00 오픈 (조회수 15,234)',
  '2. (12377) 아이폰 18 Pro 사전예약 - 오후 6시 오픈 (조회수 9,876)',
  '3. (12401) 콘서트 티켓 — 2099-11-24 20:00 오픈',
].join('\n');

/**
 * A Slack mention as the gateway stores it in the inbox (pending: a command not handled yet); `fields` sets its
 * body, source, partition key or topics (the benches' deliveries to relay).
 */
export function mentionDelivery(key: string, fields: Partial<InboxItem> = {}): InboxItem {
  return {
    key,
    source: 'slack',
    kind: 'slack',
    type: 'event_callback',
    subtype: 'app_mention',
    body: '{}',
    retryNum: null,
    partitionKey: null,
    topics: null,
    ...fields,
  };
}

/** The environment that turns Slack on, pointed at the fake. */
export function slackEnv(fake: FakeSlack): Record<string, string> {
  return { SLACK_SIGNING_SECRET: SIGNING_SECRET, SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_API_URL: fake.url };
}

/** The raw config object of the Slack tests (resources with prices, Seoul time). */
export function slackConfigObject(slack: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    timezone: 'Asia/Seoul',
    graceMinutes: 15,
    resources: {
      ecs: [
        {
          name: 'web',
          cluster: 'shop',
          service: 'web',
          region: 'ap-northeast-2',
          maxTasks: 20,
          pricePerUnitHour: 0.05,
        },
      ],
      aurora: [
        {
          name: 'shop-db',
          clusterId: 'shop-aurora',
          region: 'ap-northeast-2',
          instanceClass: 'db.r6g.large',
          maxExtraReplicas: 3,
          pricePerUnitHour: 0.29,
        },
      ],
    },
    server: { host: '127.0.0.1', port: 0 },
    database: { dataDir: '/nonexistent-not-used' },
    replicas: { pollSeconds: 1, timeoutMinutes: 5 },
    slack: { postIntervalMs: 0, ...slack },
  };
}

export function slackConfig(fake: FakeSlack, slack: Record<string, unknown> = {}): Config {
  return parseConfig(slackConfigObject(slack), slackEnv(fake));
}

export interface SignOptions {
  timestamp?: number;
  secret?: string;
}

export function signedHeaders(body: string | Uint8Array, contentType: string, options: SignOptions = {}) {
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  return {
    'content-type': contentType,
    'x-slack-request-timestamp': String(timestamp),
    'x-slack-signature': signSlackRequest(options.secret ?? SIGNING_SECRET, timestamp, body),
  };
}

let counter = 0;
export function uniqueId(prefix: string): string {
  counter += 1;
  return `${prefix}${Date.now().toString(36)}${counter}`.toUpperCase();
}

export function mentionBody(options: {
  text: string;
  channel?: string;
  user?: string;
  eventId?: string;
  ts?: string;
  threadTs?: string;
}): string {
  // Sub-second part from 900000 up: never the ts of a message the fake posted (those count from 000001).
  const ts = options.ts ?? `${Math.floor(Date.now() / 1000)}.${900000 + (++counter % 100000)}`;
  return JSON.stringify({
    token: 'legacy-token',
    team_id: 'T0TEAM',
    api_app_id: 'A0APP',
    type: 'event_callback',
    event_id: options.eventId ?? uniqueId('Ev'),
    event_time: Math.floor(Date.now() / 1000),
    event: {
      type: 'app_mention',
      user: options.user ?? 'U0ALICE',
      text: `<@UCHRONOPS> ${options.text}`,
      ts,
      channel: options.channel ?? 'C0OPS',
      event_ts: ts,
      ...(options.threadTs ? { thread_ts: options.threadTs } : {}),
    },
  });
}

export function commandBody(options: {
  text: string;
  channel?: string;
  user?: string;
  triggerId?: string;
}): string {
  return new URLSearchParams({
    token: 'legacy-token',
    team_id: 'T0TEAM',
    team_domain: 'shop',
    channel_id: options.channel ?? 'C0OPS',
    channel_name: 'ops',
    user_id: options.user ?? 'U0ALICE',
    user_name: 'alice',
    command: '/chronops',
    text: options.text,
    api_app_id: 'A0APP',
    response_url: 'https://hooks.slack.com/commands/T0TEAM/1/abc',
    trigger_id: options.triggerId ?? uniqueId('trig.'),
  }).toString();
}

export function cancelBody(options: {
  windowId: string;
  channel?: string;
  user?: string;
  messageTs: string;
  threadTs?: string;
  triggerId?: string;
}): string {
  const payload = {
    type: 'block_actions',
    user: { id: options.user ?? 'U0ALICE', username: 'alice', team_id: 'T0TEAM' },
    api_app_id: 'A0APP',
    token: 'legacy-token',
    container: {
      type: 'message',
      message_ts: options.messageTs,
      channel_id: options.channel ?? 'C0OPS',
      is_ephemeral: false,
    },
    trigger_id: options.triggerId ?? uniqueId('trig.'),
    team: { id: 'T0TEAM', domain: 'shop' },
    channel: { id: options.channel ?? 'C0OPS', name: 'ops' },
    message: {
      type: 'message',
      ts: options.messageTs,
      ...(options.threadTs ? { thread_ts: options.threadTs } : {}),
      text: 'Plan …',
    },
    actions: [
      {
        action_id: 'chronops_cancel',
        block_id: `chronops_plan_${options.windowId}`,
        text: { type: 'plain_text', text: 'Cancel' },
        value: options.windowId,
        style: 'danger',
        type: 'button',
        action_ts: `${Math.floor(Date.now() / 1000)}.000100`,
      },
    ],
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

export type Target = { request: (path: string, init: RequestInit) => Response | Promise<Response> } | string;

/** Sends a signed request to `/slack/<path>`, to an in-process app or a URL. */
export async function deliver(
  target: Target,
  path: 'events' | 'commands' | 'interactions',
  body: string,
  options: SignOptions & { retryNum?: number; contentType?: string; headers?: Record<string, string> } = {},
): Promise<Response> {
  const contentType =
    options.contentType ?? (path === 'events' ? 'application/json' : 'application/x-www-form-urlencoded');
  const headers: Record<string, string> = {
    ...signedHeaders(body, contentType, options),
    ...options.headers,
  };
  if (options.retryNum !== undefined) {
    headers['x-slack-retry-num'] = String(options.retryNum);
    headers['x-slack-retry-reason'] = 'http_timeout';
  }
  const init: RequestInit = { method: 'POST', headers, body };
  if (typeof target === 'string') return fetch(`${target}/slack/${path}`, init);
  return target.request(`/slack/${path}`, init);
}
