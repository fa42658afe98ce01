// `notify:` in the config file: the named destinations the outbox sends to. A webhook URL carries its own secret
// (whoever has it can post), so it is given by an `${ENV_VAR}` reference, resolved here, never stored in the
// database (rows name the destination) and redacted from every log.
//
//   notify:
//     destinations:
//       ops-teams: { kind: teams, url: '${TEAMS_OPS_WEBHOOK_URL}' }      # Workflows "When a Teams webhook request is received"
//       team-slack: { kind: slack-webhook, url: '${SLACK_WEBHOOK_URL}' } # a Slack app's incoming webhook
//       ops-room: { kind: jandi, url: '${JANDI_OPS_WEBHOOK_URL}' }       # a JANDI room's incoming webhook
//       ops-channel: { kind: slack, channel: C0123ABCD }                  # a Slack channel, through the bot token
//       page: { kind: console }                                           # the page's chat console

import { z } from 'zod';
import { resolveEnvRefs } from '../kernel/env-refs.ts';
import type { FieldIssue } from '../kernel/errors.ts';

export const DESTINATION_KINDS = ['slack', 'slack-webhook', 'teams', 'jandi', 'console'] as const;
export type DestinationKind = (typeof DESTINATION_KINDS)[number];

/** Kinds posted to a URL with no way to ask afterwards whether a message arrived. */
export const WEBHOOK_KINDS: ReadonlySet<string> = new Set(['slack-webhook', 'teams', 'jandi']);

export interface Destination {
  name: string;
  kind: DestinationKind;
  /** Webhooks: the URL (a secret). */
  url?: string;
  /** `slack`: the channel id (the bot must be in it). */
  channel?: string;
  /** Least time between two requests to this destination (Teams: 4 a second per webhook). */
  minIntervalMs: number;
  /** Per request. */
  timeoutMs: number;
  /** Largest request body: what is larger is cut to fit (stack traces first). */
  maxBytes: number;
  /**
   * A request whose outcome was lost (timeout after sending, a crash between the send and its record): `skip`
   * (default) records it as `unknown` and never sends it again — never twice, at the risk of never; `resend`
   * sends it again with the same Idempotency-Key — never lost, at the risk of twice.
   */
  onUncertain: 'skip' | 'resend';
}

export interface NotifyConfig {
  destinations: Record<string, Destination>;
}

/** Per kind: pace, timeout and size when the config does not say. */
export const DESTINATION_DEFAULTS: Record<DestinationKind, { minIntervalMs: number; maxBytes: number }> = {
  // Slack allows about one message a second per channel (chat.postMessage and incoming webhooks alike).
  slack: { minIntervalMs: 1000, maxBytes: 40_000 },
  'slack-webhook': { minIntervalMs: 1000, maxBytes: 40_000 },
  // Teams: 28 KB per message, 4 requests a second per webhook.
  teams: { minIntervalMs: 250, maxBytes: 28_000 },
  // JANDI publishes no rate limit: one a second per room, as for Slack.
  jandi: { minIntervalMs: 1000, maxBytes: 16_000 },
  console: { minIntervalMs: 0, maxBytes: 200_000 },
};

const DESTINATION_NAME = /^[a-z0-9][a-z0-9_-]{0,39}$/;
const SLACK_CHANNEL = /^[CGD][A-Z0-9]{2,}$/;

export function notifySchema() {
  const Entry = z.strictObject({
    kind: z.enum(DESTINATION_KINDS, { error: `must be one of ${DESTINATION_KINDS.join(', ')}` }),
    url: z.string({ error: 'must be a string' }).trim().min(1, 'must not be empty').optional(),
    channel: z
      .string({ error: 'must be a string' })
      .regex(SLACK_CHANNEL, 'must be a Slack channel id such as C0123ABCD (not #name)')
      .optional(),
    minIntervalMs: z
      .number({ error: 'must be a whole number of milliseconds' })
      .int()
      .min(0)
      .max(60_000)
      .optional(),
    timeoutMs: z
      .number({ error: 'must be a whole number of milliseconds' })
      .int()
      .min(100)
      .max(120_000)
      .optional(),
    maxBytes: z
      .number({ error: 'must be a whole number of bytes' })
      .int()
      .min(2_000)
      .max(1_000_000)
      .optional(),
    onUncertain: z.enum(['skip', 'resend'], { error: 'must be skip or resend' }).optional(),
  });
  return z
    .strictObject({
      destinations: z
        .record(
          z.string().regex(DESTINATION_NAME, 'must be 1 to 40 characters of a-z, 0-9, _ and -'),
          Entry,
          { error: 'must be a mapping of destination names' },
        )
        .prefault({}),
    })
    .prefault({});
}

