// The configuration file: the allow-list of resources chronops may touch, the time zone, lead times and where
// the data lives. Read once at start and validated completely, so that a typo stops chronops with a message
// naming the field instead of surfacing at 3 a.m. when a window fires.

import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import type { AuroraResource, EcsResource, Resource, ResourceKind } from '../capabilities/capacity/model.ts';
import { parseProductThread } from '../capabilities/capacity/thread-parser.ts';
import { collectJobs, type JobsConfig, jobEntrySchema } from '../capabilities/jobs/config.ts';
import {
  collectPower,
  type PowerConfig,
  powerEntrySchemas,
  schedulesSchema,
} from '../capabilities/power/config.ts';
import { collectRules, rulesSchemas } from '../capabilities/rules/config.ts';
import type { RulesConfig } from '../capabilities/rules/model.ts';
import { PERMISSION_KEY, type RoomChatConfig, roomChatSchema } from '../chat/config.ts';
import { isLocale, LOCALES, type Locale } from '../chat/messages.ts';
import type { ChatRule } from '../chat/permissions.ts';
import {
  DEFAULT_SLACK_BODY_BYTES,
  type KafkaConfig,
  kafkaSchema,
  type ResolvedSources,
  resolveKafka,
  resolveSources,
  sourcesSchema,
} from '../gateway/config.ts';
import { checkReplyTo, type NotifyConfig, notifySchema, resolveNotify } from '../notify/config.ts';
import { resolveServices, type ServiceConfig, serviceEntrySchema } from '../services/config.ts';
import { parseConfigText, readConfigFile } from './config-file.ts';
import { ConfigError, type FieldIssue } from './errors.ts';
import { isValidZone } from './time.ts';

export interface Config {
  /** IANA zone for times people type and read, e.g. Asia/Seoul. */
  timezone: string;
  /** The language of chat replies (and their errors): `en` or `ko`. */
  locale: Locale;
  /** Record cloud calls instead of sending them, for every window. */
  dryRun: boolean;
  /** How long before the open `--auto` starts each kind, and how long after it scales in. */
  leadTimes: { ecsMinutes: number; auroraMinutes: number; scaleInMinutesAfterOpen: number };
  /** A start transition later than this (e.g. the server was down) is recorded as missed, not run. */
  graceMinutes: number;
  /** The allow-list, by resource name (names are unique across kinds). */
  resources: Record<string, Resource>;
  /** Office-hours schedules and the resources they start and stop (the power allow-list). */
  power: PowerConfig;
  /** Event rules and the allow-list of tasks they may run (`rules:`, `resources.tasks:`). */
  rules: RulesConfig;
  /** The resource an ask without a name goes to, per kind. */
  defaults: { ecs?: string; aurora?: string };
  server: { host: string; port: number };
  /** `url` set: PostgreSQL server; otherwise the embedded database in `dataDir` (an absolute path). */
  database: { url?: string; dataDir: string };
  /** Following new Aurora readers until they are available. */
  replicas: { pollSeconds: number; timeoutMinutes: number };
  /** `simulate` is handed untouched to the AWS simulator (demo mode). */
  aws: { simulate?: Record<string, unknown> };
  /** The Slack app: on when SLACK_SIGNING_SECRET is set (or `slack.enabled: true`, which then requires it). */
  slack: SlackConfig;
  /** Webhook sources besides Slack (src/gateway/config.ts): those on, and those off for a missing secret. */
  sources: ResolvedSources;
  /** The relay of stored deliveries to Kafka topics; undefined: off (the default). */
  kafka?: KafkaConfig;
  /** Named destinations of the outbox (Teams, Slack and JANDI webhooks, Slack channels, the console). */
  notify: NotifyConfig;
  /** The team's services chronops may call (HTTP jobs, rules' http action), by name (src/services/config.ts). */
  services: Record<string, ServiceConfig>;
  /** Scheduled HTTP jobs calling those services (src/capabilities/jobs/config.ts). */
  jobs: JobsConfig;
  /** Chat from JANDI rooms and Teams channels: who may run which command (src/chat/config.ts). */
  jandi: RoomChatConfig;
  teams: RoomChatConfig;
  /** Values that must never be logged (e.g. the password in DATABASE_URL, the Slack secrets). */
  secrets: string[];
}

