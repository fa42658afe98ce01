// What chronops has to tell people, before it knows where it goes: a platform-neutral notification. The outbox
// renders it per destination kind at send time (render.ts): Block Kit for Slack, an Adaptive Card for Teams, JANDI's
// `connectInfo` message, blocks for the page's console. Texts are plain (no markup): each renderer escapes them.

export const SEVERITIES = ['info', 'success', 'warning', 'error'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** A short fact shown as `title: value` (Job, Duration, Result). */
export interface Field {
  title: string;
  value: string;
}

/** A titled block: a list (failed tenants) or a text, shown as code when `code` (a stack trace). */
export interface Section {
  title: string;
  items?: string[];
  text?: string;
  code?: boolean;
}

export interface Notification {
  title?: string;
  text?: string;
  /** Colour and alert level: red for `error` (a failed tenant, a failed run). Default `info`. */
  severity?: Severity;
  fields?: Field[];
  sections?: Section[];
  link?: { label: string; url: string };
  /** Small print under everything (the window id, "dry-run"). */
  footer?: string;
}

/** The text of a notification where only text fits (logs, the outbox listing, a fallback). */
export function plainText(n: Notification): string {
  const lines: string[] = [];
  if (n.title) lines.push(n.title);
  if (n.text) lines.push(n.text);
  for (const f of n.fields ?? []) lines.push(`${f.title}: ${f.value}`);
  for (const s of n.sections ?? []) {
    lines.push(`${s.title}:`);
    for (const item of s.items ?? []) lines.push(`• ${item}`);
    if (s.text) lines.push(s.text);
  }
  if (n.link) lines.push(`${n.link.label}: ${n.link.url}`);
  if (n.footer) lines.push(n.footer);
  return lines.join('\n');
}
