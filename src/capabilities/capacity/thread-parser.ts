// Reads the parent message of a thread — the daily product alert — into products and their open instants:
//
//   [오늘 오픈 예정 인기 상품] 2026-11-23
//   1. (12345) 나이키 덩크 로우 - 16:00 오픈 (조회수 15,234)
//   2. (12377) 아이폰 18 Pro 사전예약 - 오후 6시 오픈 (조회수 9,876)
//   3. (12401) 콘서트 티켓 — 2026-11-24 20:00 오픈
//
// Product lines start with `N.` or `N)`; an id in parentheses may follow (without one the id is `#N`); then the
// name and the open time: `16:00`, `16시`, `16시 30분`, `오후 6시`, `오후 6시 30분`, `6시 반`, `오전 10:30`,
// `오후 12시` (noon), `오전 12시` (midnight), `6:00 PM`, or a full `YYYY-MM-DD HH:mm`. A time without a date is on
// the date of the header (`YYYY-MM-DD`, `YYYY.MM.DD`, `YYYY/MM/DD`, `YYYY년 M월 D일`), else today in the zone;
// `내일`/`tomorrow` right before it means the day after. Wall-clock times become instants in the team's zone by
// domain/time.ts (luxon; a time skipped by DST is refused, a repeated one is the earlier instant). Other lines are ignored; Slack formatting (bold, links, entities) is tolerated.
//
// A team whose alert looks different configures a regex with named groups `number`, `id`, `name`, `time` (and
// optionally `date`), applied to each line; `time` (and `date`) are read with the same rules as above.

import { DateTime } from 'luxon';
import { normalizeSlackText } from '../../chat/grammar.ts';
import { NotFoundError, ValidationError } from '../../kernel/errors.ts';
import { isValidZone, parseLocalDateTime } from '../../kernel/time.ts';

export interface Product {
  /** The number of the line (`2.` → 2): what `create 2` refers to. */
  number: number;
  /** The id in parentheses, or `#N` when the line has none. */
  productId: string;
  name: string;
  openAt: Date;
  /** The open time as written (`오후 6시`, `2026-11-24 20:00`). */
  openText: string;
}

/** A numbered line that looked like a product but could not be read (kept to explain a "not found"). */
export interface IgnoredLine {
  number: number;
  line: string;
  reason: string;
}

export interface ParsedThread {
  products: Product[];
  /** The date (YYYY-MM-DD) times without a date are on: the header's, or today in the zone. */
  date: string;
  ignored: IgnoredLine[];
}

export interface ThreadParseOptions {
  /** IANA zone the times are written in, e.g. Asia/Seoul. */
  zone: string;
  /** The current instant: gives "today" when the header has no date. */
  now: Date;
  /** A team's own line regex (source, or `/source/flags`) with named groups number, id, name, time [, date]. */
  pattern?: string;
}