export interface SlackConfig {
  enabled: boolean;
  /** SLACK_SIGNING_SECRET: verifies that requests come from Slack. */
  signingSecret?: string;
  /** SLACK_BOT_TOKEN: the bot's token for Web API calls. */
  botToken?: string;
  /** SLACK_API_URL: the Web API base URL (default https://slack.com/api/; tests and proxies override it). */
  apiUrl?: string;
  /**
   * Allow-lists by permission key (each chat command names its key: capacity's `create`, `delete`, `now`); a
   * command without a rule is open to everyone. Keys no command uses stop chronops at start (a typo).
   */
  permissions: Record<string, ChatRule>;
  /** A team's own product-line regex (named groups number, id, name, time [, date]) for the alert message. */
  threadPattern?: string;
  /** Show an estimated cost in plans (for resources with a pricePerUnitHour). */
  estimatedCost: boolean;
  /** Least time between two messages chronops posts in one channel (Slack allows about one a second). */
  postIntervalMs: number;
  /** Largest request body accepted on /slack/*; larger ones get 413 and are not read. */
  maxBodyBytes: number;
}

export const DEFAULT_CONFIG = {
  timezone: 'UTC',
  locale: 'en',
  dryRun: false,
  leadTimes: { ecsMinutes: 10, auroraMinutes: 25, scaleInMinutesAfterOpen: 60 },
  graceMinutes: 15,
  server: { host: '127.0.0.1', port: 3000 },
  dataDir: './data',
  replicas: { pollSeconds: 30, timeoutMinutes: 60 },
  slack: { estimatedCost: true, postIntervalMs: 1000, maxBodyBytes: DEFAULT_SLACK_BODY_BYTES },
} as const;

const SLACK_CHANNEL = /^[CGD][A-Z0-9]{2,}$/;
const SLACK_USER = /^[UW][A-Z0-9]{2,}$/;
const SLACK_GROUP = /^S[A-Z0-9]{2,}$/;

const RESOURCE_NAME = /^[a-z0-9][a-z0-9-]{0,39}$/;
const AWS_REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;
const INSTANCE_CLASS = /^db\.[a-z0-9]+\.[a-z0-9]+$/;
const KIND_LABEL: Record<ResourceKind, string> = { ecs: 'ecs service', aurora: 'aurora cluster' };

const required = (message: string) => ({
  error: (issue: { input?: unknown }) => (issue.input === undefined ? 'is required' : message),
});
const positiveInt = () => z.number(required('must be a positive integer')).int().positive();
const minutes = () => z.number(required('must be a whole number of minutes, 0 or more')).int().min(0);
const text = () => z.string(required('must be a non-empty string')).trim().min(1);
const name = () =>
  z
    .string(required('must be a string'))
    .regex(RESOURCE_NAME, 'must be 1 to 40 characters of a-z, 0-9 and "-", starting with a letter or digit');
const region = () =>
  z
    .string({
      error: (issue) => (issue.input === undefined ? 'is required (or set AWS_REGION)' : 'must be a string'),
    })
    .regex(AWS_REGION, 'must be an AWS region such as ap-northeast-2');
const price = () => z.number(required('must be a number, 0 or more')).min(0);
const postgresUrl = () =>
  z.string(required('must be a string')).refine(isPostgresUrl, 'must be a postgres:// URL');

