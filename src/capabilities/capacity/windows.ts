// From a request ("web to 12 tasks, 2 extra readers, from 16:00 until 17:30", or "around an open at 16:00")
// to the holds of a capacity window. Pure: it reads the config and the clock it is given, stores nothing,
// and refuses bad input with every issue at once so a person fixes everything in one go.

import type { Config } from '../../kernel/config.ts';
import { type FieldIssue, ValidationError } from '../../kernel/errors.ts';
import {
  addCalendarDays,
  formatDuration,
  formatLocal,
  formatLocalTime,
  isTimeOfDay,
  parseLocalDateTime,
} from '../../kernel/time.ts';
import type { Hold, Resource, ResourceKind } from './model.ts';

/** Capacity on one resource: ECS tasks to hold, or Aurora readers to add. */
export interface CapacityAsk {
  /** A configured resource of the ask's kind; omitted → the config's default of that kind. */
  resource?: string;
  amount: number;
}

export type WindowTiming =
  /** Every hold from `at` to `until`. `until` may be `HH:mm`: the same day as `at`, or the next if not after. */
  | { mode: 'explicit'; at: string; until: string }
  /** Lead times from the config: each kind starts its own lead before `open`; all end after `open`. */
  | { mode: 'auto'; open: string };

export interface WindowRequest {
  /** What the window is for; default derived from its time, e.g. `window 2026-11-23 16:00`. */
  name?: string;
  ecs?: CapacityAsk[];
  aurora?: CapacityAsk[];
  timing: WindowTiming;
  /** Record instead of sending for this window; the config's global dry-run always wins. */
  dryRun?: boolean;
}

export interface BuiltHolds {
  holds: Hold[];
  /** Things that will happen differently from what was asked, for the person to read (e.g. a lead cut short). */
  warnings: string[];
  /** The request's name, or one derived from its time. */
  name: string;
  /** True when the config or the request asks for dry-run. */
  dryRun: boolean;
}

