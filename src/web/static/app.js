// The page: reads the board and the audit log from the API, draws them, and reads them again whenever the live
// stream says something changed (here or on another server). The chat console posts to /api/console, which
// hands the text to the same command handler as Slack.

import { renderMessage } from './blocks.js';
import { stepChart } from './chart.js';
import { clear, h } from './dom.js';
import { clock, clockSeconds, dateTime, duration, relative } from './format.js';

const state = {
  range: '24h',
  board: null,
  audit: [],
  auditFilter: { actor: '', action: '' },
  thread: loadThread(),
};
const $ = (id) => document.getElementById(id);
const PAGE_ACTOR = { 'x-chronops-actor': 'web', 'x-chronops-source': 'web' };
/** Who the console's commands are audited as (the server decides; shown here as Slack shows a name). */
const CONSOLE_USER = 'console';

// ---- API ------------------------------------------------------------------------------------------------------

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { ...PAGE_ACTOR, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = { error: { message: text } };
  }
  if (!response.ok) throw new Error(data?.error?.message ?? `${response.status} ${response.statusText}`);
  return data;
}

async function refreshBoard() {
  state.board = await api('GET', `/api/board?range=${state.range}`);
  renderBoard();
}

async function refreshAudit() {
  const q = new URLSearchParams({ limit: '100' });
  if (state.auditFilter.actor) q.set('actor', state.auditFilter.actor);
  if (state.auditFilter.action) q.set('action', state.auditFilter.action);
  state.audit = (await api('GET', `/api/audit?${q}`)).audit;
  renderAudit();
}

let pending = null;
/** Re-reads everything soon; several events in a burst give one read. */
function refreshSoon() {
  if (pending) return;
  pending = setTimeout(() => {
    pending = null;
    Promise.all([refreshBoard(), refreshAudit()]).catch((e) =>
      toast(`Could not refresh: ${e.message}`, true),
    );
  }, 120);
}

// ---- board ------------------------------------------------------------------------------------------------------

function renderBoard() {
  const b = state.board;
  $('zone').textContent = b.timezone;
  $('mode').hidden = !b.dryRun;
  renderCharts();
  renderUpcoming();
  renderWindows();
  renderExecutions();
}

function renderCharts() {
  const b = state.board;
  const box = $('charts');
  const width = Math.max(320, box.clientWidth);
  clear(box);
  if (!b.resources.length) box.append(h('p', { class: 'muted' }, 'No resources are configured.'));
  for (const r of b.resources) {
    const { svg, levelNow } = stepChart(r, b, width, (id) => confirmCancel(id));
    const next = b.upcoming.find((t) => t.resource === r.name && t.status === 'pending');
    const where = r.kind === 'ecs' ? 'ECS service' : 'Aurora cluster';
    box.append(
      h(
        'div',
        { class: 'chart', 'data-resource': r.name },
        h(
          'div',
          { class: 'chart-head' },
          h('strong', null, r.name),
          h('span', { class: 'muted' }, `${where} · ${r.unit} · cap ${r.cap}`),
          h('span', null, levelNow === null ? 'now: baseline' : `now: ${levelNow} ${r.unit}`),
          next
            ? h(
                'span',
                { class: 'muted' },
                `next: ${next.kind} of ${next.windowName} at ${clock(next.dueAt, b.timezone)}`,
              )
            : null,
          h('span', { class: 'muted small', title: 'baseline' }, `baseline: ${r.baselineText}`),
        ),
        svg,
      ),
    );
  }
}

/** The planned level just before and at an instant; a dry-run transition reads the plan with dry-run windows. */
function levelAround(resource, iso, dryRun) {
  if (!resource) return { before: null, after: null };
  const t = new Date(iso).getTime();
  let before = null;
  let after = null;
  for (const step of (dryRun && resource.dryRunSteps) || resource.steps) {
    const at = new Date(step.at).getTime();
    if (at < t) before = step.level;
    if (at <= t) after = step.level;
  }
  return { before, after };
}

function cancelButton(windowId, label = 'Cancel', quiet = false) {
  return h(
    'button',
    {
      type: 'button',
      class: `cancel${quiet ? ' quiet' : ''}`,
      'data-window': windowId,
      onclick: () => confirmCancel(windowId),
    },
    label,
  );
}

