// Times and durations as people read them: in the team's zone (from the server), 24-hour clock.

const cache = new Map();

function formatter(zone, options) {
  const key = `${zone}|${JSON.stringify(options)}`;
  let f = cache.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', { timeZone: zone, hourCycle: 'h23', ...options });
    cache.set(key, f);
  }
  return f;
}

/** 16:00 */
export function clock(iso, zone) {
  return formatter(zone, { hour: '2-digit', minute: '2-digit' }).format(new Date(iso));
}

/** Mon 23 Nov 16:00 */
export function dateTime(iso, zone) {
  return formatter(zone, {
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    hour: '2-digit',
    minute: '2-digit',
  }).format(new Date(iso));
}

/** 16:00:05, for logs */
export function clockSeconds(iso, zone) {
  return formatter(zone, { hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(new Date(iso));
}

/** Mon 23 */
export function day(iso, zone) {
  return formatter(zone, { weekday: 'short', day: 'numeric' }).format(new Date(iso));
}

/** The wall clock of an instant in the zone: { hour, minute }. */
export function wallClock(ms, zone) {
  const parts = formatter(zone, { hour: '2-digit', minute: '2-digit' }).formatToParts(new Date(ms));
  const get = (type) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return { hour: get('hour'), minute: get('minute') };
}

/** 850 ms, 12.4 s, 11m 40s, 2h 05m, 3d 4h */
export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '';
  const abs = Math.abs(ms);
  if (abs < 1000) return `${Math.round(abs)} ms`;
  if (abs < 60_000) return `${(abs / 1000).toFixed(abs < 10_000 ? 1 : 0)} s`;
  const s = Math.floor(abs / 1000);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  return `${m}m ${String(sec).padStart(2, '0')}s`;
}

/** "in 2h 05m", "12 s ago" */
export function relative(iso, now = Date.now()) {
  const ms = new Date(iso).getTime() - now;
  if (Math.abs(ms) < 1000) return 'now';
  return ms > 0 ? `in ${duration(ms)}` : `${duration(ms)} ago`;
}
