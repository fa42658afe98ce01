// EventBridge event patterns, matched the way EventBridge matches them, so that a pattern copied from an
// EventBridge rule behaves the same in chronops. Pure: no I/O.
//
// The semantics kept (AWS "Event patterns" and "Content filtering" documentation, and aws/event-ruler):
// - a pattern is an object whose leaves are LISTS of values or matchers; fields are AND-ed, a list is OR-ed;
//   `$or: [pattern, pattern, …]` OR-s sub-patterns;
// - every field a pattern names must be in the event, at the same nesting (except `exists: false`);
// - an event array matches when any of its elements matches; objects inside arrays are matched element by element,
//   so two fields of one sub-pattern never match in two different elements ("array-consistent" matching);
// - comparison operators only look at leaves (string, number, boolean, null): `exists: true` on an object is false,
//   `exists: false` on an object is true;
// - a literal string only equals a string, a literal number only equals a number (compared numerically:
//   300 = 3.0e2), `prefix`/`suffix`/`wildcard`/`equals-ignore-case`/`cidr` only match strings, `numeric` only numbers;
// - `anything-but` needs the field to be present.
//
// A pattern is compiled once (when the config is read) into closures; a bad pattern is refused then, with the path
// of the bad part, rather than never matching at 3 a.m.

import { BlockList, isIP } from 'node:net';

/** A field's value as the matcher sees it: absent, or a JSON value. */
type Leaf = string | number | boolean | null;
type Test = (value: Leaf) => boolean;

interface LeafNode {
  kind: 'leaf';
  tests: Test[];
  /** `exists: false` is in the list: an absent (or non-leaf) field matches. */
  matchesAbsent: boolean;
}
interface ObjectNode {
  kind: 'object';
  fields: Array<[string, Node]>;
  ors: ObjectNode[][];
}
type Node = LeafNode | ObjectNode;

/** A pattern that cannot be compiled: `path` names the bad part (`detail.state[0].prefix`). */
export class PatternError extends Error {
  readonly path: string;
  /** The message without the path. */
  readonly reason: string;
  constructor(path: string, reason: string) {
    super(`${path}: ${reason}`);
    this.name = 'PatternError';
    this.path = path;
    this.reason = reason;
  }
}

export interface CompiledPattern {
  /** The pattern as written. */
  readonly source: Record<string, unknown>;
  matches(event: unknown): boolean;
}

/** Numeric bounds EventBridge accepts (±5.0e9). */
const NUMERIC_LIMIT = 5e9;
const MAX_DEPTH = 16;

/**
 * Compiles an EventBridge event pattern. Throws PatternError naming the bad part (relative to `path`) when it is
 * not one EventBridge would accept.
 */
export function compilePattern(raw: unknown, path = 'pattern'): CompiledPattern {
  if (!isPlainObject(raw))
    throw new PatternError(path, 'must be an object such as { "source": ["aws.ecs"] }');
  if (Object.keys(raw).length === 0) throw new PatternError(path, 'must name at least one field');
  const root = compileObject(raw, path, 0);
  return { source: raw, matches: (event) => matchObject(root, event) };
}

// ---- compile ----------------------------------------------------------------------------------------------

function compileObject(raw: Record<string, unknown>, path: string, depth: number): ObjectNode {
  if (depth > MAX_DEPTH) throw new PatternError(path, `is nested deeper than ${MAX_DEPTH} levels`);
  const node: ObjectNode = { kind: 'object', fields: [], ors: [] };
  for (const [key, value] of Object.entries(raw)) {
    const at = `${path}.${key}`;
    if (key === '$or') {
      if (!Array.isArray(value) || value.length < 2 || !value.every(isPlainObject)) {
        throw new PatternError(
          at,
          'must be a list of at least two patterns, e.g. [{ "a": ["x"] }, { "b": ["y"] }]',
        );
      }
      node.ors.push(
        value.map((branch, i) => {
          if (Object.keys(branch).length === 0)
            throw new PatternError(`${at}[${i}]`, 'must name at least one field');
          return compileObject(branch, `${at}[${i}]`, depth + 1);
        }),
      );
      continue;
    }
    if (Array.isArray(value)) node.fields.push([key, compileLeaf(value, at)]);
    else if (isPlainObject(value)) {
      if (Object.keys(value).length === 0) throw new PatternError(at, 'must name at least one field');
      node.fields.push([key, compileObject(value, at, depth + 1)]);
    } else {
      throw new PatternError(
        at,
        `must be a list of values or a nested pattern: write [${JSON.stringify(value)}], EventBridge puts every value in a list`,
      );
    }
  }
  return node;
}

