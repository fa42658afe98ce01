// When chronops acts on a resource, pure. Instance Scheduler's rules, and what chronops adds:
//
// - At a transition (the desired state changes at this minute: a period begins or ends, an exception, a force, a
//   capacity window), the resource is brought to the desired state.
// - Between transitions, a check leaves alone a resource someone started or stopped by hand, unless its schedule is
//   `enforced` (then it goes back: an RDS instance AWS started again after 7 days is stopped again) or a capacity
//   window holds it (the window needs it running, whatever happened).
// - `retainRunning`: a resource found running when its period began (started by hand before) is not stopped when
//   the period ends. Ignored when the schedule is enforced (enforcement would have stopped it before the period).

import type { ObservedPower, PowerSegment, PowerState, Schedule } from './model.ts';

export interface DecideInput {
  schedule: Schedule;
  /** The desired state now, with its reason. */
  desired: PowerSegment;
  /** What AWS says. */
  observed: ObservedPower;
  /** This check fires a transition of the desired state (or retries one not carried out yet). */
  atTransition: boolean;
  /** The resource is retained: found running when the current period began. */
  retained: boolean;
}

export interface Decision {
  /** The state to bring the resource to; null: leave it as it is. */
  want: PowerState | null;
  /** The retained flag from now on. */
  retained: boolean;
  why: string;
}

function isOn(observed: ObservedPower): boolean {
  return observed === 'running' || observed === 'starting' || observed === 'busy';
}

export function decide(input: DecideInput): Decision {
  const { schedule, desired, observed, atTransition } = input;
  const retainApplies = schedule.retainRunning && !schedule.enforced;
  let retained = retainApplies && input.retained;

  if (desired.reason === 'window') {
    return {
      want: 'running',
      retained,
      why: `capacity window ${desired.windows?.join(', ') ?? ''} holds it`.trim(),
    };
  }
  if (atTransition) {
    if (desired.state === 'running') {
      // Began: remember whether it was already running (started by hand before its period).
      retained = retainApplies && desired.reason === 'schedule' && isOn(observed);
      return { want: 'running', retained, why: `${desired.reason} says running` };
    }
    if (retained && desired.reason === 'schedule') {
      return {
        want: null,
        retained: false,
        why: 'retainRunning: it was started by hand before its period began',
      };
    }
    return { want: 'stopped', retained: false, why: `${desired.reason} says stopped` };
  }
  if (schedule.enforced) return { want: desired.state, retained: false, why: 'enforced schedule' };
  return { want: null, retained, why: 'between transitions; the schedule is not enforced' };
}
