import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DateTime } from 'luxon';
import { parseSchedule } from '../../../src/capabilities/power/config.ts';
import type {
  DayException,
  ForcedState,
  Schedule,
  WindowHold,
} from '../../../src/capabilities/power/model.ts';
import {
  dayIntervals,
  desiredStateAt,
  exceptionsByDate,
  forcedUntil,
  nextChange,
  type PowerPlanInput,
  powerPlan,
  stoppedHours,
  wallInstant,
} from '../../../src/capabilities/power/schedule.ts';
import { ValidationError } from '../../../src/kernel/errors.ts';

const SEOUL = 'Asia/Seoul';
const NY = 'America/New_York';

function schedule(periods: Record<string, unknown>[], timezone = SEOUL): Schedule {
  return parseSchedule('test', { timezone, periods });
}

/** The instant of a wall time in a zone: `at('2026-11-23 09:00')`. */
function at(local: string, zone = SEOUL): Date {
  const dt = DateTime.fromFormat(local, 'yyyy-MM-dd HH:mm', { zone });
  assert.ok(dt.isValid, local);
  return dt.toJSDate();
}

function input(s: Schedule, extra: Partial<PowerPlanInput> = {}): PowerPlanInput {
  return { schedule: s, exceptions: new Map(), ...extra };
}

function stateAt(s: Schedule | PowerPlanInput, t: Date): string {
  return desiredStateAt('periods' in s ? input(s) : s, t).state;
}

/** Running days of a whole-day rule over a month, as day numbers. */
function runningDays(s: Schedule, year: number, month: number): number[] {
  const days: number[] = [];
  const n = DateTime.fromObject({ year, month }, { zone: s.timezone }).daysInMonth!;
  for (let d = 1; d <= n; d++) {
    const t = DateTime.fromObject({ year, month, day: d, hour: 12 }, { zone: s.timezone }).toJSDate();
    if (stateAt(s, t) === 'running') days.push(d);
  }
  return days;
}

describe('periods: office hours', () => {
  const office = schedule([{ begintime: '09:00', endtime: '18:00', weekdays: 'mon-fri' }]);

  it('runs from begintime (inclusive) to endtime (exclusive) on weekdays only', () => {
    // 2026-11-23 is a Monday.
    assert.equal(stateAt(office, at('2026-11-23 08:59')), 'stopped');
    assert.equal(stateAt(office, at('2026-11-23 09:00')), 'running');
    assert.equal(stateAt(office, at('2026-11-23 17:59')), 'running');
    assert.equal(stateAt(office, at('2026-11-23 18:00')), 'stopped');
    assert.equal(stateAt(office, at('2026-11-28 10:00')), 'stopped'); // Saturday
    assert.equal(stateAt(office, at('2026-11-29 10:00')), 'stopped'); // Sunday
  });

  it('finds the next change across the weekend', () => {
    const next = nextChange(input(office), at('2026-11-27 18:00'));
    assert.deepEqual(next, { at: at('2026-11-30 09:00'), state: 'running' });
    assert.deepEqual(nextChange(input(office), at('2026-11-30 09:00')), {
      at: at('2026-11-30 18:00'),
      state: 'stopped',
    });
  });

  it('counts the hours a week it keeps things stopped', () => {
    const week = powerPlan(input(office), at('2026-11-23 00:00'), at('2026-11-30 00:00'));
    assert.equal(stoppedHours(week), 168 - 45);
  });
});

