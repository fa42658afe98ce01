// The day rules and times of day of an office-hours period, read from the text people write in the config, in
// AWS Instance Scheduler's notation:
//
//   weekdays   mon-fri | sat,sun | mon#2 (second Monday of the month) | friL (last Friday of the month)
//   monthdays  1-15 | 1,15 | L (last day of the month) | 15W (weekday nearest the 15th, within its month)
//   months     jan-mar | 1-3 | jul,aug
//   time       HH:MM (00:00 to 23:59; an end time may also be 24:00)
//
// Parsing is pure and precise: a bad item is refused with a message that names it and says what is accepted.

/** A calendar day as a day rule sees it. `weekday` is ISO: 1 = Monday … 7 = Sunday. */
export interface CalendarDay {
  year: number;
  month: number;
  day: number;
  weekday: number;
  daysInMonth: number;
}

/** A parsed day rule: does it hold on this day? `text` is what was written, for `info` replies. */
export interface DayRule {
  text: string;
  matches(day: CalendarDay): boolean;
}

/** Thrown by the parsers; the config loader adds the field's path. */
export class PeriodSyntaxError extends Error {}

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] as const;

function items(text: string, what: string): string[] {
  const parts = text
    .toLowerCase()
    .split(',')
    .map((p) => p.trim());
  if (parts.length === 0 || parts.some((p) => p === '')) {
    throw new PeriodSyntaxError(`"${text}" has an empty item; write ${what} separated by commas`);
  }
  return parts;
}

function weekdayNumber(name: string, whole: string): number {
  const i = WEEKDAYS.indexOf(name as (typeof WEEKDAYS)[number]);
  if (i < 0) {
    throw new PeriodSyntaxError(
      `"${name}" in "${whole}" is not a weekday; use mon, tue, wed, thu, fri, sat, sun, a range (mon-fri), ` +
        `the nth weekday of the month (mon#2) or the last one (friL)`,
    );
  }
  return i + 1;
}

/** Inclusive range of values on a cycle of `size` (1-based); a range may wrap (fri-mon). */
function cycleRange(from: number, to: number, size: number): Set<number> {
  const out = new Set<number>();
  for (let v = from; ; v = (v % size) + 1) {
    out.add(v);
    if (v === to) break;
  }
  return out;
}

/** `mon-fri`, `sat,sun`, `mon#2`, `friL`; ranges may wrap (`fri-mon`). */
export function parseWeekdays(text: string): DayRule {
  const plain = new Set<number>();
  const nth: Array<{ weekday: number; n: number }> = [];
  const last = new Set<number>();
  for (const item of items(text, 'weekdays')) {
    const nthMatch = /^([a-z]+)#(\d+)$/.exec(item);
    if (nthMatch) {
      const n = Number(nthMatch[2]);
      if (n < 1 || n > 5) {
        throw new PeriodSyntaxError(`"${item}": the occurrence after # must be 1 to 5 (mon#1 … mon#5)`);
      }
      nth.push({ weekday: weekdayNumber(nthMatch[1]!, text), n });
      continue;
    }
    const lastMatch = /^([a-z]+)l$/.exec(item);
    if (lastMatch && WEEKDAYS.includes(lastMatch[1] as (typeof WEEKDAYS)[number])) {
      last.add(weekdayNumber(lastMatch[1]!, text));
      continue;
    }
    const range = /^([a-z]+)-([a-z]+)$/.exec(item);
    if (range) {
      for (const d of cycleRange(weekdayNumber(range[1]!, text), weekdayNumber(range[2]!, text), 7))
        plain.add(d);
      continue;
    }
    plain.add(weekdayNumber(item, text));
  }
  return {
    text,
    matches: (d) =>
      plain.has(d.weekday) ||
      nth.some((r) => r.weekday === d.weekday && Math.ceil(d.day / 7) === r.n) ||
      (last.has(d.weekday) && d.day + 7 > d.daysInMonth),
  };
}

function monthday(value: string, whole: string): number {
  const n = /^\d{1,2}$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= 1 && n <= 31)) {
    throw new PeriodSyntaxError(
      `"${value}" in "${whole}" is not a day of the month; use 1 to 31, a range (1-15), L (the last day) ` +
        `or nW (the weekday nearest day n, e.g. 15W)`,
    );
  }
  return n;
}

