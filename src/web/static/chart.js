// One resource's plan as a step chart in SVG, drawn by hand: the windows as bands with their names, the
// planned capacity (and the plan with dry-run windows, dashed), the baseline, the cap, the transitions on the
// time axis (done / failed / dry-run / upcoming) and a line at now. Times are placed in the team's zone.

import { s } from './dom.js';
import { clock, day, duration, wallClock } from './format.js';

const M = { top: 44, right: 12, bottom: 24, left: 36 };
const PLOT_H = 120;
const QUARTER = 15 * 60_000;

function ticks(from, to, zone, width) {
  const span = to - from;
  const out = [];
  const daily = span > 2 * 86_400_000;
  const every = daily ? 24 : width < 640 ? 6 : 3;
  for (let t = Math.ceil(from / QUARTER) * QUARTER; t <= to; t += QUARTER) {
    const { hour, minute } = wallClock(t, zone);
    if (minute === 0 && hour % every === 0) out.push({ t, label: daily ? day(t, zone) : clock(t, zone) });
  }
  return out;
}

function levelAt(steps, t) {
  let level = null;
  for (const step of steps) {
    if (new Date(step.at).getTime() <= t) level = step.level;
    else break;
  }
  return level;
}

/**
 * The chart of `resource` (from /api/board) for the board's range, `width` px wide. `onWindow(id)` is called
 * when a window's band is clicked.
 */