describe('periods: crossing midnight', () => {
  const night = schedule([{ begintime: '22:00', endtime: '06:00', weekdays: 'mon-fri' }]);

  it('runs from begintime on a matching day until endtime the next morning', () => {
    assert.equal(stateAt(night, at('2026-11-23 21:59')), 'stopped'); // Monday
    assert.equal(stateAt(night, at('2026-11-23 22:00')), 'running');
    assert.equal(stateAt(night, at('2026-11-24 00:00')), 'running');
    assert.equal(stateAt(night, at('2026-11-24 05:59')), 'running');
    assert.equal(stateAt(night, at('2026-11-24 06:00')), 'stopped');
  });

  it("belongs to the day it begins on: Friday's night runs into Saturday, Sunday's does not exist", () => {
    assert.equal(stateAt(night, at('2026-11-28 03:00')), 'running'); // Saturday morning, Friday's period
    assert.equal(stateAt(night, at('2026-11-28 06:00')), 'stopped');
    assert.equal(stateAt(night, at('2026-11-28 23:00')), 'stopped'); // Saturday night
    assert.equal(stateAt(night, at('2026-11-30 03:00')), 'stopped'); // Monday morning: Sunday did not match
  });

  it('an end time of 24:00 runs until midnight', () => {
    const evening = schedule([{ begintime: '18:00', endtime: '24:00' }]);
    assert.equal(stateAt(evening, at('2026-11-23 23:59')), 'running');
    assert.equal(stateAt(evening, at('2026-11-24 00:00')), 'stopped');
  });
});

describe('periods: daylight saving time (America/New_York)', () => {
  it('keeps wall-clock hours on both sides of the spring-forward change', () => {
    const office = schedule([{ begintime: '09:00', endtime: '17:00' }], NY);
    // 2026-03-08: clocks jump from 02:00 EST to 03:00 EDT.
    assert.deepEqual(nextChange(input(office), new Date('2026-03-07T12:00:00Z')), {
      at: new Date('2026-03-07T14:00:00Z'), // 09:00 EST = UTC-5
      state: 'running',
    });
    assert.deepEqual(nextChange(input(office), new Date('2026-03-08T12:00:00Z')), {
      at: new Date('2026-03-08T13:00:00Z'), // 09:00 EDT = UTC-4
      state: 'running',
    });
  });

  it('starts a period whose begintime the clocks skip when they reach 03:00', () => {
    const early = schedule([{ begintime: '02:30', endtime: '04:00' }], NY);
    const day = dayIntervals(early, '2026-03-08');
    assert.equal(day.length, 1);
    assert.equal(day[0]!.from.toISOString(), '2026-03-08T07:00:00.000Z'); // 03:00 EDT
    assert.equal(day[0]!.until.toISOString(), '2026-03-08T08:00:00.000Z'); // 04:00 EDT
    assert.equal(wallInstant('2026-03-08', 150, NY).toISOString(), '2026-03-08T07:00:00.000Z');
  });

  it('does not stop and restart in the repeated hour of the fall-back change', () => {
    // 2026-11-01: clocks go from 02:00 EDT back to 01:00 EST; 01:30 happens twice.
    const s = schedule([{ begintime: '01:30', endtime: '03:00' }], NY);
    const day = dayIntervals(s, '2026-11-01');
    assert.equal(day[0]!.from.toISOString(), '2026-11-01T05:30:00.000Z'); // the first 01:30 (EDT)
    assert.equal(day[0]!.until.toISOString(), '2026-11-01T08:00:00.000Z'); // 03:00 EST
    // 01:10 EST (after the clocks went back, a wall time before 01:30): still running.
    assert.equal(stateAt(s, new Date('2026-11-01T06:10:00Z')), 'running');
    const plan = powerPlan(input(s), new Date('2026-11-01T04:00:00Z'), new Date('2026-11-01T10:00:00Z'));
    assert.deepEqual(
      plan.map((p) => [p.from.toISOString(), p.state]),
      [
        ['2026-11-01T04:00:00.000Z', 'stopped'],
        ['2026-11-01T05:30:00.000Z', 'running'],
        ['2026-11-01T08:00:00.000Z', 'stopped'],
      ],
    );
  });

  it('a whole-day period lasts 23 and 25 hours on the change days', () => {
    const sundays = schedule([{ weekdays: 'sun' }], NY);
    const spring = dayIntervals(sundays, '2026-03-08')[0]!;
    const fall = dayIntervals(sundays, '2026-11-01')[0]!;
    assert.equal((spring.until.getTime() - spring.from.getTime()) / 3_600_000, 23);
    assert.equal((fall.until.getTime() - fall.from.getTime()) / 3_600_000, 25);
  });
});

