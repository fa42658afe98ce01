// `services:` in the config file: the team's own services chronops may call (HTTP jobs, the event rules' `http`
// action). A service is a name and a base URL with default headers; header values and the signing secret may
// name environment variables (`${VAR}`), resolved here when the file is read, never stored in the database and
// redacted from every log. The signing secret must be such a reference: it is shared with the service, and a
// config file is shared with people.
//
//   services:
//     - name: cms
//       baseUrl: http://cms.internal:8080
//       headers: { Authorization: 'Bearer ${CMS_TOKEN}' }
//       secret: '${CMS_SIGNING_SECRET}'     # X-Chronops-Signature: HMAC-SHA256 over timestamp and body
//       timeoutSeconds: 30                  # per call unless the job says otherwise
//       concurrency: 50                     # calls in flight at once, across all chronops servers

import { z } from 'zod';
import { hasEnvRef, resolveEnvRefs } from '../kernel/env-refs.ts';
import type { FieldIssue } from '../kernel/errors.ts';

export interface ServiceConfig {
  name: string;
  /** http(s) URL, without a trailing slash; a job's path is appended to it. */
  baseUrl: string;
  /** Sent on every call (values resolved from the environment: secrets). */
  headers: Record<string, string>;
  /** The HMAC key of X-Chronops-Signature; unset: calls are not signed. */
  secret?: string;
  timeoutSeconds: number;
  /** Most calls in flight at once to this service, across all chronops servers. */
  concurrency: number;
  /**
   * Demo mode: the service is one chronops serves itself (/api/jobs/demo/<name>); its base URL becomes the
   * server's own once it listens (whatever PORT says).
   */
  demo?: true;
}

export const SERVICE_DEFAULTS = { timeoutSeconds: 30, concurrency: 50 } as const;

const SERVICE_NAME = /^[a-z0-9][a-z0-9_-]{0,39}$/;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
/** Headers chronops sets itself on every call: a service's defaults may not replace them. */
export const RESERVED_HEADERS = [
  'idempotency-key',
  'x-chronops-job',
  'x-chronops-run',
  'x-chronops-timestamp',
  'x-chronops-signature',
  'x-chronops-callback',
  'content-length',
  'host',
];

const required = (message: string) => ({
  error: (issue: { input?: unknown }) => (issue.input === undefined ? 'is required' : message),
});

export function serviceEntrySchema() {
  return z.strictObject({
    name: z
      .string(required('must be a string'))
      .regex(
        SERVICE_NAME,
        'must be 1 to 40 characters of a-z, 0-9, "_" and "-", starting with a letter or digit',
      ),
    baseUrl: z
      .string(required('must be a string'))
      .trim()
      .refine(isHttpBase, 'must be an http:// or https:// URL without a query or fragment'),
    headers: z
      .record(
        z.string().regex(HEADER_NAME, 'must be an HTTP header name'),
        z.string(required('must be a string')),
        required('must be a mapping of header names to values'),
      )
      .default({}),
    secret: z.string(required('must be a string')).optional(),
    timeoutSeconds: z
      .number(required('must be a number of seconds'))
      .positive('must be more than 0')
      .max(3600, 'must be at most 3600 (use callback mode for longer jobs)')
      .default(SERVICE_DEFAULTS.timeoutSeconds),
    concurrency: z
      .number(required('must be a positive integer'))
      .int('must be a positive integer')
      .min(1, 'must be a positive integer')
      .max(10_000, 'must be at most 10000')
      .default(SERVICE_DEFAULTS.concurrency),
    demo: z.boolean(required('must be true or false')).default(false),
  });
}

export type ServiceEntry = z.infer<ReturnType<typeof serviceEntrySchema>>;

function isHttpBase(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && !url.search && !url.hash;
  } catch {
    return false;
  }
}

/**
 * The entries with their `${VAR}` references resolved. Every resolved value of a reference is a secret (returned
 * in `secrets`, for the logger's redaction).
 */
export function resolveServices(
  entries: readonly ServiceEntry[],
  env: NodeJS.ProcessEnv,
  issues: FieldIssue[],
): { services: Record<string, ServiceConfig>; secrets: string[] } {
  const services: Record<string, ServiceConfig> = {};
  const secrets: string[] = [];
  entries.forEach((entry, i) => {
    const field = `services[${i}]`;
    if (services[entry.name]) {
      issues.push({ field: `${field}.name`, message: `"${entry.name}" is already used by another service` });
      return;
    }
    const headers: Record<string, string> = {};
    for (const [name, raw] of Object.entries(entry.headers)) {
      if (RESERVED_HEADERS.includes(name.toLowerCase())) {
        issues.push({ field: `${field}.headers.${name}`, message: 'is set by chronops on every call' });
        continue;
      }
      const value = resolveEnvRefs(raw, env, `${field}.headers.${name}`, issues);
      if (value === undefined) continue;
      headers[name] = value;
      if (hasEnvRef(raw)) secrets.push(value);
    }
    let secret: string | undefined;
    if (entry.secret !== undefined) {
      if (!hasEnvRef(entry.secret)) {
        issues.push({
          field: `${field}.secret`,
          message: `must name an environment variable, e.g. '\${CMS_SIGNING_SECRET}' (a secret is not kept in the file)`,
        });
      } else {
        secret = resolveEnvRefs(entry.secret, env, `${field}.secret`, issues);
        if (secret !== undefined) secrets.push(secret);
      }
    }
    services[entry.name] = {
      name: entry.name,
      baseUrl: entry.baseUrl.replace(/\/+$/, ''),
      headers,
      ...(secret === undefined ? {} : { secret }),
      timeoutSeconds: entry.timeoutSeconds,
      concurrency: entry.concurrency,
      ...(entry.demo ? { demo: true as const } : {}),
    };
  });
  return { services, secrets };
}