/**
 * The weekday nearest day `n` of the month, never leaving the month (Quartz/Instance Scheduler `nW`): a Saturday
 * moves to the Friday before (or the Monday after, when n is the 1st), a Sunday to the Monday after (or the
 * Friday before, when n is the last day). Null when the month has no day n.
 */
export function nearestWeekday(
  n: number,
  month: { firstWeekday: number; daysInMonth: number },
): number | null {
  if (n > month.daysInMonth) return null;
  const weekday = ((month.firstWeekday - 1 + n - 1) % 7) + 1;
  if (weekday === 6) return n === 1 ? n + 2 : n - 1;
  if (weekday === 7) return n === month.daysInMonth ? n - 2 : n + 1;
  return n;
}

/** `1-15`, `1,15`, `L`, `15W`; a range may end with L (`16-L`). */
export function parseMonthdays(text: string): DayRule {
  const days = new Set<number>();
  const fromDayToLast: number[] = [];
  const nearest: number[] = [];
  let lastDay = false;
  for (const item of items(text, 'days of the month')) {
    if (item === 'l') {
      lastDay = true;
      continue;
    }
    const w = /^(\d{1,2})w$/.exec(item);
    if (w) {
      nearest.push(monthday(w[1]!, text));
      continue;
    }
    const range = /^(\d{1,2})-(\d{1,2}|l)$/.exec(item);
    if (range) {
      const from = monthday(range[1]!, text);
      if (range[2] === 'l') {
        fromDayToLast.push(from);
        continue;
      }
      const to = monthday(range[2]!, text);
      if (to < from) throw new PeriodSyntaxError(`"${item}": a range of days must go upwards (e.g. 1-15)`);
      for (let d = from; d <= to; d++) days.add(d);
      continue;
    }
    days.add(monthday(item, text));
  }
  return {
    text,
    matches: (d) => {
      if (days.has(d.day)) return true;
      if (lastDay && d.day === d.daysInMonth) return true;
      if (fromDayToLast.some((from) => d.day >= from)) return true;
      if (nearest.length === 0) return false;
      const firstWeekday = ((d.weekday - 1 - ((d.day - 1) % 7) + 7) % 7) + 1;
      return nearest.some((n) => nearestWeekday(n, { firstWeekday, daysInMonth: d.daysInMonth }) === d.day);
    },
  };
}

function monthNumber(value: string, whole: string): number {
  if (/^\d{1,2}$/.test(value)) {
    const n = Number(value);
    if (n >= 1 && n <= 12) return n;
  }
  const i = MONTHS.indexOf(value.slice(0, 3) as (typeof MONTHS)[number]);
  if (i >= 0 && value.length === 3) return i + 1;
  throw new PeriodSyntaxError(
    `"${value}" in "${whole}" is not a month; use jan … dec or 1 … 12, a range (jan-mar) or a list (jul,aug)`,
  );
}

/** `jan-mar`, `1-3`, `jul,aug`; a range may wrap (`nov-feb`). */
export function parseMonths(text: string): DayRule {
  const months = new Set<number>();
  for (const item of items(text, 'months')) {
    const range = /^([a-z0-9]+)-([a-z0-9]+)$/.exec(item);
    if (range) {
      for (const m of cycleRange(monthNumber(range[1]!, text), monthNumber(range[2]!, text), 12))
        months.add(m);
      continue;
    }
    months.add(monthNumber(item, text));
  }
  return { text, matches: (d) => months.has(d.month) };
}

/**
 * A time of day as minutes after midnight: `09:00` → 540. `24:00` (→ 1440) only where `allowEndOfDay`, for an
 * end time that means "until midnight".
 */
export function parseTimeOfDay(text: string, opts: { allowEndOfDay?: boolean } = {}): number {
  const m = /^(\d{1,2}):(\d{2})$/.exec(text.trim());
  const hours = m ? Number(m[1]) : Number.NaN;
  const minutes = m ? Number(m[2]) : Number.NaN;
  if (opts.allowEndOfDay && hours === 24 && minutes === 0) return 1440;
  if (!(hours >= 0 && hours <= 23 && minutes >= 0 && minutes <= 59)) {
    throw new PeriodSyntaxError(
      `"${text}" is not a time of day; use HH:MM from 00:00 to 23:59${opts.allowEndOfDay ? ' (or 24:00)' : ''}`,
    );
  }
  return hours * 60 + minutes;
}

/** 540 → `09:00`; 1440 → `24:00`. */
export function formatMinutes(minutes: number): string {
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`;
}