describe('periods: day rules', () => {
  it('mon#2 is the second Monday of the month', () => {
    const s = schedule([{ weekdays: 'mon#2' }]);
    assert.deepEqual(runningDays(s, 2026, 11), [9]);
    assert.deepEqual(runningDays(s, 2026, 3), [9]);
  });

  it('friL is the last Friday of the month', () => {
    const s = schedule([{ weekdays: 'friL' }]);
    assert.deepEqual(runningDays(s, 2026, 11), [27]);
    assert.deepEqual(runningDays(s, 2026, 1), [30]);
  });

  it('L is the last day of the month, leap years included', () => {
    const s = schedule([{ monthdays: 'L' }]);
    assert.deepEqual(runningDays(s, 2026, 2), [28]);
    assert.deepEqual(runningDays(s, 2028, 2), [29]);
    assert.deepEqual(runningDays(s, 2026, 4), [30]);
  });

  it('15W is the weekday nearest the 15th, never leaving the month', () => {
    assert.deepEqual(runningDays(schedule([{ monthdays: '15W' }]), 2026, 8), [14]); // 15th a Saturday → Friday
    assert.deepEqual(runningDays(schedule([{ monthdays: '15W' }]), 2026, 11), [16]); // a Sunday → Monday
    assert.deepEqual(runningDays(schedule([{ monthdays: '15W' }]), 2026, 10), [15]); // a Thursday
    assert.deepEqual(runningDays(schedule([{ monthdays: '1W' }]), 2026, 8), [3]); // Sat the 1st → Mon the 3rd
    assert.deepEqual(runningDays(schedule([{ monthdays: '31W' }]), 2026, 5), [29]); // Sun the 31st → Fri
    assert.deepEqual(runningDays(schedule([{ monthdays: '31W' }]), 2026, 6), []); // June has no 31st
  });

  it('monthday ranges and lists, and a range up to the last day', () => {
    assert.deepEqual(runningDays(schedule([{ monthdays: '1-3,10' }]), 2026, 11), [1, 2, 3, 10]);
    assert.deepEqual(runningDays(schedule([{ monthdays: '27-L' }]), 2026, 2), [27, 28]);
  });

  it('every rule given must match: weekdays mon-fri and monthdays 1-15', () => {
    const s = schedule([{ weekdays: 'mon-fri', monthdays: '1-15' }]);
    assert.deepEqual(runningDays(s, 2026, 11), [2, 3, 4, 5, 6, 9, 10, 11, 12, 13]);
  });

  it('months, names or numbers, and a range over the new year', () => {
    const summer = schedule([{ months: 'jul-aug', begintime: '09:00', endtime: '18:00' }]);
    assert.equal(stateAt(summer, at('2026-07-15 10:00')), 'running');
    assert.equal(stateAt(summer, at('2026-09-15 10:00')), 'stopped');
    const winter = schedule([{ months: 'nov-2' }]);
    assert.equal(stateAt(winter, at('2026-12-15 10:00')), 'running');
    assert.equal(stateAt(winter, at('2027-02-15 10:00')), 'running');
    assert.equal(stateAt(winter, at('2027-03-15 10:00')), 'stopped');
    // Next change of a schedule that runs only in July, seen from September: next July.
    assert.deepEqual(nextChange(input(summer), at('2026-09-01 00:00')), {
      at: at('2027-07-01 09:00'),
      state: 'running',
    });
  });

  it('a weekday range may wrap around the week', () => {
    const s = schedule([{ weekdays: 'fri-mon' }]);
    assert.deepEqual(runningDays(s, 2026, 11).slice(0, 5), [1, 2, 6, 7, 8]);
  });
});

