// The `sources:` section of the config: the webhook sources besides Slack (which keeps its own `slack:` section).
// Secrets are never in the file: a token, secret or key is written as a `${NAME}` reference to an environment
// variable (src/kernel/env-refs.ts), and a source whose variable is not set is off (its URL answers 404 saying
// why) — unless it says `enabled: true`, and then chronops refuses to start without it.

// The schemas are written with zod's tree-shakable build (`zod/mini`): the Lambda host validates these sections
// alone and loads a small part of zod; the server's config schema (src/kernel/config.ts) embeds them as they are.
import * as z from 'zod/mini';
import { hasEnvRef, resolveEnvRefs } from '../kernel/env-refs.ts';
import type { FieldIssue } from '../kernel/errors.ts';

const NAME = /^[a-z0-9][a-z0-9-]{0,39}$/;
const TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}$/;
const HEADER = /^[A-Za-z0-9-]+$/;

export const DEFAULT_SOURCE_BODY_BYTES = 256 * 1024;
/** Slack's body limit when `slack.maxBodyBytes` is not set. */
export const DEFAULT_SLACK_BODY_BYTES = 128 * 1024;

const name = () =>
  z
    .string()
    .check(z.regex(NAME, 'must be 1 to 40 characters of a-z, 0-9 and "-", starting with a letter or digit'));
/** A secret: only as `${NAME}` references to environment variables. */
const secretRef = () =>
  z
    .string()
    .check(
      z.refine(
        hasEnvRef,
        `must name an environment variable as \${NAME}: secrets are not written in the config file`,
      ),
    );
/** A whole number from `min` to `max`, `fallback` when absent. */
const intIn = (min: number, max: number, fallback: number) =>
  z._default(z.int().check(z.minimum(min), z.maximum(max)), fallback);
const nonEmpty = () => z.string().check(z.trim(), z.minLength(1));
const common = {
  name: name(),
  enabled: z.optional(z.boolean()),
  maxBodyBytes: intIn(1024, 10 * 1024 * 1024, DEFAULT_SOURCE_BODY_BYTES),
};
const tolerance = () => intIn(1, 86_400, 300);
const locale = () => z.optional(z.enum(['en', 'ko']));

const jandi = z.strictObject({
  kind: z.literal('jandi'),
  ...common,
  /** One entry per JANDI room: its outgoing webhook's token, and optionally its incoming webhook URL. */
  rooms: z
    .array(
      z.strictObject({
        /** The room's name as chronops calls it (permissions, logs); JANDI's roomName is recorded beside it. */
        name: nonEmpty(),
        /** The room's outgoing webhook token, e.g. `${JANDI_TOKEN}`. */
        token: secretRef(),
        /** Where answers that come later go (a notify destination's name: the room's incoming webhook). */
        replyTo: z.optional(nonEmpty()),
        locale: locale(),
      }),
    )
    .check(z.minLength(1, 'must list at least one room')),
  /** How long JANDI's request waits for the answer of a quick command (then it is answered "started"). */
  replyWithinMs: intIn(0, 10_000, 3000),
  /** A message whose createdAt is further from now than this is refused (a replay). */
  toleranceSeconds: tolerance(),
});

const teams = z.strictObject({
  kind: z.literal('teams'),
  ...common,
  /** The security token Teams shows when the outgoing webhook is created (base64), e.g. `${TEAMS_SECRET}`. */
  secret: secretRef(),
  /** Where answers that come later go (a notify destination's name). */
  replyTo: z.optional(nonEmpty()),
  locale: locale(),
  /** Teams shows an answer only within 5 s. */
  replyWithinMs: intIn(0, 4800, 4000),
  toleranceSeconds: tolerance(),
});

const generic = z.strictObject({
  kind: z.literal('generic'),
  ...common,
  /** `standard`: Standard Webhooks (webhook-id/-timestamp/-signature); `github`: X-Hub-Signature-256. */
  scheme: z.enum(['standard', 'github']),
  secret: secretRef(),
  toleranceSeconds: tolerance(),
});

