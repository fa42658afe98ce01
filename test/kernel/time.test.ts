import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ValidationError } from '../../src/kernel/errors.ts';
import {
  addCalendarDays,
  formatDuration,
  formatLocal,
  isTimeOfDay,
  parseLocalDateTime,
} from '../../src/kernel/time.ts';

const SEOUL = 'Asia/Seoul';
const NEW_YORK = 'America/New_York';

function issuesOf(fn: () => unknown): { field: string; message: string }[] {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ValidationError, `expected a ValidationError, got ${String(error)}`);
    return error.issues;
  }
  assert.fail('expected a ValidationError');
}

describe('parseLocalDateTime', () => {
  it('reads YYYY-MM-DD HH:mm as a wall time in the zone', () => {
    // Prepare / Act
    const d = parseLocalDateTime('2026-11-23 16:00', SEOUL);

    // Assess: Seoul is UTC+9 all year
    assert.equal(d.toISOString(), '2026-11-23T07:00:00.000Z');
  });

  it('reads seconds, the T separator and surrounding spaces', () => {
    assert.equal(parseLocalDateTime('2026-11-23 16:00:30', SEOUL).toISOString(), '2026-11-23T07:00:30.000Z');
    assert.equal(parseLocalDateTime('2026-11-23T16:00', SEOUL).toISOString(), '2026-11-23T07:00:00.000Z');
    assert.equal(parseLocalDateTime('  2026-11-23 16:00 ', SEOUL).toISOString(), '2026-11-23T07:00:00.000Z');
  });

  it('takes the offset of ISO 8601 text and ignores the zone', () => {
    assert.equal(
      parseLocalDateTime('2026-11-23T16:00+09:00', NEW_YORK).toISOString(),
      '2026-11-23T07:00:00.000Z',
    );
    assert.equal(parseLocalDateTime('2026-11-23T07:00:00Z', SEOUL).toISOString(), '2026-11-23T07:00:00.000Z');
    assert.equal(
      parseLocalDateTime('2026-11-23T02:00:00.250-05:00', SEOUL).toISOString(),
      '2026-11-23T07:00:00.250Z',
    );
  });

  it('puts HH:mm on the calendar day the reference date has in the zone, not in UTC', () => {
    // Prepare: 2026-11-22 23:30 UTC is already 2026-11-23 08:30 in Seoul
    const referenceDate = new Date('2026-11-22T23:30:00Z');

    // Act
    const d = parseLocalDateTime('16:00', SEOUL, { referenceDate });

    // Assess
    assert.equal(formatLocal(d, SEOUL), '2026-11-23 16:00');
    assert.equal(d.toISOString(), '2026-11-23T07:00:00.000Z');
  });

  it('puts HH:mm earlier than the reference time on the same day (the caller decides about tomorrow)', () => {
    // Prepare: 23:50 in Seoul
    const referenceDate = new Date('2026-11-23T14:50:00Z');

    // Act
    const d = parseLocalDateTime('00:30', SEOUL, { referenceDate });

    // Assess
    assert.equal(formatLocal(d, SEOUL), '2026-11-23 00:30');
  });

  it('refuses HH:mm without a reference date', () => {
    const issues = issuesOf(() => parseLocalDateTime('16:00', SEOUL));
    assert.match(issues[0]!.message, /has no date/);
  });

  it('refuses a wall time inside the spring-forward gap', () => {
    // Act: 02:00 → 03:00 on 2026-03-08 in New York, so 02:30 never happens
    const issues = issuesOf(() => parseLocalDateTime('2026-03-08 02:30', NEW_YORK, { field: 'timing.at' }));

    // Assess
    assert.deepEqual(
      issues.map((i) => i.field),
      ['timing.at'],
    );
    assert.match(issues[0]!.message, /does not exist in America\/New_York/);
  });

  it('accepts the wall times just around the spring-forward gap', () => {
    assert.equal(parseLocalDateTime('2026-03-08 01:59', NEW_YORK).toISOString(), '2026-03-08T06:59:00.000Z');
    assert.equal(parseLocalDateTime('2026-03-08 03:00', NEW_YORK).toISOString(), '2026-03-08T07:00:00.000Z');
  });

  it('reads an ambiguous fall-back wall time as the earlier instant', () => {
    // Act: 01:30 happens twice on 2026-11-01 in New York (EDT −4, then EST −5)
    const d = parseLocalDateTime('2026-11-01 01:30', NEW_YORK);

    // Assess: the EDT one, an hour before the EST one
    assert.equal(d.toISOString(), '2026-11-01T05:30:00.000Z');
  });

  it('refuses other text, listing the accepted formats', () => {
    for (const text of ['tomorrow', '2026/11/23 16:00', '23-11-2026 16:00', '1600', '']) {
      const issues = issuesOf(() => parseLocalDateTime(text, SEOUL, { field: 'timing.open' }));
      assert.equal(issues[0]!.field, 'timing.open');
      if (text !== '') assert.match(issues[0]!.message, /YYYY-MM-DD HH:mm.*HH:mm alone/);
    }
  });

  it('refuses dates and times out of range', () => {
    assert.match(issuesOf(() => parseLocalDateTime('2026-13-01 10:00', SEOUL))[0]!.message, /not a valid/);
    assert.match(issuesOf(() => parseLocalDateTime('2026-02-30 10:00', SEOUL))[0]!.message, /not a valid/);
    assert.match(issuesOf(() => parseLocalDateTime('2026-11-23 24:30', SEOUL))[0]!.message, /not a valid/);
    const referenceDate = new Date('2026-11-23T00:00:00Z');
    assert.match(
      issuesOf(() => parseLocalDateTime('16:75', SEOUL, { referenceDate }))[0]!.message,
      /not a valid/,
    );
  });

  it('refuses an unknown zone', () => {
    assert.match(issuesOf(() => parseLocalDateTime('2026-11-23 16:00', 'Mars/Olympus'))[0]!.message, /zone/);
  });
});