describe('periods: several periods in one schedule', () => {
  it('overlapping periods run as one, with no stop at the overlap', () => {
    const s = schedule([
      { begintime: '09:00', endtime: '12:00', weekdays: 'mon-fri' },
      { begintime: '11:00', endtime: '18:00', weekdays: 'mon-fri' },
    ]);
    assert.deepEqual(nextChange(input(s), at('2026-11-23 09:00')), {
      at: at('2026-11-23 18:00'),
      state: 'stopped',
    });
  });

  it('separate periods on different days', () => {
    const s = schedule([
      { begintime: '09:00', endtime: '18:00', weekdays: 'mon-fri' },
      { begintime: '10:00', endtime: '14:00', weekdays: 'sat' },
    ]);
    assert.equal(stateAt(s, at('2026-11-28 09:30')), 'stopped');
    assert.equal(stateAt(s, at('2026-11-28 10:00')), 'running');
    assert.equal(stateAt(s, at('2026-11-28 14:00')), 'stopped');
    assert.equal(stateAt(s, at('2026-11-29 12:00')), 'stopped');
  });

  it('a schedule that always runs has no next change', () => {
    const always = schedule([{}]);
    assert.equal(nextChange(input(always), at('2026-11-23 12:00')), null);
    assert.equal(stateAt(always, at('2026-11-23 12:00')), 'running');
  });
});

describe('dated exceptions', () => {
  const office = schedule([{ begintime: '09:00', endtime: '18:00', weekdays: 'mon-fri' }]);
  const withExceptions = (...list: DayException[]) => input(office, { exceptions: exceptionsByDate(list) });

  it('a later start replaces the day start; the usual stop stays', () => {
    const i = withExceptions({ date: '2026-11-25', start: 10 * 60 });
    assert.equal(stateAt(i, at('2026-11-25 09:30')), 'stopped');
    assert.equal(desiredStateAt(i, at('2026-11-25 09:30')).reason, 'exception');
    assert.equal(stateAt(i, at('2026-11-25 10:00')), 'running');
    assert.equal(stateAt(i, at('2026-11-25 18:00')), 'stopped');
    assert.equal(stateAt(i, at('2026-11-26 09:00')), 'running'); // the next day is as usual
  });

  it('an earlier start and a later stop widen the day', () => {
    const i = withExceptions({ date: '2026-11-25', start: 7 * 60, stop: 21 * 60 });
    assert.equal(stateAt(i, at('2026-11-25 07:00')), 'running');
    assert.equal(stateAt(i, at('2026-11-25 20:59')), 'running');
    assert.equal(stateAt(i, at('2026-11-25 21:00')), 'stopped');
    assert.deepEqual(nextChange(i, at('2026-11-25 12:00')), { at: at('2026-11-25 21:00'), state: 'stopped' });
  });

  it('an early stop ends the day early', () => {
    const i = withExceptions({ date: '2026-12-24', stop: 13 * 60 });
    assert.equal(stateAt(i, at('2026-12-24 12:59')), 'running');
    assert.equal(stateAt(i, at('2026-12-24 13:00')), 'stopped');
  });

  it('a start on a day the schedule does not run runs until midnight, or until its stop', () => {
    const saturday = withExceptions({ date: '2026-11-28', start: 10 * 60 });
    assert.equal(stateAt(saturday, at('2026-11-28 10:00')), 'running');
    assert.equal(stateAt(saturday, at('2026-11-28 23:59')), 'running');
    assert.equal(stateAt(saturday, at('2026-11-29 00:00')), 'stopped');
    const bounded = withExceptions({ date: '2026-11-28', start: 10 * 60, stop: 15 * 60 });
    assert.equal(stateAt(bounded, at('2026-11-28 15:00')), 'stopped');
  });

  it('a stop before the day start means the day does not run', () => {
    const i = withExceptions({ date: '2026-11-25', stop: 8 * 60 });
    assert.equal(stateAt(i, at('2026-11-25 12:00')), 'stopped');
  });

  it("on a schedule crossing midnight a stop before the start is the next morning's", () => {
    const night = schedule([{ begintime: '22:00', endtime: '06:00', weekdays: 'mon-fri' }]);
    const i = input(night, { exceptions: exceptionsByDate([{ date: '2026-11-23', stop: 4 * 60 }]) });
    assert.equal(stateAt(i, at('2026-11-24 03:59')), 'running');
    assert.equal(stateAt(i, at('2026-11-24 04:00')), 'stopped');
    const sameNight = input(night, { exceptions: exceptionsByDate([{ date: '2026-11-23', stop: 23 * 60 }]) });
    assert.equal(stateAt(sameNight, at('2026-11-23 23:00')), 'stopped');
    assert.equal(stateAt(sameNight, at('2026-11-24 01:00')), 'stopped');
    assert.equal(stateAt(sameNight, at('2026-11-24 22:00')), 'running');
  });
});