const sns = z.strictObject({
  kind: z.literal('sns'),
  ...common,
  /** Topics whose subscription chronops confirms, and whose notifications it accepts. */
  topics: z
    .array(z.string().check(z.regex(TOPIC_ARN, 'must be an SNS topic ARN')))
    .check(z.minLength(1, 'must list at least one topic')),
  /** A message older than this (its Timestamp) is refused. */
  maxAgeSeconds: intIn(60, 86_400, 3600),
});

const events = z
  .strictObject({
    kind: z.literal('events'),
    ...common,
    /** Pushed by an API destination: the header its connection sends the API key in, and the key. */
    apiKeyHeader: z._default(
      z.string().check(z.regex(HEADER, 'must be an HTTP header name')),
      'x-chronops-api-key',
    ),
    apiKey: z.optional(secretRef()),
    /** Or polled from an SQS queue that is the target of an EventBridge rule. */
    sqs: z.optional(
      z.strictObject({
        queueUrl: z.url({ protocol: /^https?$/ }),
        region: z
          .string()
          .check(z.regex(/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/, 'must be an AWS region such as ap-northeast-2')),
        waitSeconds: intIn(0, 20, 20),
        maxReceives: intIn(1, 100, 5),
      }),
    ),
  })
  .check(
    z.refine((e) => e.apiKey !== undefined || e.sqs !== undefined, {
      message: 'needs apiKey (pushed by an API destination) or sqs (polled from a queue), or both',
    }),
  );

export const sourcesSchema = z._default(
  z.array(z.discriminatedUnion('kind', [jandi, teams, generic, sns, events])),
  [],
);
export type SourceFileEntry = z.infer<typeof sourcesSchema>[number];

interface Common {
  name: string;
  maxBodyBytes: number;
}
export interface JandiRoom {
  name: string;
  token: string;
  replyTo?: string;
  locale?: 'en' | 'ko';
}
export type SourceConfig =
  | (Common & {
      kind: 'jandi';
      rooms: JandiRoom[];
      replyWithinMs: number;
      toleranceSeconds: number;
    })
  | (Common & {
      kind: 'teams';
      secret: string;
      replyWithinMs: number;
      toleranceSeconds: number;
      replyTo?: string;
      locale?: 'en' | 'ko';
    })
  | (Common & { kind: 'generic'; scheme: 'standard' | 'github'; secret: string; toleranceSeconds: number })
  | (Common & { kind: 'sns'; topics: string[]; maxAgeSeconds: number })
  | (Common & {
      kind: 'events';
      /** Pushed to `/events/<name>` (absent: SQS only, the path answers 404). */
      push?: { apiKeyHeader: string; apiKey: string };
      sqs?: { queueUrl: string; region: string; waitSeconds: number; maxReceives: number };
    });

/**
 * What a host of the gateway reads of the config (the server's whole Config has these; the Lambda host reads only
 * these): Slack's on/off, signing secret and body limit, the other sources, the Kafka section, the secret values.
 */
export interface GatewayConfig {
  slack: { enabled: boolean; signingSecret?: string; maxBodyBytes: number };
  sources: ResolvedSources;
  kafka?: KafkaConfig;
  secrets: string[];
}

export interface ResolvedSources {
  on: SourceConfig[];
  /** Configured but off: a secret is not in the environment. */
  off: Array<{ name: string; kind: SourceConfig['kind']; reason: string }>;
  secrets: string[];
}

/** The secret references of an entry, by field. */
function refsOf(entry: SourceFileEntry): Array<[field: string, ref: string]> {
  switch (entry.kind) {
    case 'jandi':
      return entry.rooms.map((r, i): [string, string] => [`rooms[${i}].token`, r.token]);
    case 'teams':
    case 'generic':
      return [['secret', entry.secret]];
    case 'sns':
      return [];
    case 'events':
      return entry.apiKey ? [['apiKey', entry.apiKey]] : [];
  }
}

