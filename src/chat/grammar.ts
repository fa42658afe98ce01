// How chat text becomes words, for the ONE command router (router.ts) and the thread parser.
//
// People type commands in Slack, JANDI, Teams and the page's console, so the text arrives formatted: `<@U123>`
// mentions, `<https://x|label>` links, `&lt;`/`&gt;`/`&amp;` entities, smart quotes, non-breaking spaces, `—ecs`
// where macOS or Slack autocorrected `--`, and Korean around the command (`<@U1> 이거 create 2 --ecs 12 --auto
// 부탁해요`). All of that is tolerated here, once, for every capability's commands.

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', '#39': "'", nbsp: ' ' };

/** `<…>` markup of Slack: mentions and channel/group references vanish, links become their label (or URL). */
function slackAngle(inner: string): string {
  const bar = inner.indexOf('|');
  const target = bar === -1 ? inner : inner.slice(0, bar);
  const label = bar === -1 ? undefined : inner.slice(bar + 1);
  if (target.startsWith('@') || target.startsWith('#')) return ' ';
  if (target.startsWith('!')) return target.startsWith('!date') && label ? label : ' ';
  if (label) return label;
  return target.startsWith('mailto:') ? target.slice('mailto:'.length) : target;
}

/**
 * Slack message text as a person reads it: `<@U1>`/`<!here>`/`<#C1|x>` removed, `<url|label>` → label, `<url>` →
 * url, entities decoded (after the markup, as Slack escapes a literal `<` as `&lt;`), smart quotes straightened,
 * zero-width characters dropped, every space character other than a newline made a plain space.
 */
export function normalizeSlackText(text: string): string {
  return text
    .replace(/<([^<>\n]*)>/g, (_m, inner: string) => slackAngle(inner))
    .replace(/&(lt|gt|amp|quot|#39|nbsp);/g, (_m, name: string) => ENTITIES[name] ?? _m)
    .replace(/[\u201c\u201d\u201e\u201f\u2033\u301d\u301e\uff02]/g, '"')
    .replace(/[\u2018\u2019\u201a\u201b\u2032\uff07]/g, "'")
    .replace(/[\u200b-\u200d\u2060\ufeff]/g, '')
    .replace(/\r\n?/g, '\n')
    .replace(/[^\S\n]/g, ' ');
}

/**
 * Shell-like split: whitespace separates, "…" or '…' group (a quote opens only at the start of a token or right
 * after `=`, and only when it is closed later — so the apostrophe of "don't" stays a letter).
 */
export function tokenize(text: string): string[] {
  const tokens: string[] = [];
  let current = '';
  let inToken = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (/\s/.test(ch)) {
      if (inToken) tokens.push(current);
      current = '';
      inToken = false;
      continue;
    }
    if ((ch === '"' || ch === "'") && (!inToken || current.endsWith('='))) {
      const close = text.indexOf(ch, i + 1);
      if (close !== -1) {
        current += text
          .slice(i + 1, close)
          .replace(/\s+/g, ' ')
          .trim();
        inToken = true;
        i = close;
        continue;
      }
    }
    current += ch;
    inToken = true;
  }
  if (inToken) tokens.push(current);
  return tokens;
}

/** The words of a chat message: Slack markup and entities read, code quotes dropped, split like a shell. */
export function words(text: string): string[] {
  return tokenize(normalizeSlackText(text).replace(/`+/g, ' '));
}

/** `--ecs`, `—ecs` (autocorrected), `–ecs`, `-ecs`, `--ecs=12`. Dash-like characters of any kind. */
const FLAG = /^[-\u2010-\u2015\u2212\ufe58\ufe63\uff0d]+([A-Za-z][A-Za-z_-]*)(?:=(.*))?$/s;

/** A flag's name (lower case, `_` read as `-`) and its `=value`, or undefined when the token is not a flag. */
export function asFlag(token: string): { name: string; value?: string } | undefined {
  const m = FLAG.exec(token);
  if (!m) return undefined;
  const name = m[1]!.toLowerCase().replace(/_/g, '-');
  return m[2] === undefined ? { name } : { name, value: m[2] };
}

/** Words that are not part of a command: Korean (or any text without ASCII letters/digits), emoji shortcodes. */
export function isChatter(token: string): boolean {
  return !/[A-Za-z0-9]/.test(token) || /^:[\w+'-]+:$/.test(token);
}

/**
 * Edit distance with transpositions (optimal string alignment), case-insensitive: how far a typo is from a
 * command or a name, for "did you mean".
 */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  const d: number[][] = Array.from({ length: s.length + 1 }, (_, i) =>
    Array.from({ length: t.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= s.length; i++) {
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) {
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = best;
    }
  }
  return d[s.length]![t.length]!;
}

/**
 * The candidate a typo most likely meant: the nearest by edit distance within a third of the word's length (at
 * least one edit), or the one the word begins (`del` → `delete`, three letters at least). Undefined when none is
 * close enough to be worth suggesting.
 */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const c = candidate.toLowerCase();
    if (c === w) return candidate;
    const distance = editDistance(w, c);
    if (!best || distance < best.distance) best = { candidate, distance };
  }
  if (best && best.distance <= Math.max(1, Math.floor(w.length / 3))) return best.candidate;
  if (w.length >= 3) return candidates.find((c) => c.toLowerCase().startsWith(w));
  return undefined;
}