function renderUpcoming() {
  const b = state.board;
  const body = clear($('upcoming').tBodies[0]);
  if (!b.upcoming.length) {
    body.append(h('tr', null, h('td', { colspan: 6, class: 'empty' }, 'Nothing scheduled.')));
    return;
  }
  const inRange = new Date(b.range.to).getTime();
  for (const t of b.upcoming) {
    const resource = b.resources.find((r) => r.name === t.resource);
    const { before, after } =
      new Date(t.dueAt).getTime() <= inRange ? levelAround(resource, t.dueAt, t.dryRun) : {};
    const unit = resource?.unit ?? '';
    let change = '';
    if (t.kind === 'reconcile') change = 'back to the plan';
    else if (before !== undefined && before !== after)
      change = `${before ?? 'baseline'} → ${after ?? 'baseline'} ${unit}`;
    else if (before !== undefined) change = `stays ${after ?? 'baseline'} (another window holds it)`;
    body.append(
      h(
        'tr',
        { 'data-transition': t.id, 'data-window': t.windowId },
        h('td', null, dateTime(t.dueAt, b.timezone)),
        h('td', { class: 'left', 'data-due': t.dueAt }, t.status === 'fired' ? 'running' : relative(t.dueAt)),
        h('td', null, t.resource),
        h(
          'td',
          null,
          h('span', { class: `badge ${t.status}` }, t.kind),
          ' ',
          change,
          t.dryRun ? ' ' : null,
          t.dryRun ? h('span', { class: 'badge dry' }, 'dry-run') : null,
        ),
        h('td', null, t.windowName, ' ', h('span', { class: 'id' }, t.windowId)),
        h(
          'td',
          null,
          b.windows.some((w) => w.id === t.windowId) ? cancelButton(t.windowId, 'Cancel window', true) : null,
        ),
      ),
    );
  }
}

function renderWindows() {
  const b = state.board;
  const body = clear($('windows').tBodies[0]);
  if (!b.windows.length) {
    body.append(h('tr', null, h('td', { colspan: 6, class: 'empty' }, 'No scheduled or active windows.')));
    return;
  }
  for (const w of b.windows) {
    const from = Math.min(...w.holds.map((x) => new Date(x.from).getTime()));
    const until = Math.max(...w.holds.map((x) => new Date(x.until).getTime()));
    const asks = w.holds.map((x) => {
      const r = b.resources.find((r) => r.name === x.resource);
      return `${x.resource} ${x.amount} ${r?.unit ?? ''}`.trim();
    });
    body.append(
      h(
        'tr',
        { 'data-window': w.id },
        h('td', null, h('strong', null, w.name), ' ', h('span', { class: 'id' }, w.id)),
        h('td', null, asks.join(', ')),
        h(
          'td',
          null,
          `${dateTime(new Date(from).toISOString(), b.timezone)} – ${clock(new Date(until).toISOString(), b.timezone)}`,
        ),
        h('td', null, w.createdBy, w.source ? h('span', { class: 'muted' }, ` via ${w.source}`) : null),
        h(
          'td',
          null,
          h('span', { class: `badge ${w.status}` }, w.status),
          w.dryRun ? ' ' : null,
          w.dryRun ? h('span', { class: 'badge dry' }, 'dry-run') : null,
        ),
        h('td', null, cancelButton(w.id)),
      ),
    );
  }
}

function renderExecutions() {
  const b = state.board;
  const box = clear($('executions'));
  if (!b.executions.length) {
    box.append(h('p', { class: 'muted' }, 'No transition has run yet.'));
    return;
  }
  for (const e of b.executions) {
    const t = e.transition;
    const result = e.status === 'done' && e.dryRun ? 'dry-run' : e.status;
    const change =
      e.status === 'done' ? (e.changed ? `${e.from} → ${e.to}` : `unchanged (${e.to})`) : (e.error ?? '');
    box.append(
      h(
        'details',
        { class: 'exec', 'data-execution': e.id },
        h(
          'summary',
          null,
          h('span', null, dateTime(e.startedAt, b.timezone)),
          h('strong', null, e.resource),
          h('span', null, t ? `${t.kind} of ${t.windowName}` : ''),
          h('span', { class: `badge ${result === 'dry-run' ? 'dry' : result}` }, result),
          h('span', null, change),
          h('span', { class: 'muted' }, e.durationMs === null ? 'running' : duration(e.durationMs)),
          h('span', { class: 'muted small' }, `${e.calls.length} AWS call${e.calls.length === 1 ? '' : 's'}`),
          ...e.replicas.map((r) =>
            h(
              'span',
              { class: 'small' },
              r.timeToReadyMs === null
                ? `${r.instanceId}: ${r.status}`
                : `${r.instanceId} ready in ${duration(r.timeToReadyMs)}`,
            ),
          ),
        ),
        e.calls.length
          ? h(
              'ul',
              { class: 'calls' },
              e.calls.map((c) =>
                h(
                  'li',
                  null,
                  `${clockSeconds(c.at, b.timezone)} ${c.action} — ${c.outcome}`,
                  c.durationMs === null ? '' : `, ${duration(c.durationMs)}`,
                  c.attempt > 1 ? `, attempt ${c.attempt}` : '',
                  c.error ? ` — ${c.error}` : '',
                ),
              ),
            )
          : h('p', { class: 'muted small' }, 'No AWS call (nothing to change).'),
        e.replicas.length
          ? h(
              'ul',
              null,
              e.replicas.map((r) =>
                h(
                  'li',
                  null,
                  `replica ${r.instanceId}: ${r.status}`,
                  r.timeToReadyMs === null ? '' : `, available after ${duration(r.timeToReadyMs)}`,
                ),
              ),
            )
          : null,
        h('p', { class: 'muted small' }, `on ${e.node}`, e.target === null ? '' : `, target ${e.target}`),
      ),
    );
  }
}