/** The sources with their secrets read from `env`; issues for duplicates and for missing secrets of required ones. */
export function resolveSources(
  entries: SourceFileEntry[],
  env: NodeJS.ProcessEnv,
  issues: FieldIssue[],
): ResolvedSources {
  const out: ResolvedSources = { on: [], off: [], secrets: [] };
  const seen = new Set<string>(['slack']);
  entries.forEach((entry, i) => {
    const at = `sources[${i}]`;
    if (seen.has(entry.name)) {
      issues.push({
        field: `${at}.name`,
        message: `"${entry.name}" is used already${entry.name === 'slack' ? ' (by the Slack app)' : ''}`,
      });
      return;
    }
    seen.add(entry.name);
    if (entry.enabled === false) {
      out.off.push({
        name: entry.name,
        kind: entry.kind,
        reason: `the ${entry.kind} source ${entry.name} is disabled in the config`,
      });
      return;
    }
    // Resolve every reference; the issues are the source's own until we know whether it must be on.
    const mine: FieldIssue[] = [];
    const values = new Map<string, string>();
    for (const [field, ref] of refsOf(entry)) {
      const value = resolveEnvRefs(ref, env, `${at}.${field}`, mine);
      if (value !== undefined) values.set(field, value);
    }
    if (mine.length > 0) {
      if (entry.enabled === true) issues.push(...mine);
      else {
        const missing = [
          ...new Set(mine.map((m) => m.message.replace(/^the environment variable (\S+).*$/, '$1'))),
        ];
        out.off.push({
          name: entry.name,
          kind: entry.kind,
          reason: `the ${entry.kind} source ${entry.name} is off: ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} not set`,
        });
      }
      return;
    }
    out.secrets.push(...values.values());
    const base = { name: entry.name, maxBodyBytes: entry.maxBodyBytes };
    switch (entry.kind) {
      case 'jandi':
        out.on.push({
          ...base,
          kind: 'jandi',
          rooms: entry.rooms.map((r, n) => ({
            name: r.name,
            token: values.get(`rooms[${n}].token`)!,
            ...(r.replyTo ? { replyTo: r.replyTo } : {}),
            ...(r.locale ? { locale: r.locale } : {}),
          })),
          replyWithinMs: entry.replyWithinMs,
          toleranceSeconds: entry.toleranceSeconds,
        });
        break;
      case 'teams':
        out.on.push({
          ...base,
          kind: 'teams',
          secret: values.get('secret')!,
          replyWithinMs: entry.replyWithinMs,
          toleranceSeconds: entry.toleranceSeconds,
          ...(entry.replyTo ? { replyTo: entry.replyTo } : {}),
          ...(entry.locale ? { locale: entry.locale } : {}),
        });
        break;
      case 'generic':
        out.on.push({
          ...base,
          kind: 'generic',
          scheme: entry.scheme,
          secret: values.get('secret')!,
          toleranceSeconds: entry.toleranceSeconds,
        });
        break;
      case 'sns':
        out.on.push({ ...base, kind: 'sns', topics: entry.topics, maxAgeSeconds: entry.maxAgeSeconds });
        break;
      case 'events': {
        const apiKey = values.get('apiKey');
        out.on.push({
          ...base,
          kind: 'events',
          ...(apiKey ? { push: { apiKeyHeader: entry.apiKeyHeader.toLowerCase(), apiKey } } : {}),
          ...(entry.sqs ? { sqs: { ...entry.sqs } } : {}),
        });
        break;
      }
    }
  });
  return out;
}

// ---- kafka: the relay of stored deliveries to topics (off unless the section is there) -------------------------

const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;
const BROKER = /^[A-Za-z0-9.-]+:\d{1,5}$/;