const WINDOW_NAME = /^[\w .:#\-\p{Script=Hangul}]{1,64}$/u;
const KIND_LABEL: Record<ResourceKind, string> = { ecs: 'ecs service', aurora: 'aurora cluster' };
const KIND_TITLE: Record<ResourceKind, string> = { ecs: 'ECS', aurora: 'Aurora' };
const MINUTE = 60_000;

/**
 * Validates a window request against the allow-list, the caps and the clock, and returns its holds (ECS asks
 * first, then Aurora, in request order). Throws one ValidationError listing every issue; nothing is stored.
 */
export function buildHolds(req: WindowRequest, config: Config, now: Date): BuiltHolds {
  const issues: FieldIssue[] = [];
  const zone = config.timezone;

  const name = checkName(req.name, issues);
  const asks = [
    ...checkAsks('ecs', req.ecs, config, issues),
    ...checkAsks('aurora', req.aurora, config, issues),
  ];
  const listed = (asks: unknown) => (Array.isArray(asks) ? asks.length : asks === undefined ? 0 : Number.NaN);
  if (listed(req.ecs) + listed(req.aurora) === 0) {
    issues.push({ field: 'ecs', message: 'ask for capacity on at least one ecs service or aurora cluster' });
  }
  const span = resolveTiming(req.timing, config, now, issues);

  if (issues.length > 0 || span === undefined) throw new ValidationError(issues);

  const warnings: string[] = [];
  const holds = asks.map(({ resource, amount }): Hold => {
    const from = span.fromOf(resource.kind, warnings);
    return { resource: resource.name, kind: resource.kind, amount, from, until: span.until };
  });
  return {
    holds,
    warnings: [...new Set(warnings)],
    name: name ?? `window ${formatLocal(span.start, zone)}`,
    dryRun: config.dryRun || req.dryRun === true,
  };
}

function checkName(value: unknown, issues: FieldIssue[]): string | undefined {
  if (value === undefined || value === null) return undefined;
  const name = typeof value === 'string' ? value.trim() : '';
  if (!WINDOW_NAME.test(name)) {
    issues.push({
      field: 'name',
      message: 'must be 1 to 64 characters: letters, digits, Hangul, space and _ . : # -',
    });
    return undefined;
  }
  return name;
}

interface CheckedAsk {
  resource: Resource;
  amount: number;
}

function checkAsks(
  kind: ResourceKind,
  asks: CapacityAsk[] | undefined,
  config: Config,
  issues: FieldIssue[],
): CheckedAsk[] {
  if (asks === undefined) return [];
  if (!Array.isArray(asks)) {
    issues.push({ field: kind, message: 'must be a list of { resource, amount }' });
    return [];
  }
  const ofKind = Object.values(config.resources).filter((r) => r.kind === kind);
  const configured = `configured ${KIND_LABEL[kind]}s: ${ofKind.map((r) => r.name).join(', ') || '(none)'}`;
  const firstAskOf = new Map<string, number>();
  const checked: CheckedAsk[] = [];

  asks.forEach((ask, i) => {
    const at = `${kind}[${i}]`;
    const named =
      typeof ask?.resource === 'string' && ask.resource.trim() !== '' ? ask.resource.trim() : undefined;
    const resourceName = named ?? config.defaults[kind];
    let resource: Resource | undefined;
    if (resourceName === undefined) {
      issues.push({
        field: `${at}.resource`,
        message: `name a resource: there is no default ${KIND_LABEL[kind]}; ${configured}`,
      });
    } else {
      const found = Object.hasOwn(config.resources, resourceName)
        ? config.resources[resourceName]
        : undefined;
      if (found === undefined) {
        issues.push({
          field: `${at}.resource`,
          message: `unknown resource "${resourceName}"; ${configured}`,
        });
      } else if (found.kind !== kind) {
        issues.push({
          field: `${at}.resource`,
          message: `"${resourceName}" is an ${KIND_LABEL[found.kind]}, not an ${KIND_LABEL[kind]}; ${configured}`,
        });
      } else {
        const earlier = firstAskOf.get(resourceName);
        if (earlier !== undefined) {
          issues.push({
            field: `${at}.resource`,
            message: `"${resourceName}" is already asked for in ${kind}[${earlier}]; ask once per resource`,
          });
        } else {
          firstAskOf.set(resourceName, i);
          resource = found;
        }
      }
    }

    const amount = ask?.amount;
    const cap = resource === undefined ? undefined : capOf(resource);
    const unit = kind === 'ecs' ? 'tasks' : 'extra readers';
    if (typeof amount !== 'number' || !Number.isInteger(amount) || amount < 1) {
      issues.push({
        field: `${at}.amount`,
        message:
          cap === undefined
            ? `must be a whole number of ${unit}, 1 or more`
            : `must be a whole number of ${unit} from 1 to ${cap.value} (${cap.label} of ${resource!.name})`,
      });
    } else if (cap !== undefined && amount > cap.value) {
      issues.push({
        field: `${at}.amount`,
        message: `${amount} ${unit} is above the cap of ${cap.value} (${cap.label} of ${resource!.name})`,
      });
    } else if (resource !== undefined) {
      checked.push({ resource, amount });
    }
  });
  return checked;
}

function capOf(resource: Resource): { value: number; label: string } {
  return resource.kind === 'ecs'
    ? { value: resource.maxTasks, label: 'maxTasks' }
    : { value: resource.maxExtraReplicas, label: 'maxExtraReplicas' };
}

/** When holds of each kind start, and when they all end. */
interface Span {
  /** The time the window is about: `at`, or the open. */
  start: Date;
  until: Date;
  fromOf(kind: ResourceKind, warnings: string[]): Date;
}

function resolveTiming(timing: unknown, config: Config, now: Date, issues: FieldIssue[]): Span | undefined {
  const zone = config.timezone;
  const nowText = `now is ${formatLocal(now, zone)} ${zone}`;
  const parse = (text: unknown, field: string, referenceDate: Date): Date | undefined => {
    if (typeof text !== 'string') {
      issues.push({ field, message: 'is required' });
      return undefined;
    }
    try {
      return parseLocalDateTime(text, zone, { referenceDate, field });
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      issues.push(...error.issues);
      return undefined;
    }
  };

  const t = (timing ?? {}) as Record<string, unknown>;
  if (t.mode === 'explicit') {
    const at = parse(t.at, 'timing.at', now);
    if (at !== undefined && at < now) {
      issues.push({ field: 'timing.at', message: `${formatLocal(at, zone)} is in the past (${nowText})` });
    }
    const until = resolveUntil(t.until, at, zone, now, parse);
    if (at !== undefined && until !== undefined && until <= at) {
      issues.push({
        field: 'timing.until',
        message: `${formatLocal(until, zone)} must be after timing.at (${formatLocal(at, zone)})`,
      });
    }
    if (at === undefined || until === undefined) return undefined;
    return { start: at, until, fromOf: () => at };
  }

  if (t.mode === 'auto') {
    const open = parse(t.open, 'timing.open', now);
    if (open === undefined) return undefined;
    if (open <= now) {
      issues.push({
        field: 'timing.open',
        message: `${formatLocal(open, zone)} is in the past (${nowText})`,
      });
      return undefined;
    }
    const { ecsMinutes, auroraMinutes, scaleInMinutesAfterOpen } = config.leadTimes;
    const until = new Date(open.getTime() + scaleInMinutesAfterOpen * MINUTE);
    const fromOf = (kind: ResourceKind, warnings: string[]): Date => {
      const lead = kind === 'ecs' ? ecsMinutes : auroraMinutes;
      const from = new Date(open.getTime() - lead * MINUTE);
      if (from >= now) return from;
      // Too late for the full lead: start now and say what it may cost.
      const leftMs = open.getTime() - now.getTime();
      const left = leftMs >= MINUTE ? `${Math.floor(leftMs / MINUTE)} min` : formatDuration(leftMs);
      const ready = kind === 'ecs' ? 'new tasks may not be running' : 'readers may not be ready';
      warnings.push(
        `${KIND_TITLE[kind]} lead of ${lead} min cut to ${left}: ${ready} at ${formatLocalTime(open, zone)}`,
      );
      return new Date(now.getTime());
    };
    return { start: open, until, fromOf };
  }

  issues.push({ field: 'timing.mode', message: 'must be "explicit" (at, until) or "auto" (open)' });
  return undefined;
}

/**
 * `until` as a full date and time, or as `HH:mm` on the day of `at` — the next day when that is not after
 * `at`, so `--at 23:00 --until 01:00` crosses midnight.
 */
function resolveUntil(
  text: unknown,
  at: Date | undefined,
  zone: string,
  now: Date,
  parse: (text: unknown, field: string, referenceDate: Date) => Date | undefined,
): Date | undefined {
  if (typeof text !== 'string' || !isTimeOfDay(text) || at === undefined) {
    return parse(text, 'timing.until', at ?? now);
  }
  const sameDay = parse(text, 'timing.until', at);
  if (sameDay === undefined || sameDay > at) return sameDay;
  // Re-read on the next calendar day (not +24 h) so a DST change that night is applied by the zone rules.
  return parse(text, 'timing.until', addCalendarDays(at, 1, zone));
}
