// The rules of office hours, pure: when a schedule runs, how dated exceptions change a day, how a forced state and
// a capacity window override both, and when the next change comes. Wall times are turned into instants by Luxon
// with the schedule's IANA zone, so daylight saving is handled by zone data, never by hand:
//
// - a period begins or ends at the first instant whose local time is at or after its wall time: a time skipped by
//   a spring-forward gap (02:30 in New York on the second Sunday of March) happens when the clocks reach 03:00;
// - a wall time repeated by a fall-back overlap happens at its first occurrence.
//
// Periods are intervals of instants, one per matching day, so a fall-back hour never stops and restarts anything.

import { DateTime } from 'luxon';
import type {
  DayException,
  ForcedState,
  Period,
  PowerReason,
  PowerSegment,
  PowerState,
  Schedule,
  WindowHold,
} from './model.ts';
import type { CalendarDay } from './periods.ts';

/** YYYY-MM-DD. */
export type LocalDate = string;

const MINUTE = 60_000;
const DAY_MINUTES = 1440;

/** Running over [from, until); `exception` when a dated exception made it. */
export interface RunInterval {
  from: Date;
  until: Date;
  exception: boolean;
}

/** The calendar day of `t` in `zone`. */
export function localDateOf(t: Date, zone: string): LocalDate {
  return DateTime.fromJSDate(t, { zone }).toISODate()!;
}

export function addDays(date: LocalDate, days: number): LocalDate {
  return DateTime.fromISO(date, { zone: 'utc' }).plus({ days }).toISODate()!;
}

export function calendarDay(date: LocalDate): CalendarDay {
  const d = DateTime.fromISO(date, { zone: 'utc' });
  return { year: d.year, month: d.month, day: d.day, weekday: d.weekday, daysInMonth: d.daysInMonth! };
}

/** True when `text` is a real calendar date written YYYY-MM-DD. */
export function isLocalDate(text: string): boolean {
  return /^\d{4}-\d{2}-\d{2}$/.test(text) && DateTime.fromISO(text, { zone: 'utc' }).isValid;
}

function wallKey(dt: DateTime): number {
  return Date.UTC(dt.year, dt.month - 1, dt.day, dt.hour, dt.minute);
}

/**
 * The instant of wall time `minutes` (0–1440) on `date` in `zone`: the first instant whose local time is at or
 * after it. A time inside a spring-forward gap is the end of the gap; a time repeated by a fall-back overlap is
 * its first occurrence.
 */
export function wallInstant(date: LocalDate, minutes: number, zone: string): Date {
  if (minutes >= DAY_MINUTES) return wallInstant(addDays(date, 1), minutes - DAY_MINUTES, zone);
  const [year, month, day] = date.split('-').map(Number) as [number, number, number];
  const hour = Math.floor(minutes / 60);
  const minute = minutes % 60;
  const dt = DateTime.fromObject({ year, month, day, hour, minute }, { zone });
  if (dt.year === year && dt.month === month && dt.day === day && dt.hour === hour && dt.minute === minute) {
    const earliest = dt.getPossibleOffsets().reduce((a, b) => (b.toMillis() < a.toMillis() ? b : a), dt);
    return earliest.toJSDate();
  }
  // In a gap: Luxon moved the time forward by the gap's length. Search the minute the clocks jump at.
  const target = Date.UTC(year, month - 1, day, hour, minute);
  let hi = Math.floor(dt.toMillis() / MINUTE);
  let lo = hi - 6 * 60;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (wallKey(DateTime.fromMillis(mid * MINUTE, { zone })) >= target) hi = mid;
    else lo = mid;
  }
  return new Date(hi * MINUTE);
}

export function periodMatches(period: Period, day: CalendarDay): boolean {
  return (
    (period.weekdays?.matches(day) ?? true) &&
    (period.monthdays?.matches(day) ?? true) &&
    (period.months?.matches(day) ?? true)
  );
}

/** The schedule's own running intervals that begin on `date` (a period crossing midnight ends the next day). */
export function periodIntervalsOn(schedule: Schedule, date: LocalDate): RunInterval[] {
  const day = calendarDay(date);
  const out: RunInterval[] = [];
  for (const p of schedule.periods) {
    if (!periodMatches(p, day)) continue;
    const begin = p.begin ?? 0;
    const end = p.begin === undefined || p.end === undefined ? DAY_MINUTES : p.end;
    const endMinutes = end > begin ? end : end + DAY_MINUTES;
    out.push({
      from: wallInstant(date, begin, schedule.timezone),
      until: wallInstant(date, endMinutes, schedule.timezone),
      exception: false,
    });
  }
  return merge(out);
}

