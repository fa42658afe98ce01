// Slack messages as Slack shows them: Block Kit blocks (header, section with fields and an accessory, context,
// divider, actions with buttons and their confirm dialogs) and mrkdwn text (*bold*, _italic_, ~strike~, `code`,
// ```pre```, > quotes, <url|links>). Only what chronops' replies use; anything else falls back to its text.

import { h } from './dom.js';

const ENTITIES = { '&lt;': '<', '&gt;': '>', '&amp;': '&' };
/** The emoji codes chronops' messages use, as Slack shows them. */
const EMOJI = {
  white_check_mark: '✅',
  x: '❌',
  warning: '⚠️',
  hourglass_flowing_sand: '⏳',
  large_green_circle: '🟢',
  information_source: 'ℹ️',
  no_entry: '⛔',
  no_entry_sign: '🚫',
};
const entities = (text) => text.replace(/&(lt|gt|amp);/g, (m) => ENTITIES[m]);
const decode = (text) => entities(text).replace(/:([a-z0-9_+-]+):/g, (m, name) => EMOJI[name] ?? m);

const INLINE = [
  { re: /`([^`\n]+)`/, make: (m) => h('code', null, entities(m[1])) },
  // Slack markup: links and mentions. Anything else in angle brackets is shown as typed.
  { re: /<((?:https?:|mailto:|[@#!])[^<>\s|]*)(?:\|([^<>]+))?>/, make: link },
  { re: /(?<![\w*])\*([^*\n]+)\*(?![\w*])/, make: (m, inline) => h('strong', null, inline(m[1])) },
  { re: /(?<![\w_])_([^_\n]+)_(?![\w_])/, make: (m, inline) => h('em', null, inline(m[1])) },
  { re: /(?<![\w~])~([^~\n]+)~(?![\w~])/, make: (m, inline) => h('s', null, inline(m[1])) },
];

function link(m) {
  const target = m[1];
  const label = m[2];
  if (target.startsWith('@') || target.startsWith('#') || target.startsWith('!')) {
    return h('strong', null, label ?? target.replace(/^[@#!]/, '@'));
  }
  const safe = /^(https?:|mailto:)/i.test(target) ? target : null;
  const text = decode(label ?? target);
  return safe ? h('a', { href: safe, target: '_blank', rel: 'noopener noreferrer' }, text) : text;
}

function inline(text) {
  const out = [];
  let rest = text;
  while (rest) {
    let best = null;
    for (const rule of INLINE) {
      const m = rule.re.exec(rest);
      if (m && (best === null || m.index < best.m.index)) best = { m, rule };
    }
    if (!best) {
      out.push(decode(rest));
      break;
    }
    if (best.m.index > 0) out.push(decode(rest.slice(0, best.m.index)));
    out.push(best.rule.make(best.m, inline));
    rest = rest.slice(best.m.index + best.m[0].length);
  }
  return out;
}

/** mrkdwn (or plain_text when `plain`) as DOM nodes. */
export function mrkdwn(text, plain = false) {
  const root = h('div', { class: 'mrkdwn' });
  if (plain) {
    root.append(...text.split('\n').flatMap((line, i) => (i ? [h('br'), line] : [line])));
    return root;
  }
  const parts = text.split(/```/);
  parts.forEach((part, i) => {
    if (i % 2 === 1) {
      root.append(h('pre', null, entities(part.replace(/^\n/, ''))));
      return;
    }
    const lines = part.split('\n');
    lines.forEach((line, j) => {
      const quote = /^(&gt;|>)\s?(.*)$/.exec(line);
      if (quote) root.append(h('blockquote', null, inline(quote[2])));
      else {
        root.append(...inline(line));
        if (j < lines.length - 1) root.append(h('br'));
      }
    });
  });
  return root;
}

const textOf = (t) => (t ? mrkdwn(t.text ?? '', t.type === 'plain_text') : null);

function button(el, onAction) {
  const b = h(
    'button',
    {
      type: 'button',
      class: el.style ?? null,
      'data-action-id': el.action_id ?? null,
      'data-value': el.value ?? null,
    },
    el.text?.text ?? 'Button',
  );
  b.addEventListener('click', () => onAction(el, b));
  return b;
}

function element(el, onAction) {
  if (el.type === 'button') return button(el, onAction);
  if (el.type === 'mrkdwn' || el.type === 'plain_text') return textOf(el);
  if (el.type === 'image') return h('span', null, el.alt_text ?? '');
  return null;
}

function block(b, onAction) {
  switch (b.type) {
    case 'header':
      return h('div', { class: 'blk-header' }, b.text?.text ?? '');
    case 'divider':
      return h('hr', { class: 'blk-divider' });
    case 'section': {
      const main = h(
        'div',
        { class: 'blk-main' },
        textOf(b.text),
        b.fields?.length ? h('div', { class: 'blk-fields' }, b.fields.map(textOf)) : null,
      );
      return h('div', { class: 'blk-section' }, main, b.accessory ? element(b.accessory, onAction) : null);
    }
    case 'context':
      return h(
        'div',
        { class: 'blk-context' },
        (b.elements ?? []).map((e) => element(e, onAction)),
      );
    case 'actions':
      return h(
        'div',
        { class: 'blk-actions' },
        (b.elements ?? []).map((e) => element(e, onAction)),
      );
    case 'rich_text':
      return h('div', { class: 'blk-section' }, mrkdwn(richText(b)));
    default:
      return null;
  }
}

function richText(b) {
  return (b.elements ?? [])
    .map((section) => (section.elements ?? []).map((e) => e.text ?? e.url ?? '').join(''))
    .join('\n');
}

/**
 * A message body: its blocks when it has any (as Slack shows them), else its text. `onAction(element, button)`
 * is called when a button is pressed.
 */
export function renderMessage(message, onAction) {
  if (Array.isArray(message.blocks) && message.blocks.length) {
    const rendered = message.blocks.map((b) => block(b, onAction)).filter(Boolean);
    if (rendered.length) return h('div', { class: 'blocks' }, rendered);
  }
  return mrkdwn(message.text ?? '');
}