function renderAudit() {
  const zone = state.board?.timezone ?? 'UTC';
  const body = clear($('audit').tBodies[0]);
  if (!state.audit.length) {
    body.append(h('tr', null, h('td', { colspan: 7, class: 'empty' }, 'No records.')));
  }
  for (const a of state.audit) {
    const d = a.details ?? {};
    const summary =
      d.text ?? d.reason ?? (d.input ? JSON.stringify(d.input) : d.request ? JSON.stringify(d.request) : '');
    body.append(
      h(
        'tr',
        { 'data-audit': a.id },
        h('td', { class: 'left' }, dateTime(a.at, zone)),
        h('td', null, a.actor),
        h('td', null, a.source),
        h('td', null, a.action),
        h('td', { class: 'id' }, a.target ?? ''),
        h('td', null, h('span', { class: `badge ${a.outcome}` }, a.outcome)),
        h('td', { class: 'details', title: JSON.stringify(d) }, String(summary).slice(0, 200)),
      ),
    );
  }
  // Suggestions for the filters, from what is on screen.
  const fill = (id, values) => {
    const list = clear($(id));
    for (const v of [...new Set(values)].sort()) list.append(h('option', { value: v }));
  };
  fill(
    'audit-actors',
    state.audit.map((a) => a.actor),
  );
  fill(
    'audit-actions',
    state.audit.map((a) => a.action),
  );
}

// ---- cancel with a confirmation -------------------------------------------------------------------------------

/** Shows the dialog; resolves true when confirmed. */
function ask({ title, text, confirm = 'Cancel window', deny = 'Keep it' }) {
  const dialog = $('confirm');
  $('confirm-title').textContent = title;
  clear($('confirm-text')).append(text instanceof Node ? text : h('p', null, text));
  $('confirm-ok').textContent = confirm;
  $('confirm-deny').textContent = deny;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'yes'), { once: true });
  });
}

async function confirmCancel(windowId) {
  const b = state.board;
  const w = b?.windows.find((x) => x.id === windowId);
  if (!w) {
    toast(`Window ${windowId} is not scheduled or active any more.`);
    return;
  }
  const lines = w.holds.map(
    (x) =>
      `${x.resource}: ${x.amount} from ${dateTime(x.from, b.timezone)} until ${clock(x.until, b.timezone)}`,
  );
  const ok = await ask({
    title: `Cancel window ${w.name}?`,
    text: h(
      'div',
      null,
      h(
        'p',
        null,
        `Window ${w.id} (${w.status}) — its pending transitions are dropped; where it already holds capacity, chronops scales back to the plan without it.`,
      ),
      h(
        'ul',
        null,
        lines.map((l) => h('li', null, l)),
      ),
    ),
  });
  if (!ok) return;
  try {
    await api('POST', `/api/windows/${encodeURIComponent(windowId)}/cancel`);
    toast(`Window ${w.name} (${w.id}) cancelled.`);
    refreshSoon();
  } catch (error) {
    toast(`Could not cancel ${w.id}: ${error.message}`, true);
  }
}

// ---- chat console ---------------------------------------------------------------------------------------------

/** A Slack-like ts (seconds.micros) for a thread or a message. */
function newTs() {
  const now = Date.now();
  const micros = (now % 1000) * 1000 + Math.floor(Math.random() * 1000);
  return `${Math.floor(now / 1000)}.${String(micros).padStart(6, '0')}`;
}

function loadThread() {
  try {
    const saved = JSON.parse(sessionStorage.getItem('chronops.thread') ?? 'null');
    if (saved && typeof saved.id === 'string' && Array.isArray(saved.messages)) return saved;
  } catch {}
  return { id: newTs(), parent: null, messages: [] };
}