describe('isTimeOfDay', () => {
  it('tells HH:mm from full dates', () => {
    assert.equal(isTimeOfDay('16:00'), true);
    assert.equal(isTimeOfDay(' 9:30 '), true);
    assert.equal(isTimeOfDay('2026-11-23 16:00'), false);
  });
});

describe('addCalendarDays', () => {
  it('keeps the wall time across a DST change (23 h, not 24 h, on the spring-forward day)', () => {
    // Prepare
    const before = parseLocalDateTime('2026-03-07 12:00', NEW_YORK);

    // Act
    const after = addCalendarDays(before, 1, NEW_YORK);

    // Assess
    assert.equal(formatLocal(after, NEW_YORK), '2026-03-08 12:00');
    assert.equal(after.getTime() - before.getTime(), 23 * 3_600_000);
  });
});

describe('formatLocal', () => {
  it('writes the wall time in the zone', () => {
    const d = new Date('2026-11-23T07:00:00Z');
    assert.equal(formatLocal(d, SEOUL), '2026-11-23 16:00');
    assert.equal(formatLocal(d, NEW_YORK), '2026-11-23 02:00');
    assert.equal(formatLocal(d, 'UTC'), '2026-11-23 07:00');
  });
});

describe('formatDuration', () => {
  it('writes seconds, minutes and seconds, or hours and minutes', () => {
    assert.equal(formatDuration(45_000), '45s');
    assert.equal(formatDuration(700_000), '11m 40s');
    assert.equal(formatDuration(3_900_000), '1h 5m');
    assert.equal(formatDuration(3_940_000), '1h 5m');
    assert.equal(formatDuration(300_000), '5m');
    assert.equal(formatDuration(7_200_000), '2h');
    assert.equal(formatDuration(0), '0s');
    assert.equal(formatDuration(400), '0s');
    assert.equal(formatDuration(-90_000), '-1m 30s');
  });
});
