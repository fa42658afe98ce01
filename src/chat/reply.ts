// Small Reply builders every capability uses. A Reply's text is Slack mrkdwn and its blocks a typed subset of Block
// Kit: chronops' one block model, which every door draws its own way (Slack posts it, the console draws it, the
// JANDI and Teams channels render it as their messages: see src/notify/render.ts).

import type { Reply } from './port.ts';

/**
 * Literal text in a message: `&`, `<` and `>` are Slack's markup (`<@U…>`, `<url|label>`), so they are sent as
 * entities (which Slack and the console show as the characters). For usage texts (`<product#>`), what a person
 * typed, and what a thread's message said.
 */
export function escapeMrkdwn(text: string): string {
  return text.replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'));
}

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** A short answer, optionally with a command's usage (literal text, escaped) in a code block. */
export function textReply(text: string, usageText?: string): Reply {
  const full = usageText ? `${text}\n\`\`\`${escapeMrkdwn(usageText)}\`\`\`` : text;
  return { text: full, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: truncate(full, 3000) } }] };
}