/**
 * The running intervals that begin on `date`, the day's exception applied. A start exception replaces the day's
 * first start (with no period that day it runs until the end of the day, unless a stop is given); a stop exception
 * replaces its last stop (a stop before the start of a day whose periods cross midnight is the next morning's; a
 * stop before the start of any other day means the day does not run).
 */
export function dayIntervals(schedule: Schedule, date: LocalDate, exception?: DayException): RunInterval[] {
  const base = periodIntervalsOn(schedule, date);
  if (!exception || (exception.start === undefined && exception.stop === undefined)) return base;
  const zone = schedule.timezone;
  const endOfDay = wallInstant(date, DAY_MINUTES, zone);
  let list = base.map((i) => ({ ...i, exception: true }));
  if (exception.start !== undefined) {
    const start = wallInstant(date, exception.start, zone);
    list = list.filter((i) => i.until > start);
    if (list.length > 0) list[0]!.from = start;
    else list = [{ from: start, until: endOfDay, exception: true }];
  }
  if (exception.stop !== undefined && list.length > 0) {
    let stop = wallInstant(date, exception.stop, zone);
    if (stop <= list[0]!.from && list.at(-1)!.until > endOfDay) {
      stop = wallInstant(addDays(date, 1), exception.stop, zone);
    }
    list = list.filter((i) => i.from < stop);
    if (list.length > 0) list.at(-1)!.until = stop;
  }
  return list.filter((i) => i.until > i.from);
}

/** Exceptions by date, whatever form they come in. */
export function exceptionsByDate(exceptions: Iterable<DayException>): Map<LocalDate, DayException> {
  const out = new Map<LocalDate, DayException>();
  for (const e of exceptions) {
    const known = out.get(e.date);
    out.set(e.date, { ...known, ...e });
  }
  return out;
}

/**
 * The running intervals (exceptions applied, merged) that overlap [from, to). Days from two before `from` are
 * looked at, because an interval begins at most one day before it ends (a period crossing midnight, or a stop
 * exception moved to the next morning).
 */
export function runningIntervals(
  schedule: Schedule,
  exceptions: ReadonlyMap<LocalDate, DayException>,
  from: Date,
  to: Date,
): RunInterval[] {
  const first = addDays(localDateOf(from, schedule.timezone), -2);
  const last = localDateOf(to, schedule.timezone);
  const all: RunInterval[] = [];
  for (let date = first; date <= last; date = addDays(date, 1)) {
    for (const i of dayIntervals(schedule, date, exceptions.get(date))) {
      if (i.until > from && i.from < to) all.push(i);
    }
  }
  return merge(all);
}

/** Union of intervals; an interval touching or overlapping one made by an exception is marked as one. */
function merge(intervals: RunInterval[]): RunInterval[] {
  const sorted = [...intervals].sort((a, b) => a.from.getTime() - b.from.getTime());
  const out: RunInterval[] = [];
  for (const i of sorted) {
    const last = out.at(-1);
    if (last && i.from <= last.until) {
      if (i.until > last.until) last.until = i.until;
      last.exception ||= i.exception;
    } else {
      out.push({ ...i });
    }
  }
  return out;
}

/** What decides a resource's state: its schedule, the schedule's exceptions, a forced state, capacity windows. */
export interface PowerPlanInput {
  schedule: Schedule;
  exceptions: ReadonlyMap<LocalDate, DayException>;
  forced?: ForcedState | null;
  /** Capacity windows on the resource (only those overlapping the range matter). */
  windows?: readonly WindowHold[];
}

/**
 * The plan of a resource over [from, to): contiguous segments, each with its state and the reason for it. The
 * order of precedence:
 *
 *   1. a capacity window active on the resource   → running (a 3 a.m. sale starts a service stopped at night,
 *                                                    and stopping waits until the window ends)
 *   2. a forced state, until it ends             → its state
 *   3. the schedule, with the day's exception     → running inside its intervals, stopped outside
 */
