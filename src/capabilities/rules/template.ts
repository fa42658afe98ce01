// Templates in rule actions: `{{ detail.containers.0.exitCode }}`, `{{ Message.offerCode }}`. A template is text
// with holes; each hole names a path into the event and is replaced by the value found there. That is all it does:
// no expressions, no function calls, no evaluation of anything. A value is inserted once and never read again, so
// a value that itself contains `{{ … }}` stays literal text. Values come from outside (an SNS message anyone with
// publish rights on the topic can write), so:
// - only the event's own properties are followed (never `constructor`, `__proto__` or anything inherited);
// - control characters other than tab and newline are removed from every value;
// - where the text goes decides the escaping: a URL gets each value percent-encoded; a shell-bound argument can ask
//   for `| shell` (one POSIX single-quoted word); `| json` gives the value as a JSON literal. Texts for chat are
//   plain: the notify renderers escape them per platform. Structured outputs (an HTTP body, container overrides)
//   are rendered leaf by leaf and serialised afterwards, so a value cannot break out of its string.

export const TEMPLATE_FILTERS = ['json', 'url', 'shell'] as const;
export type TemplateFilter = (typeof TEMPLATE_FILTERS)[number];

/** How values are written into the output when the hole names no filter. */
export type TemplateContext = 'text' | 'url';

type Part = { literal: string } | { path: string[]; expression: string; filter?: TemplateFilter };

export class TemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateError';
  }
}

export interface Rendered {
  text: string;
  /** Holes whose path is not in the event (rendered as nothing). */
  missing: string[];
}

export interface Template {
  readonly source: string;
  /** The paths the template reads, as written (`Message.offerCode`). */
  readonly paths: readonly string[];
  render(data: unknown, context?: TemplateContext): Rendered;
}

const HOLE = /\{\{([\s\S]*?)\}\}/g;
const SEGMENT = /^[A-Za-z0-9_$@:-]+$/;
// C0 controls except tab (09), newline (0a) and carriage return (0d), and DEL.
// biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g;

/** Parses a template; throws TemplateError for an unclosed hole, an empty path or an unknown filter. */
export function compileTemplate(source: string): Template {
  const parts: Part[] = [];
  let last = 0;
  for (const m of source.matchAll(HOLE)) {
    if (m.index > last) parts.push({ literal: source.slice(last, m.index) });
    parts.push(parseHole(m[1]!));
    last = m.index + m[0].length;
  }
  const rest = source.slice(last);
  if (rest.includes('{{')) throw new TemplateError(`"{{" is not closed by "}}" in ${JSON.stringify(source)}`);
  if (rest) parts.push({ literal: rest });
  const paths = parts.flatMap((p) => ('path' in p ? [p.expression] : []));
  return {
    source,
    paths,
    render(data, context = 'text') {
      const missing: string[] = [];
      let text = '';
      for (const part of parts) {
        if ('literal' in part) {
          text += part.literal;
          continue;
        }
        const found = lookup(data, part.path);
        if (!found.present) missing.push(part.expression);
        text += write(found.present ? found.value : undefined, part.filter, context);
      }
      return { text, missing };
    },
  };
}

/** True when `text` has at least one `{{ … }}` hole. */
export function isTemplate(text: string): boolean {
  return text.includes('{{');
}

function parseHole(inside: string): Part {
  const [expression = '', filter, ...extra] = inside.split('|').map((s) => s.trim());
  if (extra.length > 0) throw new TemplateError(`{{${inside}}}: one filter at most`);
  if (expression === '') throw new TemplateError(`{{${inside}}}: names no field (e.g. {{ detail.taskArn }})`);
  const path = expression.split('.');
  if (!path.every((s) => SEGMENT.test(s))) {
    throw new TemplateError(
      `{{${inside}}}: "${expression}" is not a field path; write names separated by dots, such as detail.containers.0.exitCode`,
    );
  }
  if (filter === undefined) return { path, expression };
  if (!(TEMPLATE_FILTERS as readonly string[]).includes(filter)) {
    throw new TemplateError(
      `{{${inside}}}: unknown filter "${filter}" (known: ${TEMPLATE_FILTERS.join(', ')})`,
    );
  }
  return { path, expression, filter: filter as TemplateFilter };
}

function lookup(data: unknown, path: string[]): { present: boolean; value?: unknown } {
  let current: unknown = data;
  for (const segment of path) {
    if (Array.isArray(current) && /^\d+$/.test(segment)) {
      const index = Number(segment);
      if (index >= current.length) return { present: false };
      current = current[index];
    } else if (typeof current === 'object' && current !== null && !Array.isArray(current)) {
      if (!Object.hasOwn(current, segment)) return { present: false };
      current = (current as Record<string, unknown>)[segment];
    } else {
      return { present: false };
    }
  }
  return current === undefined ? { present: false } : { present: true, value: current };
}

function write(value: unknown, filter: TemplateFilter | undefined, context: TemplateContext): string {
  if (filter === 'json') return clean(JSON.stringify(value ?? null));
  const text = clean(stringify(value));
  if (filter === 'shell') return `'${text.replaceAll("'", `'\\''`)}'`;
  if (filter === 'url' || context === 'url') return encodeURIComponent(text);
  return text;
}

function stringify(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  return JSON.stringify(value);
}

function clean(text: string): string {
  return text.replace(CONTROL, '');
}

/**
 * Renders every string of a structure (the strings of an HTTP body, container overrides …) as a template and
 * returns the structure with the results; keys are never templates. The caller serialises the result, so a value
 * stays inside the string it was put in.
 */
export function renderDeep(value: unknown, data: unknown, missing: string[] = []): unknown {
  if (typeof value === 'string') {
    if (!isTemplate(value)) return value;
    const out = compileTemplate(value).render(data);
    missing.push(...out.missing);
    return out.text;
  }
  if (Array.isArray(value)) return value.map((v) => renderDeep(v, data, missing));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderDeep(v, data, missing)]));
  }
  return value;
}

/** Checks every string of a structure that is a template; returns the first problem found, or undefined. */
export function checkTemplates(value: unknown, path: string): { path: string; message: string } | undefined {
  if (typeof value === 'string') {
    if (!isTemplate(value)) return undefined;
    try {
      compileTemplate(value);
      return undefined;
    } catch (error) {
      return { path, message: (error as Error).message };
    }
  }
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) {
      const problem = checkTemplates(v, `${path}[${i}]`);
      if (problem) return problem;
    }
    return undefined;
  }
  if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      const problem = checkTemplates(v, `${path}.${k}`);
      if (problem) return problem;
    }
  }
  return undefined;
}
