// The event rules' panel: the latest runs (which rule, what triggered it, what it did, how its task ended), from
// GET /api/rules/runs, read again every few seconds while the page is visible. Shown only when rules are configured.

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

function status(run) {
  if (run.status === 'stopped') {
    return h(
      'span',
      { class: `badge ${run.outcome === 'ok' ? 'ok' : 'failed'}` },
      run.outcome === 'ok' ? 'finished' : 'alert',
    );
  }
  const kind = { running: 'running', failed: 'failed', done: 'done', 'dry-run': 'dry', starting: 'pending' }[
    run.status
  ];
  return h('span', { class: `badge ${kind ?? ''}` }, run.status);
}

function taskCell(run) {
  if (!run.taskArn) return run.error ? h('span', { class: 'muted' }, run.error) : '';
  const revision = (run.taskDefinitionArn ?? '').split('/').pop();
  const id = run.taskArn.split('/').pop().slice(0, 8);
  const ran =
    run.taskStartedAt && run.stoppedAt
      ? ` · ${duration(new Date(run.stoppedAt).getTime() - new Date(run.taskStartedAt).getTime())}`
      : '';
  return [
    h('span', { class: 'id' }, `${revision} ${id}`),
    ran,
    run.dryRun ? h('span', { class: 'badge dry' }, 'dry-run') : '',
  ];
}

function exitCodes(run) {
  if (!run.containers) return '';
  const codes = run.containers.map((c) => `${c.name}: ${c.exitCode ?? 'none'}`).join(', ');
  return [codes, run.stopCode ? h('div', { class: 'muted small' }, run.stopCode) : ''];
}

async function refresh() {
  const { runs } = await get('/api/rules/runs?limit=20');
  const body = clear($('rule-runs').querySelector('tbody'));
  if (runs.length === 0) {
    body.append(h('tr', {}, h('td', { class: 'empty', colspan: 7 }, 'No rule has run yet.')));
    return;
  }
  for (const run of runs) {
    body.append(
      h(
        'tr',
        { 'data-run': run.id, 'data-status': run.status },
        h('td', {}, dateTime(run.createdAt, zone)),
        h('td', {}, run.rule),
        h('td', {}, run.event),
        h('td', {}, run.kind),
        h('td', {}, status(run)),
        h('td', {}, taskCell(run)),
        h('td', {}, exitCodes(run)),
      ),
    );
  }
}

async function start() {
  const panel = $('rules-panel');
  if (!panel) return;
  const [{ rules }, health] = await Promise.all([get('/api/rules'), get('/healthz').catch(() => ({}))]);
  if (rules.length === 0) return;
  zone = health.timezone ?? 'UTC';
  $('rules-count').textContent =
    `${rules.length} rule${rules.length === 1 ? '' : 's'}: ${rules.map((r) => r.name).join(', ')}`;
  panel.hidden = false;
  await refresh();
  setInterval(() => {
    if (document.visibilityState === 'visible') refresh().catch(() => {});
  }, REFRESH_MS);
}

start().catch(() => {});
