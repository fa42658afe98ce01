// The HTTP jobs' panel: each job with its next run and last result (success / partial with the failed tenants /
// failed), and the run history with each tenant's outcome, from GET /api/jobs and /api/jobs/runs, read again every
// few seconds while the page is visible. Shown only when jobs are configured. A notification's link
// (#jobs/runs/<id>) marks its run.

import { clear, h } from './dom.js';
import { dateTime, duration } from './format.js';

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 5000;
let zone = 'UTC';

async function get(path) {
  const response = await fetch(path, { headers: { 'x-chronops-actor': 'web', 'x-chronops-source': 'web' } });
  if (!response.ok) throw new Error(`${response.status} ${path}`);
  return response.json();
}

const BADGE = {
  success: 'ok',
  partial: 'running',
  failed: 'failed',
  missed: 'missed',
  skipped: '',
  queued: 'pending',
  running: 'running',
  retrying: 'running',
  waiting: 'pending',
};

function status(run) {
  const text =
    run.status === 'partial' && run.tenants ? `partial: ${run.tenants.failCount} failed` : run.status;
  return h('span', { class: `badge ${BADGE[run.status] ?? ''}` }, text);
}

function tenants(run) {
  if (!run.tenants) return run.summary ? h('span', { class: 'muted small' }, run.summary) : '';
  const out = [];
  if (run.tenants.failed.length > 0) {
    out.push(h('div', { class: 'tenants-failed' }, `✖ ${run.tenants.failed.join(', ')}`));
  }
  if (run.tenants.succeeded.length > 0) {
    out.push(h('div', { class: 'muted small tenants-ok' }, `✔ ${run.tenants.succeeded.join(', ')}`));
  }
  return out;
}

async function refresh() {
  const [{ jobs }, { runs }] = await Promise.all([get('/api/jobs'), get('/api/jobs/runs?limit=30')]);
  const list = clear($('jobs-list').querySelector('tbody'));
  for (const job of jobs) {
    list.append(
      h(
        'tr',
        { 'data-job': job.name },
        h('td', {}, job.name),
        h('td', {}, job.schedule ?? `at ${job.at}`, h('div', { class: 'muted small' }, job.timezone)),
        h('td', {}, `${job.service} ${job.method} ${job.path}`),
        h(
          'td',
          {},
          job.paused
            ? h('span', { class: 'badge' }, 'paused')
            : job.nextRunAt
              ? dateTime(job.nextRunAt, zone)
              : '-',
        ),
        h(
          'td',
          {},
          job.lastRun
            ? [status(job.lastRun), tenants(job.lastRun)]
            : h('span', { class: 'muted' }, 'no run yet'),
        ),
      ),
    );
  }
  const body = clear($('job-runs').querySelector('tbody'));
  if (runs.length === 0) {
    body.append(h('tr', {}, h('td', { class: 'empty', colspan: 6 }, 'No job has run yet.')));
    return;
  }
  const selected = /^#jobs\/runs\/([0-9a-f-]{36})$/.exec(location.hash)?.[1];
  for (const run of runs) {
    const row = h(
      'tr',
      {
        'data-run': run.id,
        'data-status': run.status,
        ...(run.id === selected ? { class: 'selected' } : {}),
      },
      h('td', {}, dateTime(run.dueAt, zone)),
      h('td', {}, run.job),
      h(
        'td',
        {},
        run.trigger === 'schedule' ? 'schedule' : run.actor ? `${run.trigger} by ${run.actor}` : run.trigger,
      ),
      h(
        'td',
        {},
        status(run),
        run.attempt > 1 ? h('div', { class: 'muted small' }, `${run.attempt} attempts`) : '',
      ),
      h('td', {}, run.durationMs === null ? '' : duration(run.durationMs)),
      h('td', {}, tenants(run)),
    );
    body.append(row);
    if (run.id === selected) row.scrollIntoView({ block: 'center' });
  }
}

async function start() {
  const panel = $('jobs-panel');
  if (!panel) return;
  const [{ jobs }, health] = await Promise.all([get('/api/jobs'), get('/healthz').catch(() => ({}))]);
  if (jobs.length === 0) return;
  zone = health.timezone ?? 'UTC';
  panel.hidden = false;
  await refresh();
  setInterval(() => {
    if (document.visibilityState === 'visible') refresh().catch(() => {});
  }, REFRESH_MS);
  window.addEventListener('hashchange', () => refresh().catch(() => {}));
}

start().catch(() => {});