describe('forced states and capacity windows', () => {
  const office = schedule([{ begintime: '09:00', endtime: '18:00', weekdays: 'mon-fri' }]);

  it('force_stop holds until the next transition of the schedule, then the schedule takes over', () => {
    const t = at('2026-11-23 10:00');
    const until = forcedUntil(office, new Map(), t);
    assert.deepEqual(until, at('2026-11-23 18:00'));
    const forced: ForcedState = { state: 'stopped', at: t, until, by: 'alice' };
    const i = input(office, { forced });
    assert.deepEqual(desiredStateAt(i, at('2026-11-23 11:00')), {
      from: at('2026-11-23 11:00'),
      until: new Date(at('2026-11-23 11:00').getTime() + 1),
      state: 'stopped',
      reason: 'forced',
    });
    assert.equal(stateAt(i, at('2026-11-24 09:00')), 'running');
    assert.deepEqual(nextChange(i, t), { at: at('2026-11-24 09:00'), state: 'running' });
  });

  it('force_start at night runs until the next start of the schedule, and on through that day', () => {
    const t = at('2026-11-23 20:00');
    const forced: ForcedState = {
      state: 'running',
      at: t,
      until: forcedUntil(office, new Map(), t),
      by: 'bob',
    };
    assert.deepEqual(forced.until, at('2026-11-24 09:00'));
    const i = input(office, { forced });
    assert.equal(stateAt(i, at('2026-11-24 03:00')), 'running');
    assert.deepEqual(nextChange(i, t), { at: at('2026-11-24 18:00'), state: 'stopped' });
  });

  it('a force ends at the next transition of the schedule with its exceptions', () => {
    const exceptions = exceptionsByDate([{ date: '2026-11-23', stop: 12 * 60 }]);
    assert.deepEqual(forcedUntil(office, exceptions, at('2026-11-23 10:00')), at('2026-11-23 12:00'));
  });

  it('a capacity window keeps a resource running at night, and stopping waits for its end', () => {
    const sale: WindowHold = {
      windowId: 'w1',
      name: 'sale',
      from: at('2026-11-24 03:00'),
      until: at('2026-11-24 04:30'),
    };
    const i = input(office, { windows: [sale] });
    assert.equal(stateAt(i, at('2026-11-24 02:59')), 'stopped');
    assert.deepEqual(desiredStateAt(i, at('2026-11-24 03:00')).windows, ['w1']);
    assert.equal(desiredStateAt(i, at('2026-11-24 03:00')).reason, 'window');
    assert.deepEqual(nextChange(i, at('2026-11-24 03:00')), { at: at('2026-11-24 04:30'), state: 'stopped' });
    // A window over the evening stop: the stop moves to the window's end.
    const evening: WindowHold = { ...sale, from: at('2026-11-24 17:30'), until: at('2026-11-24 19:00') };
    assert.deepEqual(nextChange(input(office, { windows: [evening] }), at('2026-11-24 12:00')), {
      at: at('2026-11-24 19:00'),
      state: 'stopped',
    });
  });

  it('a capacity window wins over a forced stop', () => {
    const forced: ForcedState = {
      state: 'stopped',
      at: at('2026-11-24 10:00'),
      until: at('2026-11-24 18:00'),
      by: 'carol',
    };
    const window: WindowHold = {
      windowId: 'w2',
      name: 'drop',
      from: at('2026-11-24 11:00'),
      until: at('2026-11-24 12:00'),
    };
    const i = input(office, { forced, windows: [window] });
    assert.equal(stateAt(i, at('2026-11-24 10:30')), 'stopped');
    assert.equal(stateAt(i, at('2026-11-24 11:30')), 'running');
    assert.equal(stateAt(i, at('2026-11-24 12:00')), 'stopped');
  });

  it('the plan for a week lists segments with their reasons', () => {
    const exceptions = exceptionsByDate([{ date: '2026-11-25', start: 10 * 60 }]);
    const plan = powerPlan(input(office, { exceptions }), at('2026-11-25 00:00'), at('2026-11-26 00:00'));
    assert.deepEqual(
      plan.map((p) => [DateTime.fromJSDate(p.from, { zone: SEOUL }).toFormat('HH:mm'), p.state, p.reason]),
      [
        ['00:00', 'stopped', 'exception'],
        ['10:00', 'running', 'exception'],
        ['18:00', 'stopped', 'exception'],
      ],
    );
  });
});