/** The file's schema; a resource without a region takes AWS_REGION from the environment when it is set. */
function configFileSchema(envRegion: string | undefined) {
  const resourceRegion = () => (envRegion === undefined ? region() : region().default(envRegion));
  const power = powerEntrySchemas({ name, region: resourceRegion, price });
  const rules = rulesSchemas({ name, region: resourceRegion });
  const EcsEntry = z.strictObject({
    name: name(),
    cluster: text(),
    service: text(),
    region: resourceRegion(),
    maxTasks: positiveInt(),
    pricePerUnitHour: price().optional(),
    schedule: power.schedule,
  });

  const AuroraEntry = z.strictObject({
    name: name(),
    clusterId: text(),
    region: resourceRegion(),
    instanceClass: z
      .string(required('must be a string'))
      .regex(INSTANCE_CLASS, 'must be a DB instance class such as db.r6g.large'),
    maxExtraReplicas: positiveInt(),
    pricePerUnitHour: price().optional(),
    schedule: power.schedule,
  });

  return z.strictObject({
    timezone: z
      .string(required('must be a string'))
      .refine(isValidZone, 'must be an IANA time zone such as Asia/Seoul or UTC')
      .default(DEFAULT_CONFIG.timezone),
    dryRun: z.boolean(required('must be true or false')).default(DEFAULT_CONFIG.dryRun),
    locale: z
      .string(required('must be a string'))
      .refine(isLocale, `must be one of ${LOCALES.join(', ')}`)
      .default(DEFAULT_CONFIG.locale),
    leadTimes: z
      .strictObject({
        ecsMinutes: minutes().default(DEFAULT_CONFIG.leadTimes.ecsMinutes),
        auroraMinutes: minutes().default(DEFAULT_CONFIG.leadTimes.auroraMinutes),
        scaleInMinutesAfterOpen: positiveInt().default(DEFAULT_CONFIG.leadTimes.scaleInMinutesAfterOpen),
      })
      .prefault({}),
    graceMinutes: minutes().default(DEFAULT_CONFIG.graceMinutes),
    resources: z
      .strictObject({
        ecs: z.array(EcsEntry, required('must be a list')).default([]),
        aurora: z.array(AuroraEntry, required('must be a list')).default([]),
        ec2: z.array(power.ec2, required('must be a list')).default([]),
        rds: z.array(power.rds, required('must be a list')).default([]),
        tasks: z.array(rules.taskEntry, required('must be a list')).default([]),
      })
      .prefault({}),
    schedules: schedulesSchema(),
    rules: z.array(rules.rule, required('must be a list')).default([]),
    defaults: z.strictObject({ ecs: name().optional(), aurora: name().optional() }).prefault({}),
    server: z
      .strictObject({
        host: text().default(DEFAULT_CONFIG.server.host),
        port: z
          .number(required('must be an integer from 0 to 65535'))
          .int()
          .min(0)
          .max(65535)
          .default(DEFAULT_CONFIG.server.port),
      })
      .prefault({}),
    database: z
      .strictObject({ url: postgresUrl().optional(), dataDir: text().default(DEFAULT_CONFIG.dataDir) })
      .prefault({}),
    replicas: z
      .strictObject({
        pollSeconds: positiveInt().default(DEFAULT_CONFIG.replicas.pollSeconds),
        timeoutMinutes: positiveInt().default(DEFAULT_CONFIG.replicas.timeoutMinutes),
      })
      .prefault({}),
    aws: z
      .strictObject({ simulate: z.record(z.string(), z.unknown(), required('must be a mapping')).optional() })
      .prefault({}),
    slack: z
      .strictObject({
        enabled: z.boolean(required('must be true or false')).optional(),
        permissions: z
          .record(
            z.string().regex(PERMISSION_KEY, 'must be a permission key such as create or jobs.run'),
            chatRule(),
            required('must be a mapping of permission keys to rules'),
          )
          .prefault({}),
        threadPattern: text().optional(),
        estimatedCost: z
          .boolean(required('must be true or false'))
          .default(DEFAULT_CONFIG.slack.estimatedCost),
        postIntervalMs: z
          .number(required('must be a whole number of milliseconds, 0 or more'))
          .int()
          .min(0)
          .max(60_000)
          .default(DEFAULT_CONFIG.slack.postIntervalMs),
        maxBodyBytes: z
          .number(required('must be a whole number of bytes'))
          .int()
          .min(1024)
          .max(10 * 1024 * 1024)
          .default(DEFAULT_CONFIG.slack.maxBodyBytes),
      })
      .prefault({}),
    sources: sourcesSchema,
    kafka: kafkaSchema,
    notify: notifySchema(),
    services: z.array(serviceEntrySchema(), required('must be a list')).default([]),
    jobs: z.array(jobEntrySchema(), required('must be a list')).default([]),
    jandi: roomChatSchema(),
    teams: roomChatSchema(),
  });
}

/** Slack ids, not names: events carry ids, so a name would never match. */
function slackIds(pattern: RegExp, what: string) {
  return z
    .array(
      z
        .string(required('must be a string'))
        .trim()
        .regex(pattern, `must be a Slack ${what} id such as ${example(what)}`),
      required('must be a list'),
    )
    .optional();
}
function example(what: string): string {
  return what === 'channel' ? 'C0123ABCD (not #name)' : what === 'user' ? 'U0123ABCD' : 'S0123ABCD';
}
function chatRule() {
  return z.strictObject({
    channels: slackIds(SLACK_CHANNEL, 'channel'),
    users: slackIds(SLACK_USER, 'user'),
    userGroups: slackIds(SLACK_GROUP, 'user group'),
  });
}

type ConfigFileShape = z.infer<ReturnType<typeof configFileSchema>>;
const TOP_LEVEL_KEYS = Object.keys(configFileSchema(undefined).shape);