function compileLeaf(values: unknown[], path: string): LeafNode {
  if (values.length === 0) throw new PatternError(path, 'must not be an empty list (it would never match)');
  const node: LeafNode = { kind: 'leaf', tests: [], matchesAbsent: false };
  values.forEach((value, i) => {
    const at = `${path}[${i}]`;
    if (value === null || typeof value === 'string' || typeof value === 'boolean') {
      node.tests.push((v) => v === value);
    } else if (typeof value === 'number') {
      checkNumber(value, at);
      node.tests.push((v) => typeof v === 'number' && v === value);
    } else if (isPlainObject(value)) {
      const keys = Object.keys(value);
      if (keys.length !== 1) {
        throw new PatternError(
          at,
          `a matcher has exactly one operator (got ${keys.length}: ${keys.join(', ') || 'none'})`,
        );
      }
      const op = keys[0]!;
      const arg = value[op];
      if (op === 'exists') {
        if (typeof arg !== 'boolean') throw new PatternError(`${at}.exists`, 'must be true or false');
        if (arg) node.tests.push(() => true);
        else node.matchesAbsent = true;
      } else {
        node.tests.push(compileOperator(op, arg, `${at}.${op}`));
      }
    } else {
      throw new PatternError(
        at,
        'must be a string, number, boolean, null or a matcher object such as { "prefix": "x" }',
      );
    }
  });
  return node;
}

function compileOperator(op: string, arg: unknown, path: string): Test {
  switch (op) {
    case 'prefix':
    case 'suffix': {
      const { text, ignoreCase } = stringOrIgnoreCase(arg, path);
      const at = op === 'prefix' ? startsWith : endsWith;
      return (v) => typeof v === 'string' && at(ignoreCase ? v.toLowerCase() : v, text);
    }
    case 'equals-ignore-case': {
      const text = nonEmptyString(arg, path).toLowerCase();
      return (v) => typeof v === 'string' && v.toLowerCase() === text;
    }
    case 'wildcard': {
      const re = wildcardRegExp(nonEmptyString(arg, path), path);
      return (v) => typeof v === 'string' && re.test(v);
    }
    case 'numeric':
      return numericTest(arg, path);
    case 'cidr':
      return cidrTest(arg, path);
    case 'anything-but': {
      const inner = anythingBut(arg, path);
      return (v) => !inner(v);
    }
    default:
      throw new PatternError(
        path,
        'unknown operator; EventBridge knows prefix, suffix, equals-ignore-case, wildcard, anything-but, numeric, exists and cidr',
      );
  }
}

/** What `anything-but` excludes: a value, a list of values of one type, or a prefix/suffix/ignore-case/wildcard. */
function anythingBut(arg: unknown, path: string): Test {
  if (typeof arg === 'string') return (v) => v === arg;
  if (typeof arg === 'number') {
    checkNumber(arg, path);
    return (v) => v === arg;
  }
  if (Array.isArray(arg)) {
    if (arg.length === 0) throw new PatternError(path, 'must not be an empty list');
    const allStrings = arg.every((a) => typeof a === 'string');
    const allNumbers = arg.every((a) => typeof a === 'number');
    if (!allStrings && !allNumbers)
      throw new PatternError(path, 'a list must hold only strings or only numbers');
    if (allNumbers) {
      for (const [i, n] of arg.entries()) checkNumber(n as number, `${path}[${i}]`);
    }
    const set = new Set<unknown>(arg);
    return (v) => set.has(v);
  }
  if (isPlainObject(arg)) {
    const keys = Object.keys(arg);
    const op = keys[0];
    if (keys.length !== 1 || !op) throw new PatternError(path, 'must have exactly one operator');
    const at = `${path}.${op}`;
    switch (op) {
      case 'prefix':
        return compileOperator('prefix', nonEmptyString(arg[op], at), at);
      case 'suffix':
        return compileOperator('suffix', nonEmptyString(arg[op], at), at);
      case 'equals-ignore-case':
      case 'wildcard': {
        const list = typeof arg[op] === 'string' ? [arg[op]] : arg[op];
        if (!Array.isArray(list) || list.length === 0)
          throw new PatternError(at, 'must be a string or a list of strings');
        const tests = list.map((s, i) => compileOperator(op, s, `${at}[${i}]`));
        return (v) => tests.some((t) => t(v));
      }
      default:
        throw new PatternError(
          at,
          'anything-but takes a value, a list, or prefix, suffix, equals-ignore-case, wildcard',
        );
    }
  }
  throw new PatternError(path, 'must be a string, a number, a list, or an object such as { "prefix": "x" }');
}

const LOWER_OPS = new Set(['>', '>=']);
const UPPER_OPS = new Set(['<', '<=']);