function saveThread() {
  try {
    sessionStorage.setItem('chronops.thread', JSON.stringify(state.thread));
  } catch {}
}

function renderThread() {
  const box = clear($('thread'));
  const zone = state.board?.timezone ?? 'UTC';
  const t = state.thread;
  if (t.parent !== null) {
    box.append(
      h(
        'div',
        { class: 'msg parent' },
        h('div', { class: 'avatar alert' }, '!'),
        h(
          'div',
          { class: 'body' },
          h('div', { class: 'who' }, 'product-alerts', h('span', { class: 'app' }, 'APP')),
          renderMessage({ text: t.parent }, () => {}),
        ),
      ),
    );
  } else {
    box.append(
      h(
        'p',
        { class: 'muted small' },
        'No parent message: create needs one (list, now, delete and help do not).',
      ),
    );
  }
  t.messages.forEach((m, index) => {
    const who =
      m.from === 'user'
        ? h('div', { class: 'who' }, CONSOLE_USER, h('time', null, clock(m.at, zone)))
        : h(
            'div',
            { class: 'who' },
            'chronops',
            h('span', { class: 'app' }, 'APP'),
            h('time', null, clock(m.at, zone)),
            m.edited ? h('span', { class: 'edited' }, '(edited)') : null,
          );
    box.append(
      h(
        'div',
        {
          class: `msg ${m.from}${m.progress ? ' progress' : ''}`,
          'data-index': index,
          'data-window': m.windowId ?? null,
        },
        h('div', { class: `avatar ${m.from === 'user' ? '' : 'bot'}` }, m.from === 'user' ? 'c' : 'C'),
        h(
          'div',
          { class: 'body' },
          who,
          renderMessage(m, (el, button) => onBlockAction(el, button, index)),
        ),
      ),
    );
  });
  box.scrollTop = box.scrollHeight;
}

function push(message) {
  state.thread.messages.push({ at: new Date().toISOString(), ts: newTs(), ...message });
  state.thread.messages = state.thread.messages.slice(-100);
  saveThread();
  renderThread();
}

/** Replaces a message's text and blocks in place (what chat.update does in Slack). */
function replaceMessage(message, reply) {
  message.text = reply.text;
  message.blocks = reply.blocks ?? null;
  message.edited = true;
  saveThread();
  renderThread();
}

async function send(text) {
  const ts = newTs();
  push({ from: 'user', text, ts });
  try {
    const { replies } = await api('POST', '/api/console', {
      thread: state.thread.id,
      ts,
      parentText: state.thread.parent,
      text,
    });
    for (const reply of replies) {
      push({ from: 'bot', text: reply.text, blocks: reply.blocks, windowId: reply.windowId });
    }
    refreshSoon();
  } catch (error) {
    push({ from: 'bot', text: `:warning: ${error.message}` });
  }
}

/** A button of a reply was pressed: confirm like Slack does, then hand the action to the command handler. */
async function onBlockAction(el, button, index) {
  if (el.confirm) {
    const ok = await ask({
      title: el.confirm.title?.text ?? 'Are you sure?',
      text: renderMessage({ text: el.confirm.text?.text ?? '' }, () => {}),
      confirm: el.confirm.confirm?.text ?? 'Yes',
      deny: el.confirm.deny?.text ?? 'No',
    });
    if (!ok) return;
  }
  button.disabled = true;
  const message = state.thread.messages[index];
  try {
    const { replies } = await api('POST', '/api/console/action', {
      thread: state.thread.id,
      ts: message.ts,
      actionId: el.action_id,
      value: el.value ?? '',
    });
    for (const reply of replies) {
      if (reply.replaceOriginal) replaceMessage(message, reply);
      else push({ from: 'bot', text: reply.text, blocks: reply.blocks, windowId: reply.windowId });
    }
    refreshSoon();
  } catch (error) {
    button.disabled = false;
    push({ from: 'bot', text: `:warning: ${error.message}` });
  }
}

/** A message chronops posts in a console thread: progress of its windows, or a plan updated once cancelled. */
function consoleMessage(m) {
  const t = state.thread;
  if (m.op === 'update') {
    const plan = [...t.messages].reverse().find((x) => x.from === 'bot' && x.windowId === m.windowId);
    if (plan) replaceMessage(plan, m);
    return;
  }
  // A notification to the console destination has no thread: it shows in the open one.
  if ((m.threadTs !== null && m.threadTs !== t.id) || t.messages.some((x) => x.key === m.key)) return;
  push({ from: 'bot', text: m.text, blocks: m.blocks, key: m.key, progress: true });
}