/** The product number is not in the message; the message says what was found. */
export class ProductNotFoundError extends NotFoundError {
  readonly number: number;
  readonly found: Product[];
  constructor(number: number, parsed: ParsedThread) {
    super(notFoundMessage(number, parsed));
    this.number = number;
    this.found = parsed.products;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Time grammar

const DATE_SRC = String.raw`(?<!\d)(\d{4})\s*(?:[-./]|년)\s*(\d{1,2})\s*(?:[-./]|월)\s*(\d{1,2})(?!\d)\s*일?`;
const WEEKDAY_SRC = String.raw`(?:\s*\(\s*(?:[월화수목금토일]|[A-Za-z]{3})\s*\))?`;
const CLOCK_SRC =
  String.raw`(?:(오전|오후|AM|PM)\s*)?(?<![\d:])(\d{1,2}):(\d{2})(?!\d)(?:\s*(AM|PM)(?![A-Za-z]))?` +
  String.raw`|(?:(오전|오후)\s*)?(?<![\d:])(\d{1,2})\s*시(?!간|리즈|즌)(?:\s*(\d{1,2})\s*분|\s*(반))?`;
const DATE_TIME_SRC = `${DATE_SRC}${WEEKDAY_SRC}\\s*(?:T|\\s)\\s*(?:${CLOCK_SRC})`;

const DATE_RE = new RegExp(DATE_SRC);
const CLOCK_SEARCH = new RegExp(CLOCK_SRC, 'gi');
const DATE_TIME_SEARCH = new RegExp(DATE_TIME_SRC, 'gi');
const DATE_EXACT = new RegExp(`^\\s*${DATE_SRC}${WEEKDAY_SRC}\\s*$`);
const CLOCK_EXACT = new RegExp(`^\\s*(?:${CLOCK_SRC})\\s*$`, 'i');
const DATE_TIME_EXACT = new RegExp(`^\\s*(?:${DATE_TIME_SRC})\\s*$`, 'i');

interface Ymd {
  year: number;
  month: number;
  day: number;
}
interface Clock {
  hour: number;
  minute: number;
}

function dateFrom(groups: (string | undefined)[]): Ymd {
  return { year: Number(groups[0]), month: Number(groups[1]), day: Number(groups[2]) };
}

/** The 8 groups of CLOCK_SRC → 24-hour clock, or a reason it is not a time. */
function clockFrom(g: (string | undefined)[]): Clock | string {
  const colon = g[1] !== undefined;
  const meridiem = (colon ? (g[0] ?? g[3]) : g[4])?.toUpperCase();
  let hour = Number(colon ? g[1] : g[5]);
  const minute = colon ? Number(g[2]) : g[7] ? 30 : Number(g[6] ?? 0);
  if (minute > 59) return `minute ${minute} is not a minute`;
  if (meridiem === '오전' || meridiem === 'AM') {
    if (hour > 12) return `${hour} is not a morning hour`;
    if (hour === 12) hour = 0;
  } else if (meridiem === '오후' || meridiem === 'PM') {
    if (hour > 23) return `${hour} is not an hour`;
    if (hour < 12) hour += 12;
  } else if (hour > 23) {
    return `${hour} is not an hour`;
  }
  return { hour, minute };
}

interface TimeHit {
  index: number;
  text: string;
  date?: Ymd;
  clock: Clock | string;
}

/** The earliest open time in a text: a full date-time wins over the bare clock inside it. */
function findTime(text: string): TimeHit | undefined {
  DATE_TIME_SEARCH.lastIndex = 0;
  CLOCK_SEARCH.lastIndex = 0;
  const full = DATE_TIME_SEARCH.exec(text);
  const clock = CLOCK_SEARCH.exec(text);
  if (full && (!clock || full.index <= clock.index)) {
    return {
      index: full.index,
      text: full[0],
      date: dateFrom(full.slice(1, 4)),
      clock: clockFrom(full.slice(4)),
    };
  }
  if (clock) return { index: clock.index, text: clock[0], clock: clockFrom(clock.slice(1)) };
  return undefined;
}

/** A whole string that must be a time (custom pattern's `time` group). */
function exactTime(text: string): TimeHit | undefined {
  const full = DATE_TIME_EXACT.exec(text);
  if (full)
    return { index: 0, text: text.trim(), date: dateFrom(full.slice(1, 4)), clock: clockFrom(full.slice(4)) };
  const clock = CLOCK_EXACT.exec(text);
  if (clock) return { index: 0, text: text.trim(), clock: clockFrom(clock.slice(1)) };
  return undefined;
}

const pad = (n: number) => String(n).padStart(2, '0');
const isoDate = (d: Ymd) =>
  `${String(d.year).padStart(4, '0')}-${String(d.month).padStart(2, '0')}-${String(d.day).padStart(2, '0')}`;

// ---------------------------------------------------------------------------------------------------------------
// Lines

/** Slack markup → text, then bold/strike/italic markers off. */
function plainLines(text: string): string[] {
  return normalizeSlackText(text)
    .replace(/[*~]/g, '')
    .replace(/(^|[\s(])_([^_\n]+)_(?=[\s).,!?]|$)/gm, '$1$2')
    .split('\n');
}

const NUMBERED = /^\s*(?:[>•·◦▪-]\s*)*(\d{1,3})\s*[.)](?!\d)\s*(.*)$/;
const PRODUCT_ID = /^[([]\s*((?=[^)\]]*\d)[A-Za-z0-9][\w-]*)\s*[)\]]\s*/;
const SEPARATORS = /^[\s\-—–―:|~·,@/]+|[\s\-—–―:|~·,@/]+$/g;
const RELATIVE_DAY = /(?:^|\s)(오늘|내일|today|tomorrow)$/i;

