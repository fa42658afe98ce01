// One notification, rendered per destination kind: Slack Block Kit (bot token or incoming webhook; the page's
// console draws the same blocks), a Teams Adaptive Card in the Workflows webhook envelope, a JANDI incoming-webhook
// message. Each platform's size rules are kept here: Slack's per-block limits, the 28 KB of a Teams message, a
// bound for JANDI. What does not fit is cut, stack traces first, and the cut is said in the message.
//
// Chat replies (Reply: Slack mrkdwn + Block Kit, chronops' block model) reach JANDI and Teams through
// `replyToNotification`, which reads them back into a Notification.

import type { BlockKitBlock, Reply, TextObject } from '../chat/port.ts';
import { escapeMrkdwn, truncate } from '../chat/reply.ts';
import type { Field, Notification, Section, Severity } from './notification.ts';

// ---- size -------------------------------------------------------------------------------------------------------

export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}

const MIN_TEXT = 200;

/** `text` shortened to about `keep` characters, with the cut said at the end. */
function cutText(text: string, keep: number): string {
  if (text.length <= keep) return text;
  const k = Math.max(0, keep);
  return `${text.slice(0, k)}\n… (${text.length - k} characters cut to fit)`;
}

/**
 * The notification made small enough that `render(n)` is at most `maxBytes` of JSON: stack traces (code sections)
 * are cut first, then long lists ("and N more"), then other texts, then whole sections. Returns the notification
 * that fits and whether anything was cut. Deterministic: the same input is cut the same way (a retry sends the
 * same bytes).
 */
export function fitToSize<T>(
  notification: Notification,
  render: (n: Notification) => T,
  maxBytes: number,
): { notification: Notification; rendered: T; cut: boolean } {
  let n = structuredClone(notification);
  let cut = false;
  for (let step = 0; step < 500; step++) {
    const rendered = render(n);
    const size = jsonBytes(rendered);
    if (size <= maxBytes) return { notification: n, rendered, cut };
    cut = true;
    const over = size - maxBytes;
    n = shrink(n, over);
  }
  const rendered = render(n);
  return { notification: n, rendered, cut };
}

/** One step of shrinking by about `over` bytes (see fitToSize for the order). */
function shrink(n: Notification, over: number): Notification {
  const sections = n.sections ?? [];
  // Characters are up to 3 bytes (Korean) and JSON escapes grow them: cut a little more than asked.
  const less = (length: number) => Math.max(MIN_TEXT, length - Math.ceil(over / 2) - 64);
  const longest = (pred: (s: Section) => boolean) =>
    sections
      .map((s, i) => ({ s, i }))
      .filter(({ s }) => pred(s))
      .sort((a, b) => (b.s.text?.length ?? 0) - (a.s.text?.length ?? 0))[0];
  const code = longest((s) => s.code === true && (s.text?.length ?? 0) > MIN_TEXT + 60);
  if (code)
    return withSection(n, code.i, { ...code.s, text: cutText(code.s.text!, less(code.s.text!.length)) });
  const lists = sections
    .map((s, i) => ({ s, i }))
    .filter(({ s }) => (s.items?.length ?? 0) > 3)
    .sort((a, b) => (b.s.items?.join('').length ?? 0) - (a.s.items?.join('').length ?? 0))[0];
  if (lists) {
    const items = lists.s.items!;
    const kept = items.filter((item) => !/^… and \d+ more$/.test(item));
    const more = items.length - kept.length > 0 ? Number(/\d+/.exec(items.at(-1)!)![0]) : 0;
    const keep = Math.max(3, Math.floor(kept.length / 2));
    const dropped = kept.length - keep + more;
    return withSection(n, lists.i, { ...lists.s, items: [...kept.slice(0, keep), `… and ${dropped} more`] });
  }
  const text = longest((s) => (s.text?.length ?? 0) > MIN_TEXT + 60);
  if (text)
    return withSection(n, text.i, { ...text.s, text: cutText(text.s.text!, less(text.s.text!.length)) });
  if ((n.text?.length ?? 0) > MIN_TEXT + 60) return { ...n, text: cutText(n.text!, less(n.text!.length)) };
  if (sections.length > 0) {
    const rest = sections.slice(0, -1);
    const footer = `${n.footer ? `${n.footer} · ` : ''}${sections.length - rest.length} section cut to fit`;
    return { ...n, sections: rest, footer };
  }
  if ((n.fields?.length ?? 0) > 0) return { ...n, fields: n.fields!.slice(0, -1) };
  if (n.text && n.text.length > 20) return { ...n, text: cutText(n.text, Math.floor(n.text.length / 2)) };
  return { ...n, title: truncate(n.title ?? '', Math.max(10, Math.floor((n.title ?? '').length / 2))) };
}

