// The one inbox: every verified delivery of every source, stored before its answer, unique by its delivery key.
// Workers claim rows with `FOR UPDATE SKIP LOCKED` and a lease, so any number of servers share it and a row whose
// worker died is taken again once its lease is over. Claims are fair by source: each claim takes at most its
// share from each source, so a storm from one source does not starve another.

import type { Db } from '../store/db.ts';

/** A verified delivery, as stored before it is answered. */
export interface InboxItem {
  /** Unique per delivery: `slack:event:<event_id>`, `jandi:<digest>`, `<sns source>:<MessageId>` … */
  key: string;
  /** The configured source's name. */
  source: string;
  /** The source's kind (slack, jandi, teams, generic, sns, events): which handler takes it. */
  kind: string;
  type: string;
  subtype: string | null;
  /** The body as the sender sent it (decoded from base64 when it came so). */
  body: string;
  retryNum: number | null;
  /** Relayed deliveries with the same key keep their order (a team/channel). */
  partitionKey: string | null;
  /** Kafka topics it is to be relayed to (null: none; decided when it is stored). */
  topics: string[] | null;
  /**
   * Its request waits this long for the reply (JANDI, Teams): the queues of every server leave it to the server
   * holding the request (which takes it by key, `claimKey`) until then; after, if that server did not, anyone.
   */
  heldMs?: number;
}

export interface Delivery extends InboxItem {
  id: number;
  attempts: number;
  receivedAt: Date;
}

export interface DeliveryRecord extends Delivery {
  status: 'pending' | 'processing' | 'done' | 'failed';
  error: string | null;
  relayedAt: Date | null;
}

const COLUMNS = [
  'key',
  'source',
  'kind',
  'type',
  'subtype',
  'body',
  'retry_num',
  'partition_key',
  'topics',
] as const;
const UNIQUE_VIOLATION = '23505';

/** A CSV field, quoted (a quote inside is doubled; commas and line breaks inside quotes are data). */
function csv(value: string): string {
  return `"${value.replaceAll('"', '""')}"`;
}
/** NULL in COPY's CSV format is an unquoted empty field. */
function csvNullable(value: string | null): string {
  return value === null ? '' : csv(value);
}
/** A text[] literal: each element double-quoted, backslashes and quotes escaped. */
function arrayLiteral(values: string[]): string {
  return `{${values.map((v) => `"${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`).join(',')}}`;
}

export class InboxStore {
  readonly db: Db;
  readonly schema: string;

  constructor(db: Db, schema = 'chronops') {
    this.db = db;
    this.schema = schema;
  }

  private get t(): string {
    return `${this.schema}.gateway_inbox`;
  }

