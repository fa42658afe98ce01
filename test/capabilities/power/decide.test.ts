import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSchedule } from '../../../src/capabilities/power/config.ts';
import { decide } from '../../../src/capabilities/power/decide.ts';
import type { PowerSegment, Schedule } from '../../../src/capabilities/power/model.ts';

function schedule(options: Record<string, unknown> = {}): Schedule {
  return parseSchedule('office', { periods: [{ begintime: '09:00', endtime: '18:00' }], ...options });
}

const T = new Date('2026-11-23T00:00:00Z');
const running: PowerSegment = { from: T, until: T, state: 'running', reason: 'schedule' };
const stopped: PowerSegment = { from: T, until: T, state: 'stopped', reason: 'schedule' };

describe('decide', () => {
  it('at a transition, brings the resource to the desired state', () => {
    assert.equal(
      decide({
        schedule: schedule(),
        desired: running,
        observed: 'stopped',
        atTransition: true,
        retained: false,
      }).want,
      'running',
    );
    assert.equal(
      decide({
        schedule: schedule(),
        desired: stopped,
        observed: 'running',
        atTransition: true,
        retained: false,
      }).want,
      'stopped',
    );
  });

  it('between transitions, leaves a resource started by hand alone unless the schedule is enforced', () => {
    const base = { desired: stopped, observed: 'running' as const, atTransition: false, retained: false };
    assert.equal(decide({ ...base, schedule: schedule() }).want, null);
    assert.equal(decide({ ...base, schedule: schedule({ enforced: true }) }).want, 'stopped');
  });

  it('enforced: an RDS instance AWS started again on day 7 is stopped again at the next check', () => {
    const d = decide({
      schedule: schedule({ enforced: true }),
      desired: stopped,
      observed: 'running',
      atTransition: false,
      retained: false,
    });
    assert.deepEqual(d, { want: 'stopped', retained: false, why: 'enforced schedule' });
  });

  it('retainRunning: found running when its period began, it is not stopped at the period end', () => {
    const s = schedule({ retainRunning: true });
    const began = decide({
      schedule: s,
      desired: running,
      observed: 'running',
      atTransition: true,
      retained: false,
    });
    assert.equal(began.retained, true);
    const ended = decide({
      schedule: s,
      desired: stopped,
      observed: 'running',
      atTransition: true,
      retained: began.retained,
    });
    assert.equal(ended.want, null);
    assert.equal(ended.retained, false);
    assert.match(ended.why, /retainRunning/);
    // Started by chronops at the period's start: stopped at its end as usual.
    const startedByUs = decide({
      schedule: s,
      desired: running,
      observed: 'stopped',
      atTransition: true,
      retained: false,
    });
    assert.equal(startedByUs.retained, false);
    assert.equal(
      decide({ schedule: s, desired: stopped, observed: 'running', atTransition: true, retained: false })
        .want,
      'stopped',
    );
  });

  it('retainRunning does not keep a resource past a forced stop or an exception', () => {
    const s = schedule({ retainRunning: true });
    const forcedStop: PowerSegment = { ...stopped, reason: 'forced' };
    assert.equal(
      decide({ schedule: s, desired: forcedStop, observed: 'running', atTransition: true, retained: true })
        .want,
      'stopped',
    );
  });

  it('retainRunning is ignored by an enforced schedule', () => {
    const s = schedule({ retainRunning: true, enforced: true });
    const began = decide({
      schedule: s,
      desired: running,
      observed: 'running',
      atTransition: true,
      retained: false,
    });
    assert.equal(began.retained, false);
  });

  it('a capacity window keeps the resource running even between transitions and when not enforced', () => {
    const window: PowerSegment = { ...running, reason: 'window', windows: ['w1'] };
    const d = decide({
      schedule: schedule(),
      desired: window,
      observed: 'stopped',
      atTransition: false,
      retained: false,
    });
    assert.deepEqual(d, { want: 'running', retained: false, why: 'capacity window w1 holds it' });
  });
});
