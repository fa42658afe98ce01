// The Lambda host's config: only the sections the gateway uses — `slack` (on/off, body limit), `sources`, `kafka` —
// read from the same file as `chronops serve` (YAML, or JSON for `.json`) and checked with the same schemas
// (src/gateway/config.ts). The other sections are the server's: not read, not checked here, so that a cold start
// builds a few schemas instead of the whole config's (src/kernel/config.ts costs ~10× more to load).
// Secrets come from the environment as for the server: SLACK_SIGNING_SECRET, and the sources' `${NAME}` references.

import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import {
  DEFAULT_SLACK_BODY_BYTES,
  type GatewayConfig,
  kafkaSchema,
  resolveKafka,
  resolveSources,
  sourcesSchema,
} from '../gateway/config.ts';
import { isJsonConfig, parseConfigText, readConfigFile } from '../kernel/config-file.ts';
import { ConfigError, type FieldIssue } from '../kernel/errors.ts';

// The same wording of zod's own messages as the server's (the full zod build sets it when it loads).
z.config(en());

const gatewaySections = z.looseObject({
  slack: z._default(
    z.looseObject({
      enabled: z.optional(z.boolean()),
      maxBodyBytes: z._default(
        z.int().check(z.minimum(1024), z.maximum(10 * 1024 * 1024)),
        DEFAULT_SLACK_BODY_BYTES,
      ),
    }),
    { maxBodyBytes: DEFAULT_SLACK_BODY_BYTES },
  ),
  sources: sourcesSchema,
  kafka: kafkaSchema,
});

/** Reads the config file at `path` and returns what the gateway needs; ConfigError names every bad field. */
export async function loadGatewayConfig(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<GatewayConfig> {
  const { file, text } = readConfigFile(path);
  // The YAML parser is loaded only for a YAML file (a JSON config spares its load at a cold start).
  const yaml = isJsonConfig(file) ? undefined : (await import('./lambda-yaml.ts')).parseDocument;
  return parseGatewayConfig(parseConfigText(text, file, yaml), env);
}

/** The gateway's sections of an already parsed config, with the secrets read from `env`. */
export function parseGatewayConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError([{ field: 'config', message: 'must be a mapping of settings' }]);
  }
  const parsed = gatewaySections.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.flatMap((issue): FieldIssue[] => {
        const at = fieldOf(issue.path);
        if (issue.code === 'unrecognized_keys') {
          return issue.keys.map((key) => ({
            field: at ? `${at}.${key}` : key,
            message: 'unknown key; check its spelling',
          }));
        }
        return [{ field: at || 'config', message: issue.message }];
      }),
    );
  }
  const issues: FieldIssue[] = [];
  const file = parsed.data;
  const signingSecret = env.SLACK_SIGNING_SECRET?.trim() || undefined;
  const slackOn = file.slack.enabled ?? signingSecret !== undefined;
  if (slackOn && signingSecret === undefined) {
    issues.push({
      field: 'SLACK_SIGNING_SECRET (environment)',
      message: 'Slack is enabled but its signing secret is not set; unverifiable requests are not accepted',
    });
  }
  const sources = resolveSources(file.sources, env, issues);
  const kafka = resolveKafka(file.kafka, ['slack', ...file.sources.map((s) => s.name)], env, issues);
  if (issues.length > 0) throw new ConfigError(issues);
  return {
    slack: {
      enabled: slackOn,
      ...(slackOn && signingSecret ? { signingSecret } : {}),
      maxBodyBytes: file.slack.maxBodyBytes,
    },
    sources,
    ...(kafka.kafka ? { kafka: kafka.kafka } : {}),
    // The bot token is not used here, but it is scrubbed from the logs if the environment has it.
    secrets: [
      ...[signingSecret, env.SLACK_BOT_TOKEN?.trim()].filter((v): v is string => !!v),
      ...sources.secrets,
      ...kafka.secrets,
    ],
  };
}

/** `['sources', 0, 'secret']` → `sources[0].secret`. */
function fieldOf(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}