type NotifyFile = z.infer<ReturnType<typeof notifySchema>>;

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

/** The destinations with defaults applied and URLs resolved; problems go to `issues`. */
export function resolveNotify(
  file: NotifyFile,
  env: NodeJS.ProcessEnv,
  issues: FieldIssue[],
  options: { slackEnabled: boolean },
): { notify: NotifyConfig; secrets: string[] } {
  const destinations: Record<string, Destination> = {};
  const secrets: string[] = [];
  for (const [name, entry] of Object.entries(file.destinations)) {
    const at = `notify.destinations.${name}`;
    const defaults = DESTINATION_DEFAULTS[entry.kind];
    const destination: Destination = {
      name,
      kind: entry.kind,
      minIntervalMs: entry.minIntervalMs ?? defaults.minIntervalMs,
      timeoutMs: entry.timeoutMs ?? 10_000,
      maxBytes: entry.maxBytes ?? defaults.maxBytes,
      onUncertain: entry.onUncertain ?? 'skip',
    };
    if (WEBHOOK_KINDS.has(entry.kind)) {
      if (entry.url === undefined) {
        issues.push({
          field: `${at}.url`,
          message: `is required for a ${entry.kind} webhook (e.g. '\${MY_WEBHOOK_URL}')`,
        });
      } else {
        const url = resolveEnvRefs(entry.url, env, `${at}.url`, issues);
        if (url !== undefined && !isHttpUrl(url)) {
          issues.push({ field: `${at}.url`, message: 'must be an http:// or https:// URL' });
        } else if (url !== undefined) {
          destination.url = url;
          secrets.push(url);
          // The token part alone can also reach a log (a path in an error): redact it too.
          const path = new URL(url).pathname;
          if (path.length > 8) secrets.push(path);
        }
      }
    } else if (entry.url !== undefined) {
      issues.push({ field: `${at}.url`, message: `a ${entry.kind} destination has no url` });
    }
    if (entry.kind === 'slack') {
      if (entry.channel === undefined)
        issues.push({ field: `${at}.channel`, message: 'is required for kind slack' });
      else destination.channel = entry.channel;
      if (!options.slackEnabled) {
        issues.push({
          field: at,
          message: 'a slack destination posts with the bot token: turn Slack on (SLACK_BOT_TOKEN)',
        });
      }
    } else if (entry.channel !== undefined) {
      issues.push({ field: `${at}.channel`, message: `a ${entry.kind} destination has no channel` });
    }
    destinations[name] = destination;
  }
  return { notify: { destinations }, secrets };
}

/**
 * The `replyTo` of JANDI rooms and Teams sources (where answers that come later go) must name a destination: a
 * typo would otherwise show only when a long command finishes and its answer has nowhere to go.
 */
export function checkReplyTo(
  sources: ReadonlyArray<{ kind: string; replyTo?: string; rooms?: ReadonlyArray<{ replyTo?: string }> }>,
  destinations: Record<string, Destination>,
  issues: FieldIssue[],
): void {
  const known = Object.keys(destinations);
  const check = (name: string | undefined, field: string) => {
    if (name === undefined || name in destinations) return;
    issues.push({
      field,
      message: `no notify destination "${name}" (notify.destinations: ${known.join(', ') || 'none'})`,
    });
  };
  sources.forEach((source, i) => {
    if (source.kind === 'teams') check(source.replyTo, `sources[${i}].replyTo`);
    if (source.kind === 'jandi') {
      source.rooms?.forEach((room, j) => {
        check(room.replyTo, `sources[${i}].rooms[${j}].replyTo`);
      });
    }
  });
}