export const kafkaSchema = z.optional(
  z.strictObject({
    enabled: z._default(z.boolean(), true),
    brokers: z
      .array(z.string().check(z.regex(BROKER, 'must be host:port')))
      .check(z.minLength(1, 'must list at least one broker')),
    clientId: z._default(nonEmpty(), 'chronops'),
    tls: z._default(z.boolean(), false),
    sasl: z.optional(
      z.strictObject({
        mechanism: z.enum(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']),
        username: z.string().check(z.minLength(1)),
        password: secretRef(),
      }),
    ),
    /** `all`: every in-sync replica acknowledges (default); `leader`: the leader alone. */
    acks: z._default(z.enum(['all', 'leader']), 'all'),
    /** The idempotent producer (real brokers; librdkafka's mock cluster does not support it). */
    idempotent: z._default(z.boolean(), false),
    /** Which stored deliveries go to which topics. */
    routes: z
      .array(
        z.strictObject({
          /** A source's name (`slack`, or a name from `sources:`). */
          source: name(),
          /** Delivery types (Slack `event_callback`, `command`, `interaction`; GitHub's event …); absent: all. */
          types: z.optional(z.array(z.string().check(z.minLength(1)))),
          /** Finer types (Slack's event type such as `app_mention`); absent: all. */
          subtypes: z.optional(z.array(z.string().check(z.minLength(1)))),
          topics: z
            .array(z.string().check(z.regex(TOPIC, 'must be a Kafka topic name')))
            .check(z.minLength(1)),
        }),
      )
      .check(z.minLength(1, 'must have at least one route')),
  }),
);
export type KafkaFileEntry = NonNullable<z.infer<typeof kafkaSchema>>;

export interface KafkaRoute {
  source: string;
  types?: string[];
  subtypes?: string[];
  topics: string[];
}

export interface KafkaConfig {
  brokers: string[];
  clientId: string;
  tls: boolean;
  sasl?: { mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512'; username: string; password: string };
  acks: -1 | 1;
  idempotent: boolean;
  routes: KafkaRoute[];
}

/** The kafka section with its password read from `env`; undefined when Kafka is off. */
export function resolveKafka(
  entry: KafkaFileEntry | undefined,
  sourceNames: readonly string[],
  env: NodeJS.ProcessEnv,
  issues: FieldIssue[],
): { kafka?: KafkaConfig; secrets: string[] } {
  if (!entry?.enabled) return { secrets: [] };
  entry.routes.forEach((r, i) => {
    if (!sourceNames.includes(r.source)) {
      issues.push({
        field: `kafka.routes[${i}].source`,
        message: `no source named "${r.source}" (sources: ${sourceNames.join(', ')})`,
      });
    }
  });
  let sasl: KafkaConfig['sasl'];
  const secrets: string[] = [];
  if (entry.sasl) {
    const password = resolveEnvRefs(entry.sasl.password, env, 'kafka.sasl.password', issues);
    if (password !== undefined) {
      sasl = { mechanism: entry.sasl.mechanism, username: entry.sasl.username, password };
      secrets.push(password);
    }
  }
  return {
    kafka: {
      brokers: entry.brokers,
      clientId: entry.clientId,
      tls: entry.tls,
      ...(sasl ? { sasl } : {}),
      acks: entry.acks === 'all' ? -1 : 1,
      idempotent: entry.idempotent,
      routes: entry.routes.map((r) => ({
        source: r.source,
        ...(r.types ? { types: r.types } : {}),
        ...(r.subtypes ? { subtypes: r.subtypes } : {}),
        topics: r.topics,
      })),
    },
    secrets,
  };
}

/** The topics a delivery goes to: every matching route's, once each; null when none. */
export function topicsFor(
  routes: readonly KafkaRoute[],
  item: { source: string; type: string; subtype: string | null },
): string[] | null {
  let topics: string[] | null = null;
  for (const r of routes) {
    if (r.source !== item.source) continue;
    if (r.types && !r.types.includes(item.type)) continue;
    if (r.subtypes && (item.subtype === null || !r.subtypes.includes(item.subtype))) continue;
    topics ??= [];
    for (const t of r.topics) if (!topics.includes(t)) topics.push(t);
  }
  return topics;
}
