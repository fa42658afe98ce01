// What chronops says about a run: how the task it started ended (the seed's Slack message, with what the seed
// left out: which rule, which event, how long, each container's exit code, why it stopped, where to look), and
// that a run could not start. Pure.

import { consoleLink } from './actions/run-task.ts';
import type { TaskStateChange } from './events.ts';
import type { RuleNotification } from './ports.ts';
import type { ContainerExit, RunOutcome, RunRecord, StopRecord } from './store.ts';

/** Exit ≠ 0 of any container, a container with no exit code, or TaskFailedToStart: someone should look. */
export function stopOutcome(change: TaskStateChange): RunOutcome {
  if (change.stopCode === 'TaskFailedToStart') return 'alert';
  if (change.containers.length === 0) return 'alert';
  return change.containers.every((c) => c.exitCode === 0) ? 'ok' : 'alert';
}

export function stopRecord(change: TaskStateChange, receivedAt: Date): StopRecord {
  return {
    outcome: stopOutcome(change),
    taskStartedAt: parseDate(change.startedAt),
    stoppedAt: parseDate(change.stoppedAt) ?? receivedAt,
    containers: change.containers.map((c) => ({
      name: c.name,
      ...(c.exitCode === undefined ? {} : { exitCode: c.exitCode }),
      ...(c.reason === undefined ? {} : { reason: c.reason }),
    })),
    stopCode: change.stopCode ?? null,
    stoppedReason: change.stoppedReason ?? null,
  };
}

/** The message for a run whose task stopped. */
export function stoppedNotification(run: RunRecord): RuleNotification {
  const alert = run.outcome !== 'ok';
  const task = shortTask(run);
  const started = run.taskStartedAt;
  const duration =
    started && run.stoppedAt
      ? formatDuration(run.stoppedAt.getTime() - started.getTime())
      : run.startedAt && run.stoppedAt
        ? `never started (${formatDuration(run.stoppedAt.getTime() - run.startedAt.getTime())} after RunTask)`
        : 'unknown';
  const fields = [
    { title: 'Rule', value: run.rule },
    { title: 'Triggered by', value: run.eventSummary },
    { title: 'Duration', value: duration },
    { title: 'Exit codes', value: exitCodes(run.containers ?? []) },
    { title: 'Stop code', value: run.stopCode ?? '—' },
    { title: 'Stopped reason', value: run.stoppedReason ?? '—' },
  ];
  return {
    title: `${alert ? 'Alert: ' : ''}${run.rule}: task ${task} ${run.stopCode === 'TaskFailedToStart' ? 'failed to start' : alert ? 'failed' : 'finished'}`,
    severity: alert ? 'error' : 'success',
    fields,
    ...(run.taskArn && run.region
      ? { link: { label: 'Task in the ECS console', url: consoleLink(run.taskArn, run.region) } }
      : {}),
    footer: footer(run),
  };
}

/** The message for a run that did not start (refused, RunTask failures, an error). */
export function failedNotification(run: RunRecord, reason: string): RuleNotification {
  return {
    title: `Alert: ${run.rule}: ${run.kind === 'runTask' ? 'the task did not start' : `${run.kind} failed`}`,
    severity: 'error',
    text: reason,
    fields: [
      { title: 'Rule', value: run.rule },
      { title: 'Triggered by', value: run.eventSummary },
    ],
    footer: footer(run),
  };
}

/** The message for a run that started its task (chat-started runs get it in their thread). */
export function startedNotification(run: RunRecord): RuleNotification {
  return {
    title: `${run.rule}: ${run.dryRun ? 'would start' : 'started'} task ${shortTask(run)}`,
    severity: 'info',
    fields: [
      { title: 'Rule', value: run.rule },
      { title: 'Triggered by', value: run.eventSummary },
      ...(run.cluster ? [{ title: 'Cluster', value: `${run.cluster} (${run.region ?? '?'})` }] : []),
    ],
    ...(run.taskArn && run.region
      ? { link: { label: 'Task in the ECS console', url: consoleLink(run.taskArn, run.region) } }
      : {}),
    footer: footer(run),
  };
}

function footer(run: RunRecord): string {
  return `run ${run.id}${run.dryRun ? ' · dry-run' : ''}`;
}

function shortTask(run: RunRecord): string {
  const def = run.taskDefinitionArn
    ? run.taskDefinitionArn.slice(run.taskDefinitionArn.lastIndexOf('/') + 1)
    : '';
  const id = run.taskArn
    ? run.taskArn.slice(run.taskArn.lastIndexOf('/') + 1, run.taskArn.lastIndexOf('/') + 9)
    : '';
  return [def, id].filter(Boolean).join(' ') || '(unknown)';
}

export function exitCodes(containers: ContainerExit[]): string {
  if (containers.length === 0) return 'no container ran';
  return containers
    .map((c) => `${c.name}: ${c.exitCode ?? 'none'}${c.reason && c.exitCode !== 0 ? ` (${c.reason})` : ''}`)
    .join(', ');
}

/** `1h 2m 3s`, `4m 5s`, `6s`, `0.4s`. */
export function formatDuration(ms: number): string {
  if (ms < 0) return '0s';
  if (ms < 1000) return `${(ms / 1000).toFixed(1)}s`;
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return [h ? `${h}h` : '', h || m ? `${m}m` : '', `${s}s`].filter(Boolean).join(' ');
}

function parseDate(value: string | undefined): Date | null {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}
