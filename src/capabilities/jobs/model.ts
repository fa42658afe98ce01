// HTTP jobs' model: what a job is, when it is due, what a run's answer makes of it. Pure: no I/O.
import { createHash } from 'node:crypto';
import { Cron } from 'croner';
import type { ServiceAnswer } from '../../services/caller.ts';
import type { JobResult } from '../../services/contract.ts';

export const OVERLAPS = ['skip', 'queue', 'allow'] as const;
export type Overlap = (typeof OVERLAPS)[number];
export const MODES = ['sync', 'callback', 'kafka'] as const;
export type Mode = (typeof MODES)[number];
export const NOTIFY_WHEN = ['always', 'failure', 'change'] as const;
export type NotifyWhen = (typeof NOTIFY_WHEN)[number];

export interface RetryPolicy {
  /** Attempts after the first. */
  limit: number;
  /** The first wait; doubled each attempt, up to `maxDelaySeconds`. */
  delaySeconds: number;
  maxDelaySeconds: number;
  /** ±this fraction of each wait, at random (so that many failed runs do not come back together). */
  jitter: number;
}

export interface JobSpec {
  name: string;
  description?: string;
  service: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: unknown;
  /** Cron (5 fields, or 6 with seconds first) in `timezone`; or `at` once. */
  schedule?: string;
  at?: string;
  timezone: string;
  /** Per attempt; undefined: the service's. */
  timeoutSeconds?: number;
  retries: RetryPolicy;
  overlap: Overlap;
  /** A run missed (chronops was down) runs late within this many minutes of its time; else it is recorded missed. */
  catchUpMinutes: number;
  mode: Mode;
  /** Kafka mode: the topic. */
  topic?: string;
  /** Callback and kafka modes: a run without its result by then is failed. */
  deadlineSeconds: number;
  notify: { to: string[]; when: NotifyWhen; alert?: string };
  paused: boolean;
}

export type RunStatus =
  | 'queued'
  | 'running'
  | 'retrying'
  | 'waiting'
  | 'success'
  | 'partial'
  | 'failed'
  | 'missed'
  | 'skipped';

export const FINAL_STATUSES: readonly RunStatus[] = ['success', 'partial', 'failed', 'missed', 'skipped'];
export const OPEN_STATUSES: readonly RunStatus[] = ['queued', 'running', 'retrying', 'waiting'];

export type Trigger = 'schedule' | 'catch-up' | 'manual';

const crons = new Map<string, Cron>();

function cronOf(pattern: string, timezone: string): Cron {
  const key = `${timezone} ${pattern}`;
  let c = crons.get(key);
  if (!c) {
    c = new Cron(pattern, { timezone, paused: true });
    crons.set(key, c);
  }
  return c;
}

/** Throws with croner's message when the pattern is not a cron expression. */
export function checkCron(pattern: string, timezone: string): void {
  new Cron(pattern, { timezone, paused: true });
}

/** The job's first time strictly after `after`, or null (an `at` in the past, a cron that never fires again). */
export function nextDue(job: Pick<JobSpec, 'schedule' | 'at' | 'timezone'>, after: Date): Date | null {
  if (job.at !== undefined) {
    const at = new Date(job.at);
    return at.getTime() > after.getTime() ? at : null;
  }
  if (!job.schedule) return null;
  // Jobs often share a schedule (every morning at 9): a fire of a thousand jobs computes each next time once.
  const key = `${job.timezone} ${job.schedule} ${after.getTime()}`;
  const known = nextTimes.get(key);
  if (known !== undefined) return known === null ? null : new Date(known);
  const next = cronOf(job.schedule, job.timezone).nextRun(after) ?? null;
  if (nextTimes.size > 10_000) nextTimes.clear();
  nextTimes.set(key, next?.getTime() ?? null);
  return next;
}

const nextTimes = new Map<string, number | null>();

/**
 * The first due time of a job chronops has not seen before: a cron's next time; an `at` still ahead, or passed by
 * less than the catch-up window (it runs late rather than never).
 */
export function firstDue(
  job: Pick<JobSpec, 'schedule' | 'at' | 'timezone' | 'catchUpMinutes'>,
  now: Date,
): Date | null {
  if (job.at !== undefined) {
    const at = new Date(job.at);
    const window = Math.max(job.catchUpMinutes * 60_000, LATE_OK_MS);
    return at.getTime() > now.getTime() - window ? at : null;
  }
  return nextDue(job, now);
}

/**
 * What to do with the occurrences from `from` (the stored next due time, included) up to `now`: the latest one
 * within the catch-up window runs (late); the others are recorded as missed (at most `maxMissed` of them, the
 * latest). Returns them and the next due time after `now`.
 */
export function dueOccurrences(
  job: Pick<JobSpec, 'schedule' | 'at' | 'timezone' | 'catchUpMinutes'>,
  from: Date,
  now: Date,
  maxMissed = 20,
): { run: Date | null; missed: Date[]; next: Date | null } {
  const occurrences: Date[] = [];
  let t: Date | null = from;
  let guard = 0;
  while (t && t.getTime() <= now.getTime() && guard++ < 10_000) {
    occurrences.push(t);
    t = nextDue(job, t);
  }
  const next = t && t.getTime() > now.getTime() ? t : nextDue(job, now);
  const last = occurrences.at(-1) ?? null;
  const windowMs = job.catchUpMinutes * 60_000;
  const runIt = last && now.getTime() - last.getTime() <= Math.max(windowMs, LATE_OK_MS) ? last : null;
  const missed = occurrences.filter((o) => o !== runIt).slice(-maxMissed);
  return { run: runIt, missed, next };
}

/** Late by this much still runs, whatever catchUpMinutes says (a busy or restarting server is not "down"). */
export const LATE_OK_MS = 60_000;
/** A run later than this is a catch-up (said in its history). */
export const CATCH_UP_AFTER_MS = 10_000;

/** A run's id: derived from the job and its due time for scheduled runs, so that a second fire finds the run. */
export function runIdOf(job: string, dueAt: Date, salt = ''): string {
  const hex = createHash('sha256')
    .update(`jobs\u0000${job}\u0000${dueAt.toISOString()}\u0000${salt}`)
    .digest('hex');
  // RFC 9562 layout, version 8 (custom), variant 10.
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${((Number.parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** The wait before attempt `attempt` (2 = the first retry), with jitter from `random` in [0, 1). */
export function backoffMs(policy: RetryPolicy, attempt: number, random = Math.random()): number {
  const base = Math.min(policy.maxDelaySeconds, policy.delaySeconds * 2 ** Math.max(0, attempt - 2)) * 1000;
  const spread = base * policy.jitter * (2 * random - 1);
  return Math.max(0, Math.round(base + spread));
}

/** What a service's answer makes of a run. */
export function outcomeOf(answer: Pick<ServiceAnswer, 'ok' | 'result'>): {
  status: 'success' | 'partial' | 'failed';
  retry: boolean;
} {
  if (!answer.ok) return { status: 'failed', retry: true };
  if (answer.result && answer.result.failCount > 0) return { status: 'partial', retry: false };
  return { status: 'success', retry: false };
}

/** The outcome of a result that arrived by callback. */
export function outcomeOfResult(result: JobResult): 'success' | 'partial' {
  return result.failCount > 0 ? 'partial' : 'success';
}
