// The `sources:` section of the config: the webhook sources besides Slack (which keeps its own `slack:` section).
// Secrets are never in the file: each source names the environment variable that holds its token, secret or key,
// and a source whose variable is not set is off (its URL answers 404 saying why) — unless it says `enabled: true`,
// and then chronops refuses to start without it.

import { z } from 'zod';
import type { FieldIssue } from '../kernel/errors.ts';

const NAME = /^[a-z0-9][a-z0-9-]{0,39}$/;
const ENV = /^[A-Z_][A-Z0-9_]*$/;
const TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}$/;
const HEADER = /^[A-Za-z0-9-]+$/;

export const DEFAULT_SOURCE_BODY_BYTES = 256 * 1024;

const name = () =>
  z.string().regex(NAME, 'must be 1 to 40 characters of a-z, 0-9 and "-", starting with a letter or digit');
const envName = () =>
  z.string().regex(ENV, 'must be the NAME of an environment variable (A-Z, 0-9, _), not the secret itself');
const common = {
  name: name(),
  enabled: z.boolean().optional(),
  maxBodyBytes: z
    .number()
    .int()
    .min(1024)
    .max(10 * 1024 * 1024)
    .default(DEFAULT_SOURCE_BODY_BYTES),
};
const tolerance = () => z.number().int().min(1).max(86_400).default(300);

const jandi = z.strictObject({
  kind: z.literal('jandi'),
  ...common,
  /** One entry per JANDI room: its outgoing webhook's token, and optionally its incoming webhook URL. */
  rooms: z
    .array(
      z.strictObject({
        /** The room's name as chronops calls it (permissions, logs); JANDI's roomName is recorded beside it. */
        name: z.string().trim().min(1),
        tokenEnv: envName(),
        /** The room's JANDI incoming webhook URL, for answers that come later (a long command's outcome). */
        webhookUrlEnv: envName().optional(),
      }),
    )
    .min(1, 'must list at least one room'),
  /** How long JANDI's request waits for the answer of a quick command (then it is answered "started"). */
  replyWithinMs: z.number().int().min(0).max(10_000).default(3000),
  /** A message whose createdAt is further from now than this is refused (a replay). */
  toleranceSeconds: tolerance(),
});

const teams = z.strictObject({
  kind: z.literal('teams'),
  ...common,
  /** The security token Teams shows when the outgoing webhook is created (base64). */
  secretEnv: envName(),
  /** Teams shows an answer only within 5 s. */
  replyWithinMs: z.number().int().min(0).max(4800).default(4000),
  toleranceSeconds: tolerance(),
});

const generic = z.strictObject({
  kind: z.literal('generic'),
  ...common,
  /** `standard`: Standard Webhooks (webhook-id/-timestamp/-signature); `github`: X-Hub-Signature-256. */
  scheme: z.enum(['standard', 'github']),
  secretEnv: envName(),
  toleranceSeconds: tolerance(),
});

const sns = z.strictObject({
  kind: z.literal('sns'),
  ...common,
  /** Topics whose subscription chronops confirms, and whose notifications it accepts. */
  topics: z
    .array(z.string().regex(TOPIC_ARN, 'must be an SNS topic ARN'))
    .min(1, 'must list at least one topic'),
  /** A message older than this (its Timestamp) is refused. */
  maxAgeSeconds: z.number().int().min(60).max(86_400).default(3600),
});

const events = z.strictObject({
  kind: z.literal('events'),
  ...common,
  /** The header the EventBridge connection sends its API key in. */
  apiKeyHeader: z.string().regex(HEADER, 'must be an HTTP header name').default('x-chronops-api-key'),
  apiKeyEnv: envName(),
});

export const sourcesSchema = z
  .array(z.discriminatedUnion('kind', [jandi, teams, generic, sns, events]))
  .default([]);
export type SourceFileEntry = z.infer<typeof sourcesSchema>[number];