/**
 * Where the config file is: `--config` first, then `CHRONOPS_CONFIG`. Returns an absolute path; refuses with
 * a message that says how to give one when neither is set.
 */
export function resolveConfigPath(option?: string, env: NodeJS.ProcessEnv = process.env): string {
  const given = option?.trim() || env.CHRONOPS_CONFIG?.trim();
  if (!given) {
    throw new ConfigError([
      {
        field: '--config',
        message:
          'no config file given: pass --config path/to/chronops.yaml or set CHRONOPS_CONFIG ' +
          '(examples/chronops.yaml is a starting point)',
      },
    ]);
  }
  return resolve(given);
}

/**
 * Reads and validates the config file at `path` (YAML, or JSON for `.json`). Relative paths in it (the data
 * directory) are resolved against the file's folder. Throws ConfigError naming every bad field.
 */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): Config {
  const { file, text } = readConfigFile(path);
  return parseConfig(parseConfigText(text, file, parseDocument), env, { baseDir: dirname(file) });
}

/**
 * Validates an already parsed config (the object a file holds), applies defaults and environment overrides
 * (PORT, HOST, DATABASE_URL, CHRONOPS_DRY_RUN; AWS_REGION as the default region) and returns the Config.
 * `baseDir` is the folder relative paths are resolved against (the config file's; default: the working dir).
 */
export function parseConfig(
  raw: unknown,
  env: NodeJS.ProcessEnv = process.env,
  opts: { baseDir?: string } = {},
): Config {
  if (raw === null || raw === undefined || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError([
      { field: 'config', message: 'must be a mapping of settings (see examples/chronops.yaml)' },
    ]);
  }
  const envRegion = env.AWS_REGION?.trim() || undefined;
  const parsed = configFileSchema(envRegion).safeParse(raw, { error: genericMessage });
  const issues: FieldIssue[] = parsed.success ? [] : parsed.error.issues.flatMap(toFieldIssues);
  const envIssues: FieldIssue[] = [];
  const overrides = readEnv(env, envIssues);
  if (!parsed.success) throw new ConfigError([...issues, ...envIssues]);

  const file = parsed.data;
  const resources = collectResources(file, issues);
  const defaults = resolveDefaults(file, resources, issues);
  const taken = new Map([
    ...file.resources.ecs.map((e, i) => [e.name, `resources.ecs[${i}]`] as const),
    ...file.resources.aurora.map((e, i) => [e.name, `resources.aurora[${i}]`] as const),
  ]);
  const power = collectPower(file, file.timezone, taken, issues);
  const rules = collectRules(
    file.resources.tasks,
    file.rules,
    new Map([
      ...taken,
      ...file.resources.ec2.map((e, i) => [e.name, `resources.ec2[${i}]`] as const),
      ...file.resources.rds.map((e, i) => [e.name, `resources.rds[${i}]`] as const),
    ]),
    new Set(Object.keys(file.notify.destinations)),
    issues,
    new Set(file.services.map((s) => s.name)),
  );
  issues.push(...envIssues);
  if (issues.length > 0) throw new ConfigError(issues);

  const url = overrides.databaseUrl ?? file.database.url;
  const slack = resolveSlack(file, overrides, issues);
  const sources = resolveSources(file.sources, env, issues);
  const kafka = resolveKafka(file.kafka, ['slack', ...file.sources.map((s) => s.name)], env, issues);
  const notify = resolveNotify(file.notify, env, issues, { slackEnabled: slack.enabled });
  checkReplyTo(file.sources, notify.notify.destinations, issues);
  const services = resolveServices(file.services, env, issues);
  const jobs = collectJobs(
    file.jobs,
    {
      services: new Set(file.services.map((s) => s.name)),
      destinations: new Set(Object.keys(file.notify.destinations)),
      timezone: file.timezone,
      kafka: kafka.kafka !== undefined,
    },
    issues,
  );
  if (issues.length > 0) throw new ConfigError(issues);
  return {
    timezone: file.timezone,
    locale: file.locale as Locale,
    dryRun: overrides.dryRun ?? file.dryRun,
    leadTimes: { ...file.leadTimes },
    graceMinutes: file.graceMinutes,
    resources,
    power,
    rules,
    defaults,
    server: { host: overrides.host ?? file.server.host, port: overrides.port ?? file.server.port },
    database: {
      ...(url === undefined ? {} : { url }),
      dataDir: resolve(opts.baseDir ?? process.cwd(), file.database.dataDir),
    },
    replicas: { ...file.replicas },
    aws: file.aws.simulate === undefined ? {} : { simulate: file.aws.simulate },
    slack,
    sources,
    ...(kafka.kafka ? { kafka: kafka.kafka } : {}),
    notify: notify.notify,
    services: services.services,
    jobs,
    jandi: { permissions: { ...file.jandi.permissions } },
    teams: { permissions: { ...file.teams.permissions } },
    secrets: [
      ...(url === undefined ? [] : secretsOfUrl(url)),
      ...[slack.signingSecret, slack.botToken, slack.apiUrl].filter((v): v is string => v !== undefined),
      ...sources.secrets,
      ...kafka.secrets,
      ...notify.secrets,
      ...services.secrets,
    ],
  };
}

