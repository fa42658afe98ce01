// Office hours' panel: each resource's on/off bands for the next 7 days (from GET /api/power/plans), under the
// capacity plan — a resource with both (an ECS service) shows its bands here and its capacity above —, dated
// exceptions marked, capacity windows that keep it on shown as such, and the hours saved per week with the
// estimated saving (pricePerUnitHour). Shown only when schedules are configured; read again every minute.

import { clear, h, s } from './dom.js';
import { dateTime } from './format.js';

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 60_000;
const DAYS = 7;

async function get(path) {
  const response = await fetch(path, { headers: { 'x-chronops-actor': 'web', 'x-chronops-source': 'web' } });
  if (!response.ok) throw new Error(`${response.status} ${path}`);
  return response.json();
}

const REASON = { schedule: 'schedule', exception: 'exception', forced: 'forced', window: 'capacity window' };

const WIDTH = 1000;
const HEIGHT = 22;

/** The band as SVG (the page's policy allows no inline styles): x and width are attributes, colours CSS classes. */
function band(resource, from, to) {
  const span = to - from;
  const x = (t) => (((t - from) / span) * WIDTH).toFixed(2);
  const svg = s('svg', {
    class: 'power-band',
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    preserveAspectRatio: 'none',
    role: 'img',
    'aria-label': `${resource.resource}: on/off for ${DAYS} days`,
  });
  for (const seg of resource.segments) {
    const a = Math.max(from, Date.parse(seg.from));
    const b = Math.min(to, Date.parse(seg.until));
    if (b <= a) continue;
    const title = `${seg.state === 'running' ? 'on' : 'off'} (${REASON[seg.reason] ?? seg.reason}${
      seg.windows ? `: ${seg.windows.join(', ')}` : ''
    }) ${dateTime(seg.from, resource.timezone)} – ${dateTime(seg.until, resource.timezone)}`;
    svg.append(
      s(
        'rect',
        {
          class: `seg ${seg.state === 'running' ? 'on' : 'off'} ${seg.reason}`,
          'data-state': seg.state,
          'data-reason': seg.reason,
          x: x(a),
          y: 0,
          width: (Number(x(b)) - Number(x(a))).toFixed(2),
          height: HEIGHT,
        },
        s('title', {}, title),
      ),
    );
  }
  for (let d = 1; d < DAYS; d++) {
    const at = ((d / DAYS) * WIDTH).toFixed(2);
    svg.append(s('line', { class: 'tick', x1: at, x2: at, y1: 0, y2: HEIGHT }));
  }
  return svg;
}

function money(n) {
  return `$${n.toFixed(2)}`;
}

async function refresh() {
  const plans = await get(`/api/power/plans?days=${DAYS}`);
  const from = Date.parse(plans.from);
  const to = Date.parse(plans.to);
  const list = clear($('power-bands'));
  let hours = 0;
  let saving = 0;
  let priced = false;
  for (const r of plans.resources) {
    hours += r.hoursOffPerWeek;
    if (r.savingPerWeek !== undefined) {
      saving += r.savingPerWeek;
      priced = true;
    }
    const marks = r.exceptions.map((e) =>
      h(
        'span',
        { class: 'badge exception', 'data-date': e.date },
        `${e.date}${e.start !== undefined ? ` start ${hm(e.start)}` : ''}${e.stop !== undefined ? ` stop ${hm(e.stop)}` : ''}`,
      ),
    );
    list.append(
      h(
        'div',
        { class: 'power-row', 'data-resource': r.resource },
        h(
          'div',
          { class: 'power-name' },
          h('strong', {}, r.resource),
          h('span', { class: 'muted small' }, ` ${r.kind} · ${r.schedule}`),
          marks.length > 0 ? h('div', { class: 'small' }, 'exceptions: ', marks) : '',
        ),
        band(r, from, to),
        h(
          'div',
          { class: 'power-saved small' },
          h('span', { class: 'hours' }, `${r.hoursOffPerWeek} h off / week`),
          r.savingPerWeek !== undefined
            ? h('div', { class: 'muted saving' }, `≈ ${money(r.savingPerWeek)} / week`)
            : '',
        ),
      ),
    );
  }
  $('power-total').textContent =
    `${Math.round(hours * 10) / 10} resource-hours off per week` +
    (priced ? `, an estimated ${money(saving)} saved per week (${money((saving * 52) / 12)} a month)` : '');
}

function hm(minutes) {
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

async function start() {
  const panel = $('power-panel');
  if (!panel) return;
  const { schedules } = await get('/api/power/schedules');
  if (schedules.length === 0) return;
  $('power-count').textContent = schedules
    .map((s) => `${s.name} (${s.timezone}): ${s.periods.join('; ')}`)
    .join(' · ');
  panel.hidden = false;
  await refresh();
  setInterval(() => {
    if (document.visibilityState === 'visible') refresh().catch(() => {});
  }, REFRESH_MS);
}

start().catch(() => {});
