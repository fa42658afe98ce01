// A run's result as the outbox sends it (src/notify/): one platform-neutral notification that the outbox renders
// as a Teams Adaptive Card (cut to 28 KB, stack traces first), Slack Block Kit or a JANDI message.
import { DateTime } from 'luxon';
import type { Notification } from '../../notify/notification.ts';
import type { JobSpec, RunStatus } from './model.ts';
import type { RunRecord } from './store.ts';

const TITLES: Partial<Record<RunStatus, string>> = {
  success: 'succeeded',
  partial: 'partly failed',
  failed: 'failed',
  missed: 'missed',
};

export function runNotification(spec: JobSpec, run: RunRecord, runUrl?: string): Notification {
  const r = run.result;
  const failed = r?.failCount ?? 0;
  const title =
    run.status === 'partial'
      ? `${spec.name}: ${failed} tenant${failed === 1 ? '' : 's'} failed`
      : `${spec.name} ${TITLES[run.status] ?? run.status}`;
  // A failed tenant is a failure to the team (the seed alerts on it): red, like a failed run.
  const severity = run.status === 'success' ? 'success' : 'error';
  const due = DateTime.fromJSDate(run.dueAt, { zone: spec.timezone }).toFormat('yyyy-LL-dd HH:mm:ss ZZZZ');
  const fields = [
    { title: 'Job', value: spec.name },
    { title: 'Call', value: `${spec.service} ${spec.method} ${spec.path}` },
    { title: 'Due', value: due },
    ...(run.durationMs === null ? [] : [{ title: 'Duration', value: formatDuration(run.durationMs) }]),
    ...(r ? [{ title: 'Tenants', value: `${r.successTenants.length} succeeded, ${failed} failed` }] : []),
    ...(run.attempt > 1 ? [{ title: 'Attempts', value: String(run.attempt) }] : []),
    ...(run.trigger === 'schedule'
      ? []
      : [{ title: 'Trigger', value: run.actor ? `${run.trigger} by ${run.actor}` : run.trigger }]),
  ];
  const sections: NonNullable<Notification['sections']> = [];
  if (r && r.failTenants.length > 0) sections.push({ title: 'Failed tenants', items: r.failTenants });
  if (r && r.successTenants.length > 0)
    sections.push({ title: 'Succeeded tenants', items: r.successTenants });
  for (const d of r?.failDetails ?? []) {
    if (d.stackTrace) sections.push({ title: d.tenant, text: d.stackTrace, code: true });
  }
  if (!r && run.status !== 'success' && run.body)
    sections.push({ title: 'Answer', text: run.body, code: true });
  return {
    title,
    severity,
    ...(run.summary ? { text: run.summary } : {}),
    fields,
    ...(sections.length > 0 ? { sections } : {}),
    ...(runUrl ? { link: { label: 'Open the run', url: runUrl } } : {}),
    footer: `run ${run.id}`,
  };
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  return `${m} min ${Math.round((ms % 60_000) / 1000)} s`;
}