/**
 * Slack is on when its signing secret is in the environment, or when the file says `enabled: true`; on, it needs
 * both the signing secret and the bot token (chronops refuses to start without them). `enabled: false` keeps it
 * off whatever the environment says.
 */
function resolveSlack(file: ConfigFileShape, env: EnvOverrides, issues: FieldIssue[]): SlackConfig {
  const s = file.slack;
  const enabled = s.enabled ?? env.slackSigningSecret !== undefined;
  if (s.threadPattern !== undefined) {
    try {
      parseProductThread('', { zone: 'UTC', now: new Date(), pattern: s.threadPattern });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      issues.push({ field: 'slack.threadPattern', message: message.replace(/^pattern: /, '') });
    }
  }
  if (enabled) {
    if (env.slackSigningSecret === undefined) {
      issues.push({
        field: 'SLACK_SIGNING_SECRET (environment)',
        message:
          'Slack is enabled but its signing secret is not set; chronops will not accept unverifiable requests ' +
          '(copy it from the Slack app: Basic Information → Signing Secret)',
      });
    }
    if (env.slackBotToken === undefined) {
      issues.push({
        field: 'SLACK_BOT_TOKEN (environment)',
        message:
          'Slack is enabled but the bot token (xoxb-…) is not set (OAuth & Permissions → Bot User OAuth Token)',
      });
    }
  }
  return {
    enabled,
    ...(enabled && env.slackSigningSecret !== undefined ? { signingSecret: env.slackSigningSecret } : {}),
    ...(enabled && env.slackBotToken !== undefined ? { botToken: env.slackBotToken } : {}),
    ...(enabled && env.slackApiUrl !== undefined ? { apiUrl: env.slackApiUrl } : {}),
    permissions: { ...s.permissions },
    ...(s.threadPattern === undefined ? {} : { threadPattern: s.threadPattern }),
    estimatedCost: s.estimatedCost,
    postIntervalMs: s.postIntervalMs,
    maxBodyBytes: s.maxBodyBytes,
  };
}

function collectResources(file: ConfigFileShape, issues: FieldIssue[]) {
  const resources: Record<string, Resource> = {};
  const seenAt = new Map<string, string>();
  const add = (field: string, resource: Resource) => {
    const earlier = seenAt.get(resource.name);
    if (earlier !== undefined) {
      issues.push({ field: `${field}.name`, message: `"${resource.name}" is already used by ${earlier}` });
      return;
    }
    seenAt.set(resource.name, field);
    resources[resource.name] = resource;
  };
  file.resources.ecs.forEach((entry, i) => {
    const field = `resources.ecs[${i}]`;
    const resource: EcsResource = {
      kind: 'ecs',
      name: entry.name,
      cluster: entry.cluster,
      service: entry.service,
      region: entry.region,
      maxTasks: entry.maxTasks,
      ...(entry.pricePerUnitHour === undefined ? {} : { pricePerUnitHour: entry.pricePerUnitHour }),
    };
    add(field, resource);
  });
  file.resources.aurora.forEach((entry, i) => {
    const field = `resources.aurora[${i}]`;
    const resource: AuroraResource = {
      kind: 'aurora',
      name: entry.name,
      clusterId: entry.clusterId,
      region: entry.region,
      instanceClass: entry.instanceClass,
      maxExtraReplicas: entry.maxExtraReplicas,
      ...(entry.pricePerUnitHour === undefined ? {} : { pricePerUnitHour: entry.pricePerUnitHour }),
    };
    add(field, resource);
  });
  return resources;
}