describe('schedule config errors name the field', () => {
  function issues(raw: unknown): Array<{ field: string; message: string }> {
    try {
      parseSchedule('office', raw);
    } catch (error) {
      assert.ok(error instanceof ValidationError);
      return error.issues;
    }
    assert.fail('expected a ValidationError');
  }

  it('refuses bad day rules, times and zones with what is accepted', () => {
    const found = issues({
      timezone: 'Asia/Sole',
      periods: [
        { begintime: '9', endtime: '18:00', weekdays: 'mon-fry' },
        { monthdays: '32', months: 'jan-foo' },
        { weekdays: 'mon#6' },
      ],
    });
    const byField = Object.fromEntries(found.map((i) => [i.field, i.message]));
    assert.match(byField['schedules.office.timezone']!, /IANA time zone/);
    assert.match(byField['schedules.office.periods[0].begintime']!, /"9" is not a time of day/);
    assert.match(byField['schedules.office.periods[0].weekdays']!, /"fry" in "mon-fry" is not a weekday/);
    assert.match(byField['schedules.office.periods[1].monthdays']!, /"32" in "32" is not a day of the month/);
    assert.match(byField['schedules.office.periods[1].months']!, /"foo" in "jan-foo" is not a month/);
    assert.match(byField['schedules.office.periods[2].weekdays']!, /1 to 5/);
  });

  it('needs begintime and endtime together, not equal, and at least one period', () => {
    assert.match(issues({ periods: [{ begintime: '09:00' }] })[0]!.message, /is required with begintime/);
    assert.equal(
      issues({ periods: [{ begintime: '09:00' }] })[0]!.field,
      'schedules.office.periods[0].endtime',
    );
    assert.match(
      issues({ periods: [{ begintime: '09:00', endtime: '09:00' }] })[0]!.message,
      /equals begintime/,
    );
    assert.deepEqual(issues({ periods: [] }), [
      { field: 'schedules.office.periods', message: 'must list at least one period' },
    ]);
  });

  it('says to quote a time that YAML read as a number', () => {
    assert.match(issues({ periods: [{ begintime: 540, endtime: '18:00' }] })[0]!.message, /quoted time/);
  });
});