interface Candidate {
  number: number;
  productId?: string;
  name: string;
  time?: TimeHit;
  /** A date for the time from elsewhere on the line (custom `date` group), or a reason it is not one. */
  date?: Ymd | string;
  plusDays: number;
  line: string;
}

function defaultLine(line: string): Candidate | undefined {
  const m = NUMBERED.exec(line);
  if (!m) return undefined;
  let rest = m[2]!.trim();
  const id = PRODUCT_ID.exec(rest);
  if (id) rest = rest.slice(id[0].length);
  const time = findTime(rest);
  let name = (time ? rest.slice(0, time.index) : rest).replace(SEPARATORS, '');
  let plusDays = 0;
  const relative = RELATIVE_DAY.exec(name);
  if (time && relative) {
    plusDays = /내일|tomorrow/i.test(relative[1]!) ? 1 : 0;
    name = name.slice(0, relative.index).replace(SEPARATORS, '');
  }
  if (!name && time) {
    // "1. 16:00 나이키 덩크 로우 오픈": the name comes after the time.
    name = rest
      .slice(time.index + time.text.length)
      .replace(/\([^)]*\)\s*$/, '')
      .replace(SEPARATORS, '')
      .replace(/^(?:오픈|open|시작)\s*/i, '')
      .replace(/\s*(?:오픈|open|시작)$/i, '')
      .replace(SEPARATORS, '');
  }
  const candidate: Candidate = { number: Number(m[1]), name, plusDays, line: line.trim() };
  if (id) candidate.productId = id[1]!;
  if (time) candidate.time = time;
  return candidate;
}

const REQUIRED_GROUPS = ['number', 'id', 'name', 'time'] as const;

/** Compile a team's pattern; ValidationError when it is not a regex or lacks a required named group. */
function compilePattern(pattern: string): RegExp {
  const literal = /^\/(.+)\/([a-z]*)$/s.exec(pattern);
  const source = literal ? literal[1]! : pattern;
  const flags = (literal ? literal[2]! : '').replace(/[gy]/g, '');
  let re: RegExp;
  let probe: RegExpExecArray | null;
  try {
    try {
      re = new RegExp(source, flags.includes('u') || flags.includes('v') ? flags : `${flags}u`);
      probe = new RegExp(`(?:${source})|`, re.flags).exec('');
    } catch {
      re = new RegExp(source, flags);
      probe = new RegExp(`(?:${source})|`, re.flags).exec('');
    }
  } catch (error) {
    throw new ValidationError(
      [{ field: 'pattern', message: `not a valid regular expression: ${(error as Error).message}` }],
      {
        cause: error,
      },
    );
  }
  const groups = Object.keys(probe?.groups ?? {});
  const missing = REQUIRED_GROUPS.filter((g) => !groups.includes(g));
  if (missing.length > 0) {
    throw new ValidationError([
      {
        field: 'pattern',
        message: `needs the named groups number, id, name and time (optional: date); missing: ${missing.join(', ')}`,
      },
    ]);
  }
  return re;
}

function patternLine(re: RegExp, line: string): Candidate | undefined {
  const m = re.exec(line);
  const g = m?.groups;
  if (!g) return undefined;
  const number = Number(g.number?.trim());
  if (!Number.isSafeInteger(number) || number <= 0) return undefined;
  const candidate: Candidate = {
    number,
    name: (g.name ?? '').replace(SEPARATORS, ''),
    plusDays: 0,
    line: line.trim(),
  };
  const id = g.id?.trim();
  if (id) candidate.productId = id;
  const time = g.time === undefined ? undefined : exactTime(g.time);
  if (time) candidate.time = time;
  if (g.date !== undefined && g.date.trim() !== '') {
    const d = DATE_EXACT.exec(g.date);
    candidate.date = d ? dateFrom(d.slice(1, 4)) : `"${g.date.trim()}" is not a date`;
  }
  return candidate;
}

function validDate(d: Ymd, zone: string): boolean {
  return DateTime.fromObject({ year: d.year, month: d.month, day: d.day }, { zone }).isValid;
}

// ---------------------------------------------------------------------------------------------------------------
// The parser

/**
 * Products of a product-alert message with their open instants. Refuses nothing by throwing except a bad zone,
 * a bad custom pattern or an impossible header date (ValidationError): a message without product lines yields
 * `products: []`, and `findProduct` explains.
 */