function withSection(n: Notification, i: number, s: Section): Notification {
  const sections = [...(n.sections ?? [])];
  sections[i] = s;
  return { ...n, sections };
}

// ---- Slack (bot token, incoming webhook) and the console ---------------------------------------------------------

const SLACK_EMOJI: Record<Severity, string> = {
  info: ':information_source:',
  success: ':white_check_mark:',
  warning: ':warning:',
  error: ':rotating_light:',
};

/** Slack's limits: 50 blocks, 3000 characters a section, 150 a header, 10 fields of 2000. */
const SLACK_SECTION = 3000;

export interface SlackMessage {
  text: string;
  blocks: BlockKitBlock[];
}

function sectionMrkdwn(s: Section): string {
  const title = `*${escapeMrkdwn(s.title)}*`;
  const list = s.items?.length ? s.items.map((i) => `• ${escapeMrkdwn(i)}`).join('\n') : undefined;
  const head = [title, list].filter((p) => p !== undefined).join('\n');
  if (!s.text) return truncate(head, SLACK_SECTION);
  // A long text is cut to what the block holds, saying so (escaping can lengthen it: cut, then check).
  const room = SLACK_SECTION - head.length - 80;
  let text = escapeMrkdwn(s.text);
  for (let keep = Math.max(0, room); text.length > room && keep > 0; keep -= 200) {
    text = escapeMrkdwn(cutText(s.text, keep));
  }
  return truncate(`${head}\n${s.code ? `\`\`\`${text}\`\`\`` : text}`, SLACK_SECTION);
}

/** Block Kit: header, text, fields, one section per list or trace, the link, the footer. */
export function toSlack(n: Notification): SlackMessage {
  const severity = n.severity ?? 'info';
  const blocks: BlockKitBlock[] = [];
  if (n.title) {
    blocks.push({
      type: 'header',
      text: { type: 'plain_text', text: truncate(`${SLACK_EMOJI[severity]} ${n.title}`, 150), emoji: true },
    });
  }
  if (n.text)
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: truncate(escapeMrkdwn(n.text), SLACK_SECTION) },
    });
  const fields = n.fields ?? [];
  for (let i = 0; i < fields.length; i += 10) {
    blocks.push({
      type: 'section',
      fields: fields.slice(i, i + 10).map(
        (f): TextObject => ({
          type: 'mrkdwn',
          text: truncate(`*${escapeMrkdwn(f.title)}*\n${escapeMrkdwn(f.value)}`, 2000),
        }),
      ),
    });
  }
  for (const s of n.sections ?? [])
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: sectionMrkdwn(s) } });
  if (n.link) {
    const url = n.link.url.replace(/[|<>]/g, encodeURIComponent);
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: `<${url}|${escapeMrkdwn(n.link.label)}>` },
    });
  }
  if (n.footer)
    blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: escapeMrkdwn(n.footer) }] });
  const head = [n.title, n.text].filter(Boolean).join(': ');
  const text = truncate(`${SLACK_EMOJI[severity]} ${escapeMrkdwn(head || 'chronops')}`, SLACK_SECTION);
  if (blocks.length > 50) {
    // Keep the first 49 and say how many did not fit.
    const dropped = blocks.length - 49;
    blocks.splice(49, blocks.length, {
      type: 'context',
      elements: [{ type: 'mrkdwn', text: `${dropped} more blocks cut to fit` }],
    });
  }
  return { text, blocks };
}

// ---- Microsoft Teams (Workflows webhook, Adaptive Card) ----------------------------------------------------------

export interface TeamsMessage {
  type: 'message';
  attachments: Array<{
    contentType: 'application/vnd.microsoft.card.adaptive';
    contentUrl: null;
    content: Record<string, unknown>;
  }>;
}

const TEAMS_STYLE: Record<Severity, { container: string; color: string }> = {
  info: { container: 'emphasis', color: 'Accent' },
  success: { container: 'good', color: 'Good' },
  warning: { container: 'warning', color: 'Warning' },
  error: { container: 'attention', color: 'Attention' },
};

/** Adaptive Card markdown: `*`, `_` and `[` mean formatting; shown as typed. */
function teamsText(text: string): string {
  return text.replace(/([*_[\]\\])/g, '\\$1');
}

/** The Workflows envelope `{type: 'message', attachments: [Adaptive Card]}`. */
export function toTeams(n: Notification): TeamsMessage {
  const style = TEAMS_STYLE[n.severity ?? 'info'];
  const body: Record<string, unknown>[] = [];
  if (n.title) {
    body.push({
      type: 'Container',
      style: style.container,
      bleed: true,
      items: [
        {
          type: 'TextBlock',
          text: teamsText(n.title),
          weight: 'Bolder',
          size: 'Medium',
          color: style.color,
          wrap: true,
        },
      ],
    });
  }
  if (n.text) body.push({ type: 'TextBlock', text: teamsText(n.text), wrap: true });
  if (n.fields?.length) {
    body.push({
      type: 'FactSet',
      facts: n.fields.map((f: Field) => ({ title: f.title, value: teamsText(f.value) })),
    });
  }
  for (const s of n.sections ?? []) {
    const items: Record<string, unknown>[] = [
      { type: 'TextBlock', text: teamsText(s.title), weight: 'Bolder', wrap: true, spacing: 'Medium' },
    ];
    if (s.items?.length) {
      items.push({ type: 'TextBlock', text: s.items.map((i) => `- ${teamsText(i)}`).join('\n'), wrap: true });
    }
    if (s.text) {
      items.push(
        s.code
          ? { type: 'TextBlock', text: s.text, fontType: 'Monospace', size: 'Small', wrap: true }
          : { type: 'TextBlock', text: teamsText(s.text), wrap: true },
      );
    }
    body.push({ type: 'Container', items });
  }
  if (n.footer)
    body.push({ type: 'TextBlock', text: teamsText(n.footer), isSubtle: true, size: 'Small', wrap: true });
  const content: Record<string, unknown> = {
    $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
    type: 'AdaptiveCard',
    version: '1.4',
    msteams: { width: 'Full' },
    body,
  };
  if (n.link) content.actions = [{ type: 'Action.OpenUrl', title: n.link.label, url: n.link.url }];
  return {
    type: 'message',
    attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', contentUrl: null, content }],
  };
}

// ---- JANDI (incoming webhook) ----------------------------------------------------------------------------------

export interface JandiMessage {
  body: string;
  connectColor: string;
  connectInfo: Array<{ title: string; description: string }>;
}

const JANDI_COLOR: Record<Severity, string> = {
  info: '#2F80ED',
  success: '#27AE60',
  warning: '#F2994A',
  error: '#EB5757',
};

/** JANDI's message: the title and text as the body, facts and sections as `connectInfo`, the colour bar. */
export function toJandi(n: Notification): JandiMessage {
  const body = [
    n.title ? `**${n.title}**` : undefined,
    n.text,
    n.link ? `[${n.link.label}](${n.link.url})` : undefined,
  ]
    .filter((p): p is string => p !== undefined && p !== '')
    .join('\n');
  const connectInfo = [
    ...(n.fields ?? []).map((f) => ({ title: f.title, description: f.value })),
    ...(n.sections ?? []).map((s) => ({
      title: s.title,
      description: [s.items?.map((i) => `• ${i}`).join('\n'), s.text].filter(Boolean).join('\n'),
    })),
    ...(n.footer ? [{ title: '', description: n.footer }] : []),
  ];
  return { body: body || 'chronops', connectColor: JANDI_COLOR[n.severity ?? 'info'], connectInfo };
}

// ---- chat replies → notification ---------------------------------------------------------------------------------

const EMOJI: Record<string, string> = {
  warning: '⚠️',
  x: '❌',
  white_check_mark: '✅',
  no_entry_sign: '🚫',
  information_source: 'ℹ️',
  hourglass_flowing_sand: '⏳',
  large_green_circle: '🟢',
  rotating_light: '🚨',
  pray: '🙏',
};

/** Slack mrkdwn as plain text: links, mentions, bold markers, code fences, entities and emoji shortcodes read. */
export function mrkdwnToPlain(text: string): string {
  return text
    .replace(/<([^<>|\n]+)\|([^<>\n]+)>/g, (_m, url: string, label: string) =>
      url.startsWith('@') || url.startsWith('#') ? label : `${label} (${url})`,
    )
    .replace(/<([@#!])([^<>\n]+)>/g, (_m, sigil: string, id: string) =>
      sigil === '!' ? `@${id}` : `${sigil}${id}`,
    )
    .replace(/<(https?:[^<>\n]+)>/g, '$1')
    .replace(/```/g, '')
    .replace(/(^|[\s(])\*([^*\n]+)\*(?=[\s).,:!?]|$)/gm, '$1$2')
    .replace(/:([a-z0-9_+-]+):/g, (whole, name: string) => EMOJI[name] ?? whole)
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** A chat Reply (mrkdwn text and Block Kit) read back into a Notification, for doors that do not speak Block Kit. */
export function replyToNotification(reply: Reply): Notification {
  const blocks = reply.blocks ?? [];
  const n: Notification = {};
  const texts: string[] = [];
  const fields: Field[] = [];
  const sections: Section[] = [];
  const footers: string[] = [];
  for (const b of blocks) {
    if (b.type === 'header') n.title = mrkdwnToPlain(b.text.text);
    else if (b.type === 'section') {
      for (const f of b.fields ?? []) {
        const [first, ...rest] = mrkdwnToPlain(f.text).split('\n');
        fields.push(rest.length ? { title: first!, value: rest.join('\n') } : { title: '', value: first! });
      }
      if (b.text) {
        const titled = /^\*([^*\n]+)\*\n([\s\S]*)$/.exec(b.text.text);
        if (titled) sections.push({ title: mrkdwnToPlain(titled[1]!), text: mrkdwnToPlain(titled[2]!) });
        else texts.push(mrkdwnToPlain(b.text.text));
      }
    } else if (b.type === 'context') footers.push(b.elements.map((e) => mrkdwnToPlain(e.text)).join(' '));
  }
  if (blocks.length === 0 || (texts.length === 0 && !n.title && sections.length === 0)) {
    texts.splice(0, texts.length, mrkdwnToPlain(reply.text));
  }
  const text = texts.join('\n');
  if (text) n.text = text;
  if (fields.length) n.fields = fields;
  if (sections.length) n.sections = sections;
  if (footers.length) n.footer = footers.join('\n');
  if (/^(:warning:|:x:)/.test(reply.text)) n.severity = reply.text.startsWith(':x:') ? 'error' : 'warning';
  return n;
}
