// Real signed requests of every webhook source but Slack (test/support/slack.ts has Slack's), made with the
// product's own signing functions, and a config object that turns those sources on.

import { randomBytes } from 'node:crypto';
import { signGithubWebhook, signStandardWebhook } from '../../src/gateway/sources/generic.ts';
import { signTeamsRequest } from '../../src/gateway/sources/teams.ts';

export const JANDI_TOKENS = { ops: 'jandi-token-ops-0c1d2e3f4a5b', infra: 'jandi-token-infra-9a8b7c6d5e4f' };
export const TEAMS_SECRET = randomBytes(32).toString('base64');
export const STANDARD_SECRET = `whsec_${randomBytes(24).toString('base64')}`;
export const GITHUB_SECRET = 'github-webhook-secret-7d3a1f';
export const EVENTS_KEY = 'eventbridge-connection-key-51b2';

/** The environment holding the sources' secrets. */
export const WEBHOOK_ENV: Record<string, string> = {
  JANDI_TOKEN_OPS: JANDI_TOKENS.ops,
  JANDI_TOKEN_INFRA: JANDI_TOKENS.infra,
  TEAMS_SECRET,
  STANDARD_SECRET,
  GITHUB_SECRET,
  EVENTS_KEY,
};

/** `sources:` of the config: JANDI (two rooms), Teams, a Standard Webhooks sender and GitHub. */
export function webhookSources(overrides: { maxBodyBytes?: number; replyWithinMs?: number } = {}) {
  const max = overrides.maxBodyBytes === undefined ? {} : { maxBodyBytes: overrides.maxBodyBytes };
  const reply = overrides.replyWithinMs === undefined ? {} : { replyWithinMs: overrides.replyWithinMs };
  return [
    {
      kind: 'jandi',
      name: 'webhook',
      rooms: [
        { name: 'ops', token: `\${JANDI_TOKEN_OPS}` },
        { name: 'infra', token: `\${JANDI_TOKEN_INFRA}` },
      ],
      ...max,
      ...reply,
    },
    { kind: 'teams', name: 'teams', secret: `\${TEAMS_SECRET}`, ...max, ...reply },
    { kind: 'generic', name: 'billing', scheme: 'standard', secret: `\${STANDARD_SECRET}`, ...max },
    { kind: 'generic', name: 'github', scheme: 'github', secret: `\${GITHUB_SECRET}`, ...max },
    { kind: 'events', name: 'ecs', apiKey: `\${EVENTS_KEY}`, apiKeyHeader: 'x-api-key', ...max },
  ];
}

let n = 0;

export function jandiMessage(
  options: { token?: string; text?: string; createdAt?: string; writer?: string } = {},
) {
  return {
    token: options.token ?? JANDI_TOKENS.ops,
    teamName: 'shop',
    roomName: 'Ops room',
    writerName: options.writer ?? 'Kim',
    writerEmail: `${(options.writer ?? 'kim').toLowerCase()}@example.com`,
    text: options.text ?? `/chronops office-hours status ${++n}`,
    keyword: '/chronops',
    createdAt: options.createdAt ?? new Date().toISOString(),
  };
}

export function teamsActivity(options: { text?: string; id?: string; timestamp?: string } = {}) {
  return JSON.stringify({
    type: 'message',
    id: options.id ?? `1700000000${++n}`,
    timestamp: options.timestamp ?? new Date().toISOString(),
    serviceUrl: 'https://smba.trafficmanager.net/apac/',
    channelId: 'msteams',
    from: { id: '29:1abc', name: 'Lee', aadObjectId: '0f0e0d0c-aaaa-bbbb-cccc-000000000001' },
    conversation: { id: '19:abc@thread.skype;messageid=1700000000000', isGroup: true },
    recipient: null,
    textFormat: 'plain',
    text: `<at>chronops</at> ${options.text ?? 'help'}`,
    channelData: {
      teamsChannelId: '19:abc@thread.skype',
      teamsTeamId: '19:team@thread.skype',
      tenant: { id: 'tenant-0001' },
    },
  });
}

export function teamsHeaders(body: string, secret = TEAMS_SECRET): Record<string, string> {
  return { 'content-type': 'application/json', authorization: signTeamsRequest(secret, body) };
}

export function standardHeaders(
  body: string,
  options: { id?: string; timestamp?: number; secret?: string } = {},
): Record<string, string> {
  const id = options.id ?? `msg_${randomBytes(8).toString('hex')}`;
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signStandardWebhook(options.secret ?? STANDARD_SECRET, id, timestamp, body),
  };
}

export function githubHeaders(
  body: string,
  options: { event?: string; delivery?: string; secret?: string; contentType?: string } = {},
): Record<string, string> {
  return {
    'content-type': options.contentType ?? 'application/json',
    'x-github-event': options.event ?? 'push',
    'x-github-delivery': options.delivery ?? `d-${randomBytes(6).toString('hex')}`,
    'x-hub-signature-256': signGithubWebhook(options.secret ?? GITHUB_SECRET, body),
  };
}

/** An ECS Task State Change as EventBridge delivers it. */
export function ecsTaskStopped(options: { id?: string; taskArn?: string } = {}) {
  const taskArn = options.taskArn ?? 'arn:aws:ecs:us-east-1:123456789012:task/price/0abc';
  return JSON.stringify({
    version: '0',
    id: options.id ?? `ev-${randomBytes(6).toString('hex')}`,
    'detail-type': 'ECS Task State Change',
    source: 'aws.ecs',
    account: '123456789012',
    time: new Date().toISOString(),
    region: 'us-east-1',
    resources: [taskArn],
    detail: {
      taskArn,
      lastStatus: 'STOPPED',
      stopCode: 'EssentialContainerExited',
      containers: [{ exitCode: 0 }],
    },
  });
}