/** `[">", 0, "<=", 5]`, `["<", 10]`, `["=", 301.8]`. */
function numericTest(arg: unknown, path: string): Test {
  if (!Array.isArray(arg) || (arg.length !== 2 && arg.length !== 4)) {
    throw new PatternError(path, 'must be [op, number] or [">" or ">=", number, "<" or "<=", number]');
  }
  const conds: Array<{ op: string; n: number }> = [];
  for (let i = 0; i < arg.length; i += 2) {
    const op = arg[i];
    const n = arg[i + 1];
    if (typeof op !== 'string' || !['<', '<=', '=', '>', '>='].includes(op)) {
      throw new PatternError(`${path}[${i}]`, 'must be one of <, <=, =, >, >=');
    }
    if (typeof n !== 'number') throw new PatternError(`${path}[${i + 1}]`, 'must be a number');
    checkNumber(n, `${path}[${i + 1}]`);
    conds.push({ op, n });
  }
  if (conds.length === 2) {
    const [lower, upper] = conds as [{ op: string; n: number }, { op: string; n: number }];
    if (!LOWER_OPS.has(lower.op) || !UPPER_OPS.has(upper.op)) {
      throw new PatternError(path, 'a range is a lower bound (> or >=) then an upper bound (< or <=)');
    }
    if (lower.n > upper.n)
      throw new PatternError(path, `the range is empty (${lower.n} is above ${upper.n})`);
  }
  return (v) =>
    typeof v === 'number' &&
    conds.every(({ op, n }) => {
      switch (op) {
        case '<':
          return v < n;
        case '<=':
          return v <= n;
        case '=':
          return v === n;
        case '>':
          return v > n;
        default:
          return v >= n;
      }
    });
}

/** IPv4 and IPv6 CIDR blocks, checked with node's BlockList rather than bit arithmetic written here. */
function cidrTest(arg: unknown, path: string): Test {
  const text = nonEmptyString(arg, path);
  const m = /^(.+)\/(\d{1,3})$/.exec(text);
  const family = m ? isIP(m[1]!) : 0;
  const bits = m ? Number(m[2]) : -1;
  if (!m || family === 0 || bits > (family === 4 ? 32 : 128)) {
    throw new PatternError(path, 'must be a CIDR block such as 10.0.0.0/24 or 2001:db8::/32');
  }
  const block = new BlockList();
  const type = family === 4 ? 'ipv4' : 'ipv6';
  block.addSubnet(m[1]!, bits, type);
  return (v) => {
    if (typeof v !== 'string') return false;
    const f = isIP(v);
    return f !== 0 && block.check(v, f === 4 ? 'ipv4' : 'ipv6');
  };
}

/** `*` is any run of characters; `\*` a star and `\\` a backslash; `**` is refused as EventBridge does. */
function wildcardRegExp(text: string, path: string): RegExp {
  let source = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\') {
      const next = text[i + 1];
      if (next !== '*' && next !== '\\') throw new PatternError(path, 'a backslash may only escape * or \\');
      source += `\\${next}`;
      i++;
    } else if (c === '*') {
      if (text[i + 1] === '*')
        throw new PatternError(path, 'consecutive wildcard characters are not allowed');
      source += '[\\s\\S]*';
    } else {
      source += c.replace(/[.+?^${}()|[\]\\/-]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`, 'u');
}

function stringOrIgnoreCase(arg: unknown, path: string): { text: string; ignoreCase: boolean } {
  if (typeof arg === 'string') return { text: arg, ignoreCase: false };
  if (isPlainObject(arg) && Object.keys(arg).length === 1 && typeof arg['equals-ignore-case'] === 'string') {
    return { text: (arg['equals-ignore-case'] as string).toLowerCase(), ignoreCase: true };
  }
  throw new PatternError(path, 'must be a string, or { "equals-ignore-case": "text" }');
}

function nonEmptyString(arg: unknown, path: string): string {
  if (typeof arg !== 'string' || arg === '') throw new PatternError(path, 'must be a non-empty string');
  return arg;
}

function checkNumber(n: number, path: string): void {
  if (!Number.isFinite(n) || Math.abs(n) > NUMERIC_LIMIT) {
    throw new PatternError(path, `numbers must be between -5.0e9 and 5.0e9 (got ${n})`);
  }
}

function startsWith(v: string, text: string): boolean {
  return v.startsWith(text);
}
function endsWith(v: string, text: string): boolean {
  return v.endsWith(text);
}

// ---- match ------------------------------------------------------------------------------------------------

function matchObject(node: ObjectNode, value: unknown): boolean {
  if (Array.isArray(value)) return value.some((element) => matchObject(node, element));
  const object = isPlainObject(value) ? value : undefined;
  for (const [key, child] of node.fields) {
    const field = object && Object.hasOwn(object, key) ? object[key] : undefined;
    if (!matchNode(child, field)) return false;
  }
  return node.ors.every((branches) => branches.some((branch) => matchObject(branch, object)));
}

function matchNode(node: Node, value: unknown): boolean {
  return node.kind === 'object' ? matchObject(node, value) : matchLeaf(node, value);
}

function matchLeaf(node: LeafNode, value: unknown): boolean {
  const leaves: Leaf[] = [];
  collectLeaves(value, leaves);
  if (leaves.length === 0) return node.matchesAbsent;
  return leaves.some((leaf) => node.tests.some((test) => test(leaf)));
}

/** The leaf values of a field: itself, or the scalar elements of an array (nested arrays flattened). */
function collectLeaves(value: unknown, into: Leaf[]): void {
  if (value === undefined) return;
  if (Array.isArray(value)) {
    for (const element of value) collectLeaves(element, into);
    return;
  }
  if (
    value === null ||
    typeof value === 'string' ||
    typeof value === 'number' ||
    typeof value === 'boolean'
  ) {
    into.push(value);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