interface Common {
  name: string;
  maxBodyBytes: number;
}
export interface JandiRoom {
  name: string;
  token: string;
  webhookUrl?: string;
}
export type SourceConfig =
  | (Common & {
      kind: 'jandi';
      rooms: JandiRoom[];
      replyWithinMs: number;
      toleranceSeconds: number;
    })
  | (Common & { kind: 'teams'; secret: string; replyWithinMs: number; toleranceSeconds: number })
  | (Common & { kind: 'generic'; scheme: 'standard' | 'github'; secret: string; toleranceSeconds: number })
  | (Common & { kind: 'sns'; topics: string[]; maxAgeSeconds: number })
  | (Common & { kind: 'events'; apiKeyHeader: string; apiKey: string });

export interface ResolvedSources {
  on: SourceConfig[];
  /** Configured but off: a secret is not in the environment. */
  off: Array<{ name: string; kind: SourceConfig['kind']; reason: string }>;
  secrets: string[];
}

/** The env variables an entry needs, by field. */
function envOf(entry: SourceFileEntry): Array<[field: string, env: string]> {
  switch (entry.kind) {
    case 'jandi':
      return entry.rooms.flatMap(
        (r, i): Array<[string, string]> => [
          [`rooms[${i}].tokenEnv`, r.tokenEnv],
          ...(r.webhookUrlEnv
            ? ([[`rooms[${i}].webhookUrlEnv`, r.webhookUrlEnv]] as Array<[string, string]>)
            : []),
        ],
      );
    case 'teams':
    case 'generic':
      return [['secretEnv', entry.secretEnv]];
    case 'sns':
      return [];
    case 'events':
      return [['apiKeyEnv', entry.apiKeyEnv]];
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
    const value = (v: string) => env[v]?.trim() || undefined;
    const missing = envOf(entry).filter(([field, v]) => !value(v) && !field.endsWith('webhookUrlEnv'));
    if (entry.enabled === false) {
      out.off.push({
        name: entry.name,
        kind: entry.kind,
        reason: `the ${entry.kind} source ${entry.name} is disabled in the config`,
      });
      return;
    }
    if (missing.length > 0) {
      const names = missing.map(([, v]) => v).join(', ');
      if (entry.enabled === true) {
        for (const [field, v] of missing) {
          issues.push({
            field: `${v} (environment, ${at}.${field})`,
            message: `the ${entry.kind} source ${entry.name} is enabled but ${v} is not set`,
          });
        }
      } else {
        out.off.push({
          name: entry.name,
          kind: entry.kind,
          reason: `the ${entry.kind} source ${entry.name} is off: ${names} is not set`,
        });
      }
      return;
    }
    const base = { name: entry.name, maxBodyBytes: entry.maxBodyBytes };
    const secret = (v: string) => {
      const s = value(v)!;
      out.secrets.push(s);
      return s;
    };
    switch (entry.kind) {
      case 'jandi':
        out.on.push({
          ...base,
          kind: 'jandi',
          rooms: entry.rooms.map((r) => {
            const url = r.webhookUrlEnv ? value(r.webhookUrlEnv) : undefined;
            if (url) out.secrets.push(url);
            return { name: r.name, token: secret(r.tokenEnv), ...(url ? { webhookUrl: url } : {}) };
          }),
          replyWithinMs: entry.replyWithinMs,
          toleranceSeconds: entry.toleranceSeconds,
        });
        break;
      case 'teams':
        out.on.push({
          ...base,
          kind: 'teams',
          secret: secret(entry.secretEnv),
          replyWithinMs: entry.replyWithinMs,
          toleranceSeconds: entry.toleranceSeconds,
        });
        break;
      case 'generic':
        out.on.push({
          ...base,
          kind: 'generic',
          scheme: entry.scheme,
          secret: secret(entry.secretEnv),
          toleranceSeconds: entry.toleranceSeconds,
        });
        break;
      case 'sns':
        out.on.push({ ...base, kind: 'sns', topics: entry.topics, maxAgeSeconds: entry.maxAgeSeconds });
        break;
      case 'events':
        out.on.push({
          ...base,
          kind: 'events',
          apiKeyHeader: entry.apiKeyHeader.toLowerCase(),
          apiKey: secret(entry.apiKeyEnv),
        });
        break;
    }
  });
  return out;
}