/** An alert message for today in the team's zone, with opens still ahead. */
function exampleAlert() {
  const zone = state.board?.timezone ?? 'UTC';
  const date = (ms) => new Intl.DateTimeFormat('en-CA', { timeZone: zone }).format(new Date(ms));
  const hour = 3_600_000;
  const base = Math.ceil(Date.now() / hour) * hour;
  const today = date(Date.now());
  const at = (ms) => {
    const time = clock(new Date(ms).toISOString(), zone);
    return date(ms) === today ? time : `${date(ms)} ${time}`;
  };
  return [
    `[오늘 오픈 예정 인기 상품] ${today}`,
    `1. (12345) 나이키 덩크 로우 - ${at(base + 2 * hour)} 오픈 (조회수 15,234)`,
    `2. (12377) 아이폰 18 Pro 사전예약 - ${at(base + 4 * hour)} 오픈 (조회수 9,876)`,
    `3. (12401) 콘서트 티켓 — ${date(base + 30 * hour)} 20:00 오픈`,
  ].join('\n');
}

function setupConsole() {
  $('parent-example').addEventListener('click', () => {
    $('parent-text').value = exampleAlert();
  });
  $('parent-set').addEventListener('click', () => {
    const text = $('parent-text').value.trim();
    state.thread = { id: newTs(), parent: text || null, messages: [] };
    saveThread();
    renderThread();
    $('parent-editor').open = false;
    $('command').focus();
  });
  if (state.thread.parent) {
    $('parent-text').value = state.thread.parent;
    $('parent-editor').open = false;
  }
  $('composer').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = $('command');
    const text = input.value.trim();
    if (!text) return;
    input.value = '';
    void send(text);
  });
  renderThread();
}

// ---- live -------------------------------------------------------------------------------------------------------

function connectLive() {
  const live = $('live');
  const source = new EventSource('/api/live');
  source.addEventListener('hello', () => {
    live.dataset.state = 'open';
    live.textContent = 'live';
    // (Re)connected: whatever happened while the stream was down is read now.
    refreshSoon();
  });
  source.addEventListener('change', (message) => {
    try {
      const event = JSON.parse(message.data);
      // "started" is always followed by done or failed: one toast per outcome is enough.
      if (event.type !== 'transition.started') toast(event.text);
    } catch {}
    refreshSoon();
  });
  source.addEventListener('console', (message) => {
    try {
      consoleMessage(JSON.parse(message.data));
    } catch {}
  });
  source.addEventListener('error', () => {
    live.dataset.state = 'error';
    live.textContent = 'reconnecting…';
  });
}

// ---- small things -----------------------------------------------------------------------------------------------

function toast(text, error = false) {
  const el = h('div', { class: `toast${error ? ' error' : ''}`, role: 'status' }, text);
  $('toasts').append(el);
  while ($('toasts').children.length > 3) $('toasts').firstChild.remove();
  setTimeout(() => el.remove(), error ? 8000 : 4000);
}

function tick() {
  for (const cell of document.querySelectorAll('td[data-due]')) {
    if (cell.textContent !== 'running') cell.textContent = relative(cell.dataset.due);
  }
}

function setup() {
  for (const button of document.querySelectorAll('[data-range]')) {
    button.addEventListener('click', () => {
      state.range = button.dataset.range;
      for (const b of document.querySelectorAll('[data-range]'))
        b.setAttribute('aria-pressed', String(b === button));
      refreshBoard().catch((e) => toast(e.message, true));
    });
  }
  $('audit-filter').addEventListener('submit', (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    state.auditFilter = {
      actor: String(form.get('actor') ?? '').trim(),
      action: String(form.get('action') ?? '').trim(),
    };
    refreshAudit().catch((e) => toast(e.message, true));
  });
  $('audit-filter').addEventListener('reset', () => {
    state.auditFilter = { actor: '', action: '' };
    setTimeout(() => refreshAudit().catch((e) => toast(e.message, true)));
  });
  let resize = null;
  window.addEventListener('resize', () => {
    clearTimeout(resize);
    resize = setTimeout(() => state.board && renderCharts(), 150);
  });
  setupConsole();
  setInterval(tick, 1000);
  // The now line and "now:" levels move with the clock: read the board again every minute.
  setInterval(() => refreshBoard().catch(() => {}), 60_000);
  Promise.all([refreshBoard(), refreshAudit()])
    .then(renderThread)
    .catch((e) => toast(`Could not load: ${e.message}`, true));
  connectLive();
}

setup();
