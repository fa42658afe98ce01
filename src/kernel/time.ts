// Wall-clock times in a named zone, read and written with Luxon. Nothing here does zone arithmetic by hand:
// offsets, daylight-saving gaps and overlaps all come from Luxon's IANA zone data.

import { DateTime, IANAZone } from 'luxon';
import { ValidationError } from './errors.ts';

export const ACCEPTED_TIME_FORMATS =
  'YYYY-MM-DD HH:mm, YYYY-MM-DD HH:mm:ss, YYYY-MM-DDTHH:mm, ISO 8601 with an offset (2026-11-23T16:00+09:00 ' +
  'or …Z), or HH:mm alone';

/** Local date and time without an offset: `2026-11-23 16:00`, `2026-11-23 16:00:30`, `2026-11-23T16:00`. */
const LOCAL_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{1,2}):(\d{2})(?::(\d{2}))?$/;
/** ISO 8601 that carries its own offset: the zone argument does not apply. */
const ISO_WITH_OFFSET =
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)$/i;
/** A time of day alone: `16:00`, `9:30`. */
const TIME_OF_DAY = /^(\d{1,2}):(\d{2})$/;

interface WallTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

/** True when `text` is a time of day alone (`HH:mm`), which needs a calendar day from elsewhere. */
export function isTimeOfDay(text: string): boolean {
  return TIME_OF_DAY.test(text.trim());
}

/** True when `zone` is an IANA time zone name Luxon knows (`Asia/Seoul`, `UTC`). */
export function isValidZone(zone: string): boolean {
  return IANAZone.isValidZone(zone);
}

/**
 * Reads a date and time written by a person, as an instant.
 *
 * Wall times are read in `zone`. ISO 8601 text with an offset or `Z` is absolute and ignores `zone`. `HH:mm`
 * alone lands on the calendar day that `referenceDate` has in `zone`.
 *
 * Daylight saving:
 * - a wall time that does not exist in the zone (skipped by a spring-forward gap, e.g. 2026-03-08 02:30 in
 *   America/New_York) is refused: guessing an hour earlier or later would run things at a time nobody asked for;
 * - a wall time that exists twice (repeated by a fall-back overlap, e.g. 2026-11-01 01:30 in New York) is read
 *   as the EARLIER of the two instants: for a capacity window it is safer to be early than an hour late.
 *
 * `field` names the input in the ValidationError (default `time`).
 */
export function parseLocalDateTime(
  text: string,
  zone: string,
  opts: { referenceDate?: Date; field?: string } = {},
): Date {
  const field = opts.field ?? 'time';
  const fail = (message: string): never => {
    throw new ValidationError([{ field, message }]);
  };
  if (typeof text !== 'string' || text.trim() === '')
    fail(`a time is required; use ${ACCEPTED_TIME_FORMATS}`);
  const input = text.trim();

  if (ISO_WITH_OFFSET.test(input)) {
    const dt = DateTime.fromISO(input, { setZone: true });
    if (!dt.isValid)
      fail(`"${input}" is not a valid date and time (${dt.invalidExplanation ?? dt.invalidReason})`);
    return dt.toJSDate();
  }

  if (!isValidZone(zone)) fail(`unknown time zone "${zone}"`);

  const local = LOCAL_DATE_TIME.exec(input);
  if (local) {
    const [, y, mo, d, h, mi, s] = local;
    return wallTimeToInstant(
      { year: +y!, month: +mo!, day: +d!, hour: +h!, minute: +mi!, second: s === undefined ? 0 : +s },
      zone,
      input,
      fail,
    );
  }

  const timeOnly = TIME_OF_DAY.exec(input);
  if (timeOnly) {
    if (!opts.referenceDate) fail(`"${input}" has no date; give YYYY-MM-DD HH:mm`);
    const day = DateTime.fromJSDate(opts.referenceDate!, { zone });
    const [, h, mi] = timeOnly;
    return wallTimeToInstant(
      { year: day.year, month: day.month, day: day.day, hour: +h!, minute: +mi!, second: 0 },
      zone,
      input,
      fail,
    );
  }

  return fail(`"${input}" is not a date and time; use ${ACCEPTED_TIME_FORMATS}`);
}

function wallTimeToInstant(
  wall: WallTime,
  zone: string,
  input: string,
  fail: (message: string) => never,
): Date {
  const dt = DateTime.fromObject(wall, { zone });
  if (!dt.isValid) {
    return fail(`"${input}" is not a valid date and time (${dt.invalidExplanation ?? dt.invalidReason})`);
  }
  // Luxon moves a wall time inside a spring-forward gap past the gap; the fields then differ from the input.
  const same =
    dt.year === wall.year &&
    dt.month === wall.month &&
    dt.day === wall.day &&
    dt.hour === wall.hour &&
    dt.minute === wall.minute &&
    dt.second === wall.second;
  if (!same) {
    return fail(`"${input}" does not exist in ${zone} (the clocks skip it when daylight saving time starts)`);
  }
  // In a fall-back overlap Luxon picks one of the two instants; take the earlier one (see above).
  const candidates = dt.getPossibleOffsets();
  const earliest = candidates.reduce((a, b) => (b.toMillis() < a.toMillis() ? b : a), dt);
  return earliest.toJSDate();
}

/** The same wall time `days` calendar days later in `zone` (not a multiple of 24 h: DST changes apply). */
export function addCalendarDays(d: Date, days: number, zone: string): Date {
  return DateTime.fromJSDate(d, { zone }).plus({ days }).toJSDate();
}

/** `2026-11-23 16:00`: the wall time of `d` in `zone`. */
export function formatLocal(d: Date, zone: string): string {
  return DateTime.fromJSDate(d, { zone }).toFormat('yyyy-MM-dd HH:mm');
}

/** `HH:mm`: the wall time of day of `d` in `zone`. */
export function formatLocalTime(d: Date, zone: string): string {
  return DateTime.fromJSDate(d, { zone }).toFormat('HH:mm');
}

/**
 * A short human duration: `45s`, `11m 40s`, `1h 5m` (seconds are dropped from an hour or more, zero parts are
 * dropped: `5m`, `2h`). Rounded to the second; negative durations get a leading `-`.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  const totalSeconds = Math.round(Math.abs(ms) / 1000);
  const sign = ms < 0 && totalSeconds > 0 ? '-' : '';
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  if (hours > 0) return sign + (minutes > 0 ? `${hours}h ${minutes}m` : `${hours}h`);
  if (minutes > 0) return sign + (seconds > 0 ? `${minutes}m ${seconds}s` : `${minutes}m`);
  return `${sign}${seconds}s`;
}