  /**
   * Stores deliveries; a key already there is a redelivery and is dropped. Where the database has a cheaper way in
   * for many rows (COPY, on the embedded database), the batch goes that way, its own duplicates dropped first; if
   * a key is stored already (a redelivery of an earlier batch), the COPY fails as a whole and the batch is
   * inserted again with ON CONFLICT DO NOTHING.
   */
  async accept(items: InboxItem[]): Promise<void> {
    if (items.length === 0) return;
    // A held delivery (rare: a chat command waiting for its answer) goes in by INSERT, which sets its next_at.
    if (this.db.copyCsv && items.length > 1 && !items.some((i) => i.heldMs)) {
      const seen = new Set<string>();
      const rows: string[] = [];
      for (const i of items) {
        if (seen.has(i.key)) continue;
        seen.add(i.key);
        rows.push(
          `${csv(i.key)},${csv(i.source)},${csv(i.kind)},${csv(i.type)},${csvNullable(i.subtype)},${csv(i.body)},` +
            `${i.retryNum ?? ''},${csvNullable(i.partitionKey)},${i.topics ? csv(arrayLiteral(i.topics)) : ''}\n`,
        );
      }
      try {
        await this.db.copyCsv(this.t, COLUMNS, rows.join(''));
        return;
      } catch (error) {
        if ((error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
      }
    }
    await this.insert(items);
  }

  /**
   * One INSERT … ON CONFLICT DO NOTHING. The rows travel as one JSON parameter: the statement's text is the same
   * whatever the batch size (so a server prepares it once), and JSON.stringify is native, where a text[]
   * parameter is escaped element by element in JavaScript.
   */
  private async insert(items: InboxItem[]): Promise<void> {
    await this.db.query(
      `INSERT INTO ${this.t} (key, source, kind, type, subtype, body, retry_num, partition_key, topics, next_at)
       SELECT x.key, x.source, x.kind, x.type, x.subtype, x.body, x.retry_num, x.partition_key,
         CASE WHEN x.topics IS NULL THEN NULL ELSE ARRAY(SELECT jsonb_array_elements_text(x.topics)) END,
         now() + coalesce(x.held_ms, 0) * interval '1 millisecond'
       FROM jsonb_to_recordset($1::jsonb) AS x(key text, source text, kind text, type text, subtype text,
         body text, retry_num integer, partition_key text, topics jsonb, held_ms integer)
       ON CONFLICT (key) DO NOTHING`,
      [
        JSON.stringify(
          items.map((i) => ({
            key: i.key,
            source: i.source,
            kind: i.kind,
            type: i.type,
            subtype: i.subtype,
            body: i.body,
            retry_num: i.retryNum,
            partition_key: i.partitionKey,
            topics: i.topics,
            ...(i.heldMs ? { held_ms: i.heldMs } : {}),
          })),
        ),
      ],
      { prepare: true, priority: 'high' },
    );
  }

  /**
   * Claims deliveries to handle from the given sources: pending and due, at most `perSource` from each, oldest
   * first within a source. The result interleaves the sources (one of each in turn), so that handling them in
   * that order is fair too.
   */
  async claim(
    node: string,
    leaseMs: number,
    sources: readonly string[],
    perSource: number,
  ): Promise<Delivery[]> {
    if (sources.length === 0) return [];
    const rows = await this.db.query<InboxDbRow>(
      `UPDATE ${this.t} i
       SET status = 'processing', attempts = i.attempts + 1, locked_by = $1,
           locked_until = clock_timestamp() + $2 * interval '1 millisecond'
       FROM (SELECT c.key FROM unnest($3::text[]) AS s(source)
             CROSS JOIN LATERAL (SELECT key FROM ${this.t}
                                 WHERE source = s.source AND status = 'pending' AND next_at <= clock_timestamp()
                                 ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) c) c
       WHERE i.key = c.key
       RETURNING ${RETURNED.split(', ')
         .map((c) => `i.${c}`)
         .join(', ')}`,
      [node, leaseMs, sources, perSource],
    );
    return interleave(rows.map(toDelivery));
  }

  /**
   * Closes up to `limit` pending deliveries of sources no handler takes (stored for the relay and the record, with
   * nothing to do here), noting why. Returns how many.
   */
  async closeUnhandled(sources: readonly string[], limit: number): Promise<number> {
    if (sources.length === 0) return 0;
    const rows = await this.db.query<{ n: number }>(
      `WITH c AS (UPDATE ${this.t} SET status = 'done', finished_at = clock_timestamp(), error = 'no handler'
                  WHERE key IN (SELECT key FROM ${this.t} WHERE source = ANY($1::text[]) AND status = 'pending'
                                ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
                  RETURNING 1)
       SELECT count(*)::int AS n FROM c`,
      [sources, limit],
    );
    return rows[0]?.n ?? 0;
  }

  /** Claims one delivery by its key, if it is pending (a request waits for its reply: handle it first). */
  async claimKey(node: string, leaseMs: number, key: string): Promise<Delivery | undefined> {
    const rows = await this.db.query<InboxDbRow>(
      `UPDATE ${this.t}
       SET status = 'processing', attempts = attempts + 1, locked_by = $1,
           locked_until = clock_timestamp() + $2 * interval '1 millisecond'
       WHERE key = $3 AND status = 'pending'
       RETURNING ${RETURNED}`,
      [node, leaseMs, key],
    );
    return rows[0] ? toDelivery(rows[0]) : undefined;
  }

  /** Claims whose lease ran out (their worker died) go back to pending. Returns how many. */
  async expireLeases(): Promise<number> {
    const rows = await this.db.query<{ n: number }>(
      `WITH e AS (UPDATE ${this.t} SET status = 'pending', locked_by = NULL, locked_until = NULL
                  WHERE status = 'processing' AND locked_until < clock_timestamp() RETURNING 1)
       SELECT count(*)::int AS n FROM e`,
    );
    return rows[0]?.n ?? 0;
  }

  /**
   * Releases every claim: for the embedded database, whose data directory lock proves that no other process
   * holds one, so claims left at start are those of a process that died (kill -9). On PostgreSQL claims expire
   * with their lease instead.
   */
  async releaseClaims(): Promise<void> {
    await this.db.query(
      `UPDATE ${this.t} SET status = 'pending', locked_by = NULL, locked_until = NULL WHERE status = 'processing'`,
    );
  }

  /**
   * Keeps a message a poller could not store (or that is no event at all) as a dead letter: a `failed` row of type
   * `dead-letter` under `<source>:dead:<message id>`, with the reason as its error and the body as received, so it
   * is listed with the source's deliveries and pruned like them. A second copy of the same message is dropped.
   */
  async keepDeadLetter(letter: {
    source: string;
    messageId: string;
    receiveCount: number;
    reason: string;
    body: string;
  }): Promise<void> {
    await this.db.query(
      `INSERT INTO ${this.t} (key, source, kind, type, subtype, body, status, attempts, finished_at, error)
       VALUES ($1, $2, 'events', 'dead-letter', NULL, $3, 'failed', $4, clock_timestamp(), $5)
       ON CONFLICT (key) DO NOTHING`,
      [
        `${letter.source}:dead:${letter.messageId}`,
        letter.source,
        letter.body,
        letter.receiveCount,
        `dead letter after ${letter.receiveCount} receive(s): ${letter.reason}`,
      ],
    );
  }

  /** Marks deliveries handled (or needing no handling), in one statement. */
  async finish(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.db.query(
      `UPDATE ${this.t} SET status = 'done', finished_at = clock_timestamp(), locked_by = NULL,
         locked_until = NULL, error = NULL
       WHERE key = ANY($1::text[])`,
      [keys],
      { prepare: true },
    );
  }

  /** A delivery could not be handled: try again after `retryInMs`, or give up (null). */
  async fail(key: string, error: string, retryInMs: number | null): Promise<void> {
    await this.db.query(
      `UPDATE ${this.t}
       SET status = CASE WHEN $3::bigint IS NULL THEN 'failed' ELSE 'pending' END,
           next_at = clock_timestamp() + coalesce($3::bigint, 0) * interval '1 millisecond',
           finished_at = CASE WHEN $3::bigint IS NULL THEN clock_timestamp() END,
           locked_by = NULL, locked_until = NULL, error = $2
       WHERE key = $1`,
      [key, error, retryInMs],
    );
  }

  /**
   * Forgets deliveries handled (or given up) more than `days` ago and relayed if they were to be; their keys no
   * longer dedupe (senders retry within the hour). Returns how many rows went.
   */
  async prune(days: number): Promise<number> {
    const rows = await this.db.query<{ n: number }>(
      `WITH d AS (DELETE FROM ${this.t}
                  WHERE status IN ('done', 'failed') AND received_at < now() - $1 * interval '1 day'
                    AND (topics IS NULL OR relayed_at IS NOT NULL)
                  RETURNING 1)
       SELECT count(*)::int AS n FROM d`,
      [days],
    );
    return rows[0]?.n ?? 0;
  }

  /** Deliveries waiting for a worker, per source (for metrics and the storm tests). */
  async backlog(): Promise<Record<string, number>> {
    const rows = await this.db.query<{ source: string; n: number }>(
      `SELECT source, count(*)::int AS n FROM ${this.t} WHERE status = 'pending' GROUP BY source`,
    );
    return Object.fromEntries(rows.map((r) => [r.source, r.n]));
  }

  async get(key: string): Promise<DeliveryRecord | undefined> {
    const rows = await this.db.query<InboxDbRow>(
      `SELECT ${RETURNED}, relayed_at FROM ${this.t} WHERE key = $1`,
      [key],
    );
    return rows[0] ? toRecord(rows[0]) : undefined;
  }

  /** The newest deliveries first. */
  async list(limit = 100, options: { source?: string } = {}): Promise<DeliveryRecord[]> {
    const rows = await this.db.query<InboxDbRow>(
      `SELECT ${RETURNED}, relayed_at FROM ${this.t} WHERE ($2::text IS NULL OR source = $2)
       ORDER BY id DESC LIMIT $1`,
      [limit, options.source ?? null],
    );
    return rows.map(toRecord);
  }
}

const RETURNED =
  'id, key, source, kind, type, subtype, body, retry_num, partition_key, topics, attempts, received_at, status, error';

interface InboxDbRow {
  id: number;
  key: string;
  source: string;
  kind: string;
  type: string;
  subtype: string | null;
  body: string;
  retry_num: number | null;
  partition_key: string | null;
  topics: string[] | null;
  attempts: number;
  received_at: Date;
  status: DeliveryRecord['status'];
  error: string | null;
  relayed_at?: Date | null;
}

function toDelivery(r: InboxDbRow): Delivery {
  return {
    id: Number(r.id),
    key: r.key,
    source: r.source,
    kind: r.kind,
    type: r.type,
    subtype: r.subtype,
    body: r.body,
    retryNum: r.retry_num,
    partitionKey: r.partition_key,
    topics: r.topics,
    attempts: r.attempts,
    receivedAt: r.received_at,
  };
}

function toRecord(r: InboxDbRow): DeliveryRecord {
  return { ...toDelivery(r), status: r.status, error: r.error, relayedAt: r.relayed_at ?? null };
}

/** Oldest first within each source, the sources taking turns (a, b, c, a, b, a …), sources by their oldest. */
export function interleave(rows: Delivery[]): Delivery[] {
  const bySource = new Map<string, Delivery[]>();
  for (const row of [...rows].sort((a, b) => a.id - b.id)) {
    const list = bySource.get(row.source);
    if (list) list.push(row);
    else bySource.set(row.source, [row]);
  }
  const lists = [...bySource.values()];
  const out: Delivery[] = [];
  for (let i = 0; out.length < rows.length; i++) {
    for (const list of lists) if (i < list.length) out.push(list[i]!);
  }
  return out;
}