export function powerPlan(input: PowerPlanInput, from: Date, to: Date): PowerSegment[] {
  if (to <= from) return [];
  const { schedule, exceptions, forced } = input;
  const windows = (input.windows ?? []).filter((w) => w.until > from && w.from < to && w.until > w.from);
  const intervals = runningIntervals(schedule, exceptions, from, to);
  const cuts = new Set<number>([from.getTime(), to.getTime()]);
  const cut = (d: Date | null | undefined) => {
    if (d && d > from && d < to) cuts.add(d.getTime());
  };
  for (const i of intervals) {
    cut(i.from);
    cut(i.until);
  }
  if (forced) {
    cut(forced.at);
    cut(forced.until);
  }
  for (const w of windows) {
    cut(w.from);
    cut(w.until);
  }
  // Day boundaries, so that a stopped stretch on a day with an exception says so.
  if (exceptions.size > 0) {
    for (const date of exceptions.keys()) {
      cut(wallInstant(date, 0, schedule.timezone));
      cut(wallInstant(date, DAY_MINUTES, schedule.timezone));
    }
  }
  const points = [...cuts].sort((a, b) => a - b);
  const segments: PowerSegment[] = [];
  let k = 0;
  for (let p = 0; p < points.length - 1; p++) {
    const at = points[p]!;
    while (k < intervals.length && intervals[k]!.until.getTime() <= at) k++;
    const interval = intervals[k] && intervals[k]!.from.getTime() <= at ? intervals[k] : undefined;
    const decided = decide(at, interval, input, windows);
    const segment: PowerSegment = { from: new Date(at), until: new Date(points[p + 1]!), ...decided };
    const prev = segments.at(-1);
    if (
      prev &&
      prev.state === segment.state &&
      prev.reason === segment.reason &&
      sameWindows(prev, segment)
    ) {
      prev.until = segment.until;
    } else {
      segments.push(segment);
    }
  }
  return segments;
}

function decide(
  at: number,
  interval: RunInterval | undefined,
  input: PowerPlanInput,
  windows: readonly WindowHold[],
): { state: PowerState; reason: PowerReason; windows?: string[] } {
  const active = windows.filter((w) => w.from.getTime() <= at && at < w.until.getTime());
  if (active.length > 0) {
    return { state: 'running', reason: 'window', windows: [...new Set(active.map((w) => w.windowId))] };
  }
  const f = input.forced;
  if (f && f.at.getTime() <= at && (f.until === null || at < f.until.getTime())) {
    return { state: f.state, reason: 'forced' };
  }
  if (interval) return { state: 'running', reason: interval.exception ? 'exception' : 'schedule' };
  const date = localDateOf(new Date(at), input.schedule.timezone);
  return { state: 'stopped', reason: input.exceptions.has(date) ? 'exception' : 'schedule' };
}

function sameWindows(a: PowerSegment, b: PowerSegment): boolean {
  return (a.windows ?? []).join() === (b.windows ?? []).join();
}

/** The desired state at `t`, and why. */
export function desiredStateAt(input: PowerPlanInput, t: Date): PowerSegment {
  return powerPlan(input, t, new Date(t.getTime() + 1))[0]!;
}

/** How far ahead a next change is looked for: far enough for a period that runs in one month of the year. */
const HORIZONS_DAYS = [8, 62, 400];

/**
 * The next instant after `t` at which the desired state changes, with the state it changes to; null when it never
 * changes within a year (a schedule that always runs, or never does).
 */
export function nextChange(input: PowerPlanInput, t: Date): { at: Date; state: PowerState } | null {
  const now = desiredStateAt(input, t).state;
  for (const days of HORIZONS_DAYS) {
    const to = new Date(t.getTime() + days * DAY_MINUTES * MINUTE);
    const next = powerPlan(input, t, to).find((s) => s.state !== now);
    if (next) return { at: next.from, state: next.state };
  }
  return null;
}

/**
 * Until when `force_start` / `force_stop` at `at` holds: the schedule's next transition (its exceptions applied,
 * forced states and windows left out), or null when the schedule never changes.
 */
export function forcedUntil(
  schedule: Schedule,
  exceptions: ReadonlyMap<LocalDate, DayException>,
  at: Date,
): Date | null {
  return nextChange({ schedule, exceptions }, at)?.at ?? null;
}

/** Hours of [from, to) the plan keeps a resource stopped. */
export function stoppedHours(segments: readonly PowerSegment[]): number {
  let ms = 0;
  for (const s of segments) if (s.state === 'stopped') ms += s.until.getTime() - s.from.getTime();
  return ms / 3_600_000;
}
