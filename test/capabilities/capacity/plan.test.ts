import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type PlannedHold,
  planSteps,
  targetAt,
  transitionPoints,
} from '../../../src/capabilities/capacity/plan.ts';

const t = (hhmm: string) => new Date(`2026-11-23T${hhmm}:00+09:00`);

function hold(
  windowId: string,
  amount: number,
  from: string,
  until: string,
  createdAt = '00:00',
): PlannedHold {
  return {
    windowId,
    resource: 'web',
    kind: 'ecs',
    amount,
    from: t(from),
    until: t(until),
    windowCreatedAt: t(createdAt),
    dryRun: false,
  };
}

describe('targetAt: the merge rule', () => {
  it('is the baseline (null) when no hold is active', () => {
    // Prepare
    const holds = [hold('a', 12, '15:50', '17:00')];
    // Act / Assess
    assert.equal(targetAt(holds, 'web', t('15:49')), null);
    assert.equal(targetAt(holds, 'web', t('17:00')), null, 'until is exclusive');
    assert.deepEqual(
      targetAt(holds, 'web', t('15:50')),
      { amount: 12, windowIds: ['a'] },
      'from is inclusive',
    );
  });

  it('takes the largest amount of overlapping windows, led by the window that sets it', () => {
    const holds = [hold('a', 8, '15:50', '17:00', '01:00'), hold('b', 12, '16:20', '17:30', '02:00')];
    assert.deepEqual(targetAt(holds, 'web', t('16:30')), { amount: 12, windowIds: ['b', 'a'] });
  });

  it('takes the largest amount whichever window was created last (the larger created first, too)', () => {
    // The larger window created first: a rule "the latest-created window wins" would give 8 here
    const largerFirst = [hold('a', 12, '15:50', '17:00', '01:00'), hold('b', 8, '16:20', '17:30', '02:00')];
    assert.deepEqual(targetAt(largerFirst, 'web', t('16:30')), { amount: 12, windowIds: ['a', 'b'] });
    // …and listed in either order
    assert.deepEqual(targetAt([...largerFirst].reverse(), 'web', t('16:30')), {
      amount: 12,
      windowIds: ['a', 'b'],
    });
    assert.deepEqual(targetAt(largerFirst, 'web', t('17:10')), { amount: 8, windowIds: ['b'] });
  });

  it('keeps capacity when the first of two overlapping windows ends (no scale-in while one still needs it)', () => {
    // Prepare: two products 30 minutes apart, the same capacity each
    const holds = [hold('a', 12, '15:50', '17:00', '01:00'), hold('b', 12, '16:20', '17:30', '02:00')];
    // Act: the instant window a ends
    const atEndOfA = targetAt(holds, 'web', t('17:00'));
    // Assess
    assert.deepEqual(atEndOfA, { amount: 12, windowIds: ['b'] });
    assert.equal(targetAt(holds, 'web', t('17:30')), null);
  });

  it('ties go to the window created first, so names stay stable', () => {
    const holds = [hold('b', 2, '15:00', '16:00', '02:00'), hold('a', 2, '15:00', '16:00', '01:00')];
    assert.deepEqual(targetAt(holds, 'web', t('15:30'))?.windowIds, ['a', 'b']);
  });

  it('ignores other resources', () => {
    const other: PlannedHold = { ...hold('a', 3, '15:00', '16:00'), resource: 'api' };
    assert.equal(targetAt([other], 'web', t('15:30')), null);
  });
});

describe('planSteps', () => {
  it('lists every change of target, and adjacent windows give no dip between them', () => {
    // Prepare: a ends exactly when b starts
    const holds = [hold('a', 6, '15:00', '16:00', '01:00'), hold('b', 6, '16:00', '17:00', '02:00')];
    // Act
    const steps = planSteps(holds, 'web', t('14:00'), t('18:00'));
    // Assess
    assert.deepEqual(
      steps.map((s) => [s.at.toISOString(), s.target?.amount ?? 'baseline']),
      [
        [t('14:00').toISOString(), 'baseline'],
        [t('15:00').toISOString(), 6],
        [t('16:00').toISOString(), 6],
        [t('17:00').toISOString(), 'baseline'],
      ],
    );
    assert.ok(steps.every((s, i) => i === 0 || s.at > steps[i - 1]!.at));
  });

  it('merges overlaps into levels', () => {
    const holds = [hold('a', 4, '15:00', '17:00', '01:00'), hold('b', 10, '16:00', '16:30', '02:00')];
    const amounts = planSteps(holds, 'web', t('15:00'), t('18:00')).map((s) => s.target?.amount ?? 0);
    assert.deepEqual(amounts, [4, 10, 4, 0]);
  });
});

describe('transitionPoints', () => {
  it('gives a start and an end per hold', () => {
    const points = transitionPoints([hold('a', 4, '15:00', '17:00')]);
    assert.deepEqual(
      points.map((p) => [p.kind, p.at.toISOString()]),
      [
        ['start', t('15:00').toISOString()],
        ['end', t('17:00').toISOString()],
      ],
    );
  });
});