export function stepChart(resource, board, width, onWindow) {
  const zone = board.timezone;
  const from = new Date(board.range.from).getTime();
  const to = new Date(board.range.to).getTime();
  const now = new Date(board.now).getTime();
  const plotW = Math.max(200, width - M.left - M.right);
  const height = M.top + PLOT_H + M.bottom;
  const levels = [resource.baseline ?? 0, resource.cap, ...resource.steps.map((x) => x.level ?? 0)];
  for (const x of resource.dryRunSteps ?? []) levels.push(x.level ?? 0);
  const yMax = Math.max(1, ...levels) * 1.08;
  const x = (t) => M.left + ((Math.min(Math.max(t, from), to) - from) / (to - from)) * plotW;
  const y = (v) => M.top + PLOT_H - (v / yMax) * PLOT_H;
  const bottom = M.top + PLOT_H;

  const root = s('svg', {
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-label': `Planned ${resource.unit} of ${resource.name}`,
    'data-resource': resource.name,
  });
  root.append(
    s(
      'defs',
      null,
      s(
        'pattern',
        { id: 'hatch', width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' },
        s('rect', { width: 6, height: 6, fill: '#f6f3ff' }),
        s('line', { x1: 0, y1: 0, x2: 0, y2: 6, stroke: '#d8ccfb', 'stroke-width': 2 }),
      ),
    ),
  );

  // Time grid and axis.
  const axis = s('g', { class: 'axis' });
  for (const tick of ticks(from, to, zone, width)) {
    const tx = x(tick.t);
    axis.append(
      s('line', { class: 'grid', x1: tx, x2: tx, y1: M.top - 4, y2: bottom }),
      s('text', { x: tx, y: bottom + 15, 'text-anchor': 'middle' }, tick.label),
    );
  }
  // Values on the axis: the baseline, the cap and 0 (in that order of importance, when they would overlap).
  const used = [];
  for (const v of [resource.baseline, resource.cap, 0]) {
    if (v === null || used.some((u) => Math.abs(y(u) - y(v)) < 11)) continue;
    used.push(v);
    axis.append(s('text', { x: M.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, String(v)));
  }
  root.append(axis);

  // Windows: one band each, with its name; labels stack in two rows when windows overlap.
  const rows = [-Infinity, -Infinity];
  const bands = s('g', null);
  for (const hold of resource.holds) {
    const x0 = x(new Date(hold.from).getTime());
    const x1 = x(new Date(hold.until).getTime());
    if (x1 - x0 < 1) continue;
    const title = `${hold.windowName} (${hold.windowId}): ${hold.amount} ${resource.unit}, ${clock(hold.from, zone)}–${clock(hold.until, zone)}${hold.dryRun ? ', dry-run' : ''}`;
    const band = s(
      'rect',
      {
        class: `band${hold.dryRun ? ' dry' : ''}`,
        x: x0,
        y: M.top - 4,
        width: x1 - x0,
        height: PLOT_H + 4,
        rx: 3,
        'data-window': hold.windowId,
      },
      s('title', null, title),
    );
    band.addEventListener('click', () => onWindow?.(hold.windowId));
    bands.append(band);
    const row = rows[0] <= x0 ? 0 : rows[1] <= x0 ? 1 : 0;
    const label = `${hold.windowName} · ${hold.amount}${resource.kind === 'aurora' ? ' extra' : ''}`;
    rows[row] = x0 + label.length * 6.6 + 8;
    bands.append(
      s(
        'text',
        { class: `band-label${hold.dryRun ? ' dry' : ''}`, x: x0 + 3, y: M.top - 19 + row * 12 },
        label,
      ),
    );
  }
  root.append(bands);

  // Baseline and cap.
  if (resource.baseline !== null) {
    root.append(
      s('line', {
        class: 'base',
        x1: M.left,
        x2: M.left + plotW,
        y1: y(resource.baseline),
        y2: y(resource.baseline),
      }),
    );
  }
  root.append(
    s('line', { class: 'cap', x1: M.left, x2: M.left + plotW, y1: y(resource.cap), y2: y(resource.cap) }),
  );

  // The plan: a step line (and the area under it), the level written where it changes.
  const drawSteps = (steps, cls) => {
    const segs = steps.map((step, i) => ({
      x0: x(new Date(step.at).getTime()),
      x1: i + 1 < steps.length ? x(new Date(steps[i + 1].at).getTime()) : M.left + plotW,
      level: step.level,
    }));
    let d = '';
    let area = '';
    let prev = null;
    for (const seg of segs) {
      if (seg.level === null) {
        prev = null;
        continue;
      }
      const sy = y(seg.level);
      d += prev === null ? `M${seg.x0},${sy}` : `V${sy}`;
      d += `H${seg.x1}`;
      area += `M${seg.x0},${bottom}V${sy}H${seg.x1}V${bottom}Z`;
      prev = seg;
    }
    const g = s('g', { class: `series-${cls}` });
    if (cls === 'plan' && area) g.append(s('path', { class: 'plan-area', d: area }));
    if (d) g.append(s('path', { class: cls, d }));
    if (cls === 'plan') {
      let shown = null;
      for (const seg of segs) {
        if (seg.level === null || seg.level === shown || seg.x1 - seg.x0 < 16) continue;
        shown = seg.level;
        g.append(s('text', { class: 'level', x: seg.x0 + 4, y: y(seg.level) - 5 }, String(seg.level)));
      }
    }
    return g;
  };
  if (resource.dryRunSteps) root.append(drawSteps(resource.dryRunSteps, 'dryplan'));
  root.append(drawSteps(resource.steps, 'plan'));
  // Transitions on the time axis.
  const dots = s('g', null);
  for (const t of resource.transitions) {
    const due = new Date(t.dueAt).getTime();
    if (due < from || due > to) continue;
    const state = t.status === 'done' && t.dryRun ? 'dryrun' : t.status;
    const when = t.finishedAt ? ` at ${clock(t.finishedAt, zone)}` : '';
    const late = t.finishedAt ? ` (${duration(new Date(t.finishedAt).getTime() - due)} after due)` : '';
    dots.append(
      s(
        'circle',
        {
          class: `mark ${state}`,
          cx: x(due),
          cy: bottom,
          r: 5,
          'data-transition': t.id,
          'data-status': state,
        },
        s(
          'title',
          null,
          `${t.kind} of ${t.windowName} · due ${clock(t.dueAt, zone)} · ${t.status}${t.dryRun ? ' (dry-run)' : ''}${when}${late}${t.error ? ` · ${t.error}` : ''}`,
        ),
      ),
    );
  }
  root.append(dots);

  // Now.
  if (now >= from && now <= to) {
    const nx = x(now);
    root.append(
      s('line', { class: 'now', x1: nx, x2: nx, y1: 14, y2: bottom + 4 }),
      s(
        'text',
        { class: 'now-label', x: nx - 4, y: 11, 'text-anchor': 'end' },
        `now ${clock(board.now, zone)}`,
      ),
    );
  }
  return { svg: root, levelNow: levelAt(resource.steps, now) };
}