export function parseProductThread(text: string, opts: ThreadParseOptions): ParsedThread {
  if (!isValidZone(opts.zone)) {
    throw new ValidationError([{ field: 'zone', message: `"${opts.zone}" is not a known time zone` }]);
  }
  const nowInZone = DateTime.fromJSDate(opts.now, { zone: opts.zone });
  if (!nowInZone.isValid) throw new ValidationError([{ field: 'now', message: 'is not a valid instant' }]);
  const pattern = opts.pattern === undefined ? undefined : compilePattern(opts.pattern);
  const lines = plainLines(text);

  const candidates: Candidate[] = [];
  let headerDate: Ymd | undefined;
  for (const line of lines) {
    const candidate = pattern ? patternLine(pattern, line) : defaultLine(line);
    if (candidate) {
      candidates.push(candidate);
      continue;
    }
    // The header: the first date on a non-product line before the first product.
    if (!headerDate && candidates.length === 0) {
      const d = DATE_RE.exec(line);
      if (d) {
        headerDate = dateFrom(d.slice(1, 4));
        if (!validDate(headerDate, opts.zone)) {
          throw new ValidationError([
            { field: 'date', message: `the message's date "${d[0].trim()}" is not a date` },
          ]);
        }
      }
    }
  }
  const base: Ymd = headerDate ?? { year: nowInZone.year, month: nowInZone.month, day: nowInZone.day };

  const products: Product[] = [];
  const ignored: IgnoredLine[] = [];
  const seen = new Set<number>();
  for (const c of candidates) {
    const ignore = (reason: string) => ignored.push({ number: c.number, line: c.line, reason });
    if (seen.has(c.number)) {
      ignore(`number ${c.number} appears more than once; the first line is used`);
      continue;
    }
    if (!c.time) {
      ignore('no open time found');
      continue;
    }
    if (typeof c.time.clock === 'string') {
      ignore(`"${c.time.text}": ${c.time.clock}`);
      continue;
    }
    if (typeof c.date === 'string') {
      ignore(c.date);
      continue;
    }
    // The calendar day (with 내일 applied) is plain date arithmetic; the wall time → instant step, DST gaps and
    // overlaps included, is the product's one rule in domain/time.ts.
    const day = DateTime.fromObject(c.time.date ?? c.date ?? base, { zone: 'utc' }).plus({
      days: c.plusDays,
    });
    const { hour, minute } = c.time.clock;
    if (!day.isValid) {
      ignore(`"${c.time.text}" is not a valid date and time`);
      continue;
    }
    let openAt: Date;
    try {
      openAt = parseLocalDateTime(`${day.toFormat('yyyy-MM-dd')} ${pad(hour)}:${pad(minute)}`, opts.zone);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      ignore(`"${c.time.text}": ${error.issues[0]?.message ?? error.message}`);
      continue;
    }
    seen.add(c.number);
    products.push({
      number: c.number,
      productId: c.productId ?? `#${c.number}`,
      name: c.name || c.productId || `#${c.number}`,
      openAt,
      openText: c.time.text.trim(),
    });
  }
  return { products, date: isoDate(base), ignored };
}

// ---------------------------------------------------------------------------------------------------------------
// Lookup

const MAX_LISTED = 20;

function describe(p: Product): string {
  const id = p.productId === `#${p.number}` ? '' : ` (${p.productId})`;
  return `${p.number}${id} ${p.name} ${p.openText}`;
}

function notFoundMessage(number: number, parsed: ParsedThread): string {
  const unreadable = parsed.ignored.find((i) => i.number === number);
  const head = unreadable
    ? `product #${number} is in this message but could not be read (${unreadable.reason}: "${unreadable.line}")`
    : `product #${number} is not in this message`;
  if (parsed.products.length === 0) {
    return `${head}; no products were found in it (expected numbered lines like "1. (12345) 상품명 - 16:00 오픈")`;
  }
  const listed = parsed.products.slice(0, MAX_LISTED).map(describe);
  const more = parsed.products.length > MAX_LISTED ? `, and ${parsed.products.length - MAX_LISTED} more` : '';
  return `${head}; found: ${listed.join(', ')}${more}`;
}

/** The product with that number, or ProductNotFoundError listing what the message does have. */
export function findProduct(parsed: ParsedThread, number: number): Product {
  const product = parsed.products.find((p) => p.number === number);
  if (!product) throw new ProductNotFoundError(number, parsed);
  return product;
}