/** An explicit default must be a configured resource of its kind; a lone resource of a kind is the default. */
function resolveDefaults(file: ConfigFileShape, resources: Record<string, Resource>, issues: FieldIssue[]) {
  const defaults: Config['defaults'] = {};
  for (const kind of ['ecs', 'aurora'] as const) {
    const ofKind = Object.values(resources).filter((r) => r.kind === kind);
    const given = file.defaults[kind];
    if (given === undefined) {
      if (ofKind.length === 1) defaults[kind] = ofKind[0]!.name;
      continue;
    }
    const found = resources[given];
    if (found?.kind === kind) {
      defaults[kind] = given;
      continue;
    }
    const configured = `configured ${KIND_LABEL[kind]}s: ${ofKind.map((r) => r.name).join(', ') || '(none)'}`;
    issues.push({
      field: `defaults.${kind}`,
      message: found
        ? `"${given}" is an ${KIND_LABEL[found.kind]}, not an ${KIND_LABEL[kind]}; ${configured}`
        : `unknown ${KIND_LABEL[kind]} "${given}"; ${configured}`,
    });
  }
  return defaults;
}

interface EnvOverrides {
  port?: number;
  host?: string;
  databaseUrl?: string;
  dryRun?: boolean;
  slackSigningSecret?: string;
  slackBotToken?: string;
  slackApiUrl?: string;
}

function readEnv(env: NodeJS.ProcessEnv, issues: FieldIssue[]): EnvOverrides {
  const out: EnvOverrides = {};
  const port = env.PORT?.trim();
  if (port) {
    const n = Number(port);
    if (/^\d+$/.test(port) && n <= 65535) out.port = n;
    else
      issues.push({ field: 'PORT (environment)', message: `"${port}" must be an integer from 0 to 65535` });
  }
  const host = env.HOST?.trim();
  if (host) out.host = host;
  const url = env.DATABASE_URL?.trim();
  if (url) {
    if (isPostgresUrl(url)) out.databaseUrl = url;
    else issues.push({ field: 'DATABASE_URL (environment)', message: 'must be a postgres:// URL' });
  }
  const signingSecret = env.SLACK_SIGNING_SECRET?.trim();
  if (signingSecret) out.slackSigningSecret = signingSecret;
  const botToken = env.SLACK_BOT_TOKEN?.trim();
  if (botToken) out.slackBotToken = botToken;
  const apiUrl = env.SLACK_API_URL?.trim();
  if (apiUrl) {
    if (isHttpUrl(apiUrl)) out.slackApiUrl = apiUrl.endsWith('/') ? apiUrl : `${apiUrl}/`;
    else issues.push({ field: 'SLACK_API_URL (environment)', message: 'must be an http:// or https:// URL' });
  }
  const dryRun = env.CHRONOPS_DRY_RUN?.trim().toLowerCase();
  if (dryRun) {
    if (['1', 'true', 'yes', 'on'].includes(dryRun)) out.dryRun = true;
    else if (['0', 'false', 'no', 'off'].includes(dryRun)) out.dryRun = false;
    else {
      issues.push({
        field: 'CHRONOPS_DRY_RUN (environment)',
        message: `"${env.CHRONOPS_DRY_RUN}" must be 1/true or 0/false`,
      });
    }
  }
  return out;
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

function isPostgresUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'postgres:' || url.protocol === 'postgresql:';
  } catch {
    return false;
  }
}

/** The password of a database URL must never reach a log, in either spelling. */
function secretsOfUrl(value: string): string[] {
  const password = new URL(value).password;
  if (!password) return [];
  const decoded = safeDecode(password);
  return [...new Set([password, decoded])];
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
};

/** Messages for issues the schema does not word itself. */
function genericMessage(issue: { code?: string; input?: unknown; expected?: unknown }): string | undefined {
  if (issue.code !== 'invalid_type') return undefined;
  if (issue.input === undefined) return 'is required';
  return `must be ${TYPE_NAMES[String(issue.expected)] ?? String(issue.expected)}`;
}

function toFieldIssues(issue: z.core.$ZodIssue): FieldIssue[] {
  const at = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({
      field: at ? `${at}.${key}` : key,
      message: at
        ? 'unknown key; check its spelling'
        : `unknown key; check its spelling (known keys: ${TOP_LEVEL_KEYS.join(', ')})`,
    }));
  }
  return [{ field: at || 'config', message: issue.message }];
}

/** `['resources', 'ecs', 1, 'maxTasks']` → `resources.ecs[1].maxTasks`. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}
