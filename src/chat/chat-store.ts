import { randomUUID } from 'node:crypto';
import { type AuditEntry, auditInsertSql, auditJson } from '../capabilities/capacity/store.ts';
import type { Delivery } from '../gateway/inbox-store.ts';
import type { Notification } from '../notify/notification.ts';
import type { Db, DbTx } from '../store/db.ts';
import { GroupCommit } from '../store/group-commit.ts';

export type OutboxRole = 'reply' | 'plan' | 'progress' | 'plan-update' | 'notify';

/** A message to post (or a message to update), unique by `key`. */
export interface OutboxMessage {
  key: string;
  /**
   * How it is sent: `slack` (Web API, bot token), `slack-webhook`, `teams` (Workflows webhook), `jandi` (incoming
   * webhook), `console` (the page).
   */
  platform: string;
  op: 'post' | 'update';
  role: OutboxRole;
  /** The lane: messages of one lane go out one at a time, in order, paced (a Slack channel, a webhook). */
  channel: string;
  /** The named destination of the config (webhooks: where its URL is; never the URL itself). */
  destination?: string | null;
  /** A platform-neutral notification, rendered for the destination at send time (then `blocks` is unused). */
  notification?: Notification | null;
  /** Thread to post in; null for a progress message of a window whose plan starts the thread (slash command). */
  threadTs?: string | null;
  /** `update`: the message to update; null: the plan message of `windowId`. */
  targetTs?: string | null;
  windowId?: string | null;
  /** The inbox key of the command this answers. */
  eventKey?: string | null;
  /** Not before the command with this inbox key is handled and its answers are posted (progress after plan). */
  afterKey?: string | null;
  text: string;
  blocks?: unknown[] | null;
}

export interface OutboxRow extends OutboxMessage {
  id: number;
  attempts: number;
  /** A previous attempt's outcome is unknown: look before posting again. */
  uncertain: boolean;
  /** This claim's token (claimOutbox): what the sender does with the row counts only while it is still its. */
  claim: string | null;
  createdAt: Date;
  /** When any server last called this lane (its pace holds across servers); null: never. */
  laneLastAt: Date | null;
}

/** A claimed row as the sender's records name it: its id and the claim's token. */
export type ClaimedRow = Pick<OutboxRow, 'id' | 'claim'>;

/** One command's finish (ChatStore.finishInbox): its delivery, its answers, its audit records. */
interface Finish {
  key: string;
  answers: OutboxMessage[];
  audits: AuditEntry[];
}

export interface OutboxRecord extends OutboxRow {
  /** `unknown`: an attempt's outcome was lost and the destination cannot be asked; not sent again (never twice). */
  status: 'held' | 'pending' | 'posted' | 'failed' | 'unknown';
  ts: string | null;
  error: string | null;
}

/** The `ts` of an answer given in the HTTP response of the request itself. */
export const HTTP_RESPONSE = 'http-response';

/**
 * SQL of the chat outbox: messages to send, drained by workers that claim rows with `FOR UPDATE SKIP LOCKED` and a
 * lease, so that any number of servers can share it and a row whose worker died is taken again once its lease is
 * over. Chat's answers to a delivery are queued in the same statement that marks the delivery done in the
 * gateway's inbox (src/gateway/inbox-store.ts).
 */
export class ChatStore {
  readonly db: Db;
  readonly schema: string;

  constructor(db: Db, schema = 'chronops') {
    this.db = db;
    this.schema = schema;
  }

  private get s(): string {
    return this.schema;
  }

  // ---- the gateway's inbox, where chat's answers meet it ---------------------------------------------------

  /**
   * Marks a webhook handled, queues its answers and writes the audit records of its command, in one statement
   * (atomic: the records exist if and only if the answers do; and one turn of the embedded database's only
   * connection). Progress messages held back until this command's answers exist are released behind them: the
   * release reads the inserted answers first (the sub-selects in its WHERE), so its sequence numbers come after
   * theirs. The finishes of the commands handled together (a worker's claim) share the statement and its commit
   * (group commit); if that statement fails, each of them is written again alone, so one bad finish fails alone.
   */
  async finishInbox(
    row: Pick<Delivery, 'key'>,
    answers: OutboxMessage[],
    audits: AuditEntry[] = [],
  ): Promise<void> {
    const error = await this.finishes.submit({ key: row.key, answers, audits });
    if (error) throw error;
  }

  private readonly finishes = new GroupCommit<Finish, Error | undefined>(
    async (items) => {
      try {
        await this.writeFinishes(items);
        return items.map(() => undefined);
      } catch (error) {
        if (items.length === 1) throw error;
        return Promise.all(
          items.map((item) =>
            this.writeFinishes([item]).then(
              () => undefined,
              (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
            ),
          ),
        );
      }
    },
    { gather: 'io', maxBatch: 64 },
  );

  private async writeFinishes(items: Finish[]): Promise<void> {
    const keys = items.map((i) => i.key);
    await this.db.query(
      `WITH ins AS (
         INSERT INTO ${this.s}.chat_outbox (key, platform, op, role, channel, thread_ts, target_ts, window_id,
           event_key, after_key, text, blocks, destination, notification, status)
         SELECT x.key, x.platform, x.op, x.role, x.channel, x.thread_ts, x.target_ts, x.window_id, x.event_key,
           x.after_key, x.text, x.blocks, x.destination, x.notification, 'pending'
         FROM jsonb_to_recordset($1::jsonb) AS x(key text, platform text, op text, role text,
           channel text, thread_ts text, target_ts text, window_id text, event_key text, after_key text, text text,
           blocks jsonb, destination text, notification jsonb, n integer)
         ORDER BY x.n
         ON CONFLICT (key) DO NOTHING
         RETURNING seq),
       done AS (
         UPDATE ${this.s}.gateway_inbox SET status = 'done', finished_at = clock_timestamp(), locked_by = NULL,
           locked_until = NULL, error = NULL
         WHERE key = ANY($2::text[])
         RETURNING id),
       audit AS (${auditInsertSql(this.s, '$3')})
       UPDATE ${this.s}.chat_outbox SET status = 'pending',
         seq = nextval(pg_get_serial_sequence('${this.s}.chat_outbox', 'seq'))
       WHERE after_key = ANY($2::text[]) AND status = 'held'
         AND (SELECT count(*) FROM ins) >= 0 AND (SELECT count(*) FROM done) >= 0`,
      [outboxJson(items.flatMap((i) => i.answers)), keys, auditJson(items.flatMap((i) => i.audits))],
      { prepare: true },
    );
  }

  /**
   * Releases the outbox's claims: for the embedded database, whose data directory lock proves that no other
   * process holds one, so claims left at start are those of a process that died (kill -9). On PostgreSQL claims
   * expire with their lease instead.
   */
  async releaseClaims(): Promise<void> {
    await this.db.query(
      `UPDATE ${this.s}.chat_outbox SET locked_by = NULL, locked_until = NULL, claim = NULL
       WHERE locked_until IS NOT NULL`,
    );
  }

  /**
   * Forgets sent messages older than `outboxDays`, except the plan messages of windows that have not ended (a
   * cancel still updates them). Returns how many rows went.
   */
  async prune(outboxDays: number): Promise<number> {
    const outbox = await this.db.query<{ n: number }>(
      `WITH d AS (DELETE FROM ${this.s}.chat_outbox o
                  WHERE o.status IN ('posted', 'failed', 'unknown') AND o.created_at < now() - $1 * interval '1 day'
                    AND NOT (o.role = 'plan' AND EXISTS (SELECT 1 FROM ${this.s}.windows w
                                                         WHERE w.id = o.window_id AND w.status IN ('scheduled', 'active')))
                  RETURNING 1)
       SELECT count(*)::int AS n FROM d`,
      [outboxDays],
    );
    return outbox[0]?.n ?? 0;
  }

  // ---- outbox ---------------------------------------------------------------------------------------------------

  /**
   * Queues messages (a key already there is not queued again). A message with `afterKey` whose command is still
   * being handled is held until that command's answers are queued (see finishInbox). With `tx`, inside that
   * transaction: the messages exist if and only if the caller's own writes commit.
   */
  async enqueue(messages: OutboxMessage[], tx?: Pick<DbTx, 'query'>): Promise<void> {
    if (messages.length === 0) return;
    await (tx ?? this.db).query(
      `INSERT INTO ${this.s}.chat_outbox (key, platform, op, role, channel, thread_ts, target_ts, window_id,
         event_key, after_key, text, blocks, destination, notification, status)
       SELECT x.key, x.platform, x.op, x.role, x.channel, x.thread_ts, x.target_ts, x.window_id, x.event_key,
         x.after_key, x.text, x.blocks, x.destination, x.notification,
         CASE WHEN EXISTS (SELECT 1 FROM ${this.s}.gateway_inbox i
                           WHERE i.key = x.after_key AND i.status IN ('pending', 'processing'))
              THEN 'held' ELSE 'pending' END
       FROM jsonb_to_recordset($1::jsonb) AS x(key text, platform text, op text, role text,
         channel text, thread_ts text, target_ts text, window_id text, event_key text, after_key text, text text,
         blocks jsonb, destination text, notification jsonb, n integer)
       ORDER BY x.n
       ON CONFLICT (key) DO NOTHING`,
      [outboxJson(messages)],
    );
  }

  /**
   * Records answers given in an HTTP response (JANDI, Teams: the request was held for them), as sent, so that a
   * re-run of the same delivery sends nothing again (the keys are taken). Their `ts` is `http-response`.
   */
  async recordAnswered(messages: OutboxMessage[]): Promise<void> {
    if (messages.length === 0) return;
    await this.db.query(
      `INSERT INTO ${this.s}.chat_outbox (key, platform, op, role, channel, thread_ts, target_ts, window_id,
         event_key, after_key, text, blocks, destination, notification, status, ts, done_at)
       SELECT x.key, x.platform, x.op, x.role, x.channel, x.thread_ts, x.target_ts, x.window_id, x.event_key,
         x.after_key, x.text, x.blocks, x.destination, x.notification, 'posted', '${HTTP_RESPONSE}', clock_timestamp()
       FROM jsonb_to_recordset($1::jsonb) AS x(key text, platform text, op text, role text,
         channel text, thread_ts text, target_ts text, window_id text, event_key text, after_key text, text text,
         blocks jsonb, destination text, notification jsonb, n integer)
       ORDER BY x.n
       ON CONFLICT (key) DO NOTHING`,
      [outboxJson(messages)],
    );
  }

  /** Answers recorded for an HTTP response that came too late: sent the other way (the outbox) instead. */
  async sendAnsweredLater(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.db.query(
      `UPDATE ${this.s}.chat_outbox SET status = 'pending', ts = NULL, done_at = NULL,
         seq = nextval(pg_get_serial_sequence('${this.s}.chat_outbox', 'seq'))
       WHERE key = ANY($1::text[]) AND status = 'posted' AND ts = '${HTTP_RESPONSE}'`,
      [keys],
    );
  }

  /**
   * Claims the next message of each channel: the first in order among those ready (pending, or held by a
   * command that is no longer being handled), if it is due and not claimed. A channel's messages thus go out
   * one at a time, in order, across all servers. A claim is over when its lease ends, or as soon as the server
   * that made it is dead to the others (no live row in `nodes`: its lease, 8 s, ran out — the timers'
   * heartbeat) while this one's holds, so that a killed server holds up its channels for seconds, not for the
   * claim's whole lease. A message it may have been sending is marked uncertain: the next sender looks before
   * posting it again. Each claim gets a token (`claim`): a server that was dead to the others but is not (a
   * stalled heartbeat) finds, at its attempt, that the row is no longer its own (markAttempt). A server that
   * another live one could take for dead within `marginMs` claims nothing (it could not send what it claimed).
   */
  async claimOutbox(node: string, leaseMs: number, limit: number, marginMs = 0): Promise<OutboxRow[]> {
    // Each channel's first ready message is found through the open messages' index (channel, seq): the channels
    // one index step each (a skip scan), then each one's first ready row — not every open message read and
    // sorted at every claim, which cost as much as the backlog was long (100,000 waiting on PostgreSQL: 155 ms
    // against 1 ms; the same at 2,000; bench/outbox-claim.ts, docs/benchmarks.md). The heads are then locked
    // through their ids (index lookups), not joined back to the table: with statistics older than the table (it
    // grows all through a storm) the planner hashed the whole outbox for that join — 13,878 rows read per claim,
    // ~9 ms, in bench:gateway on PostgreSQL.
    // The claim plans and runs a few milliseconds even on an empty queue; on the embedded database that holds
    // the only connection (and the event loop), so look first, through the partial index.
    const open = await this.db.query(
      `SELECT 1 FROM ${this.s}.chat_outbox WHERE status IN ('pending', 'held') LIMIT 1`,
    );
    if (open.length === 0) return [];
    const rows = await this.db.query<OutboxDbRow>(
      `WITH RECURSIVE channels AS (
         (SELECT x.channel FROM ${this.s}.chat_outbox x WHERE x.status IN ('pending', 'held')
          ORDER BY x.channel LIMIT 1)
         UNION ALL
         SELECT (SELECT x.channel FROM ${this.s}.chat_outbox x
                 WHERE x.status IN ('pending', 'held') AND x.channel > c.channel ORDER BY x.channel LIMIT 1)
         FROM channels c WHERE c.channel IS NOT NULL),
       heads AS (
         SELECT h.id, h.next_at, h.locked_until, h.locked_by FROM channels c
         CROSS JOIN LATERAL (
           SELECT x.id, x.next_at, x.locked_until, x.locked_by FROM ${this.s}.chat_outbox x
           WHERE x.channel = c.channel AND x.status IN ('pending', 'held')
             AND (x.status = 'pending'
                  OR NOT EXISTS (SELECT 1 FROM ${this.s}.gateway_inbox i
                                 WHERE i.key = x.after_key AND i.status IN ('pending', 'processing')))
           ORDER BY x.seq LIMIT 1) h
         WHERE c.channel IS NOT NULL)
       UPDATE ${this.s}.chat_outbox o
       SET locked_by = $1, locked_until = clock_timestamp() + $2 * interval '1 millisecond', claim = $4::uuid
       FROM (SELECT y.id FROM ${this.s}.chat_outbox y
             WHERE y.id = ANY (ARRAY(
               SELECT h.id FROM heads h
               WHERE h.next_at <= clock_timestamp()
                 AND ${seenAliveSql(this.s, '$1', '$5')}
                 AND (h.locked_until IS NULL OR h.locked_until < clock_timestamp()
                      OR (h.locked_by <> $1
                          AND EXISTS (SELECT 1 FROM ${this.s}.nodes me
                                      WHERE me.node = $1 AND me.lease_until > clock_timestamp())
                          AND NOT EXISTS (SELECT 1 FROM ${this.s}.nodes n
                                          WHERE n.node = h.locked_by AND n.lease_until > clock_timestamp())))))
             ORDER BY y.seq LIMIT $3 FOR UPDATE OF y SKIP LOCKED) c
       WHERE o.id = c.id
       RETURNING o.*, (SELECT l.last_at FROM ${this.s}.notify_lanes l WHERE l.lane = o.channel) AS lane_last_at`,
      [node, leaseMs, limit, randomUUID(), marginMs],
    );
    return rows.map(toOutbox);
  }

  /**
   * About to call the platform: from now until an answer, the outcome is unknown. The lane's last call is
   * recorded in the same statement (its pace, for every server).
   *
   * Only while the row is still this claim's and nobody can take it over for `marginMs` (the call's time):
   * another server takes a claim over when its lease ends or when the claiming server is dead to it (its `nodes`
   * lease ran out: a stalled heartbeat under load, a server stopping). So the attempt needs the claim's token,
   * the claim's lease, and this server's `nodes` lease — unless no other server is alive to take it. False: the
   * row is not this sender's to send (any more); it must not call the platform.
   */
  async markAttempt(row: ClaimedRow, guard: { node: string; marginMs: number }): Promise<boolean> {
    const rows = await this.db.query(
      `WITH a AS (UPDATE ${this.s}.chat_outbox o SET attempts = attempts + 1, uncertain = true
                  WHERE o.id = $1 AND o.claim = $2::uuid AND o.status IN ('pending', 'held')
                    AND o.locked_until > clock_timestamp() + $4 * interval '1 millisecond'
                    AND ${seenAliveSql(this.s, '$3', '$4')}
                  RETURNING channel)
       INSERT INTO ${this.s}.notify_lanes (lane, last_at) SELECT channel, clock_timestamp() FROM a
       ON CONFLICT (lane) DO UPDATE SET last_at = EXCLUDED.last_at
       RETURNING lane`,
      [row.id, row.claim, guard.node, guard.marginMs],
      { prepare: true },
    );
    return rows.length > 0;
  }

  /**
   * The last attempt's outcome is unknown and the destination cannot be asked (a webhook): the message is not
   * sent again, so that it is never sent twice; the row says so. (Only while the row is this claim's.)
   */
  async markUnknown(row: ClaimedRow, error: string): Promise<void> {
    await this.db.query(
      `UPDATE ${this.s}.chat_outbox
       SET status = 'unknown', done_at = clock_timestamp(), locked_by = NULL, locked_until = NULL, claim = NULL,
           error = $3
       WHERE id = $1 AND claim IS NOT DISTINCT FROM $2::uuid`,
      [row.id, row.claim, error],
    );
  }

  /**
   * Sent. The lane's pace counts from this answer (so requests arrive at least the interval apart). Recorded
   * whoever holds the row now: the platform has the message, and a server that took the row over must not post
   * it again (its attempt needs the row still pending).
   */
  async markSent(row: ClaimedRow, ts: string | null): Promise<void> {
    await this.db.query(
      `WITH s AS (UPDATE ${this.s}.chat_outbox
                  SET status = 'posted', ts = $2, uncertain = false, done_at = clock_timestamp(), locked_by = NULL,
                      locked_until = NULL, claim = NULL, error = NULL
                  WHERE id = $1
                  RETURNING channel)
       UPDATE ${this.s}.notify_lanes l SET last_at = clock_timestamp() FROM s WHERE l.lane = s.channel`,
      [row.id, ts],
      { prepare: true },
    );
  }

  /**
   * Try again after `delayMs`; `certain`: the platform did not carry out the last attempt. (Only while the row is
   * this claim's: a server that took it over decides.)
   */
  async markRetry(row: ClaimedRow, delayMs: number, certain: boolean, error: string): Promise<void> {
    await this.db.query(
      `UPDATE ${this.s}.chat_outbox
       SET next_at = clock_timestamp() + $2 * interval '1 millisecond',
           uncertain = CASE WHEN $3 THEN false ELSE uncertain END,
           locked_by = NULL, locked_until = NULL, claim = NULL, error = $4
       WHERE id = $1 AND claim IS NOT DISTINCT FROM $5::uuid`,
      [row.id, delayMs, certain, error, row.claim],
    );
  }

  /** Given up. (Only while the row is this claim's.) */
  async markFailed(row: ClaimedRow, error: string): Promise<void> {
    await this.db.query(
      `UPDATE ${this.s}.chat_outbox
       SET status = 'failed', done_at = clock_timestamp(), locked_by = NULL, locked_until = NULL, claim = NULL,
           error = $2
       WHERE id = $1 AND claim IS NOT DISTINCT FROM $3::uuid`,
      [row.id, error, row.claim],
    );
  }

  /**
   * A person decided to send again a notification that failed or whose outcome is unknown (they checked the room):
   * back in its lane's queue, attempts from zero. Returns false when there is no such message in those states.
   */
  async resendNotification(key: string): Promise<boolean> {
    const rows = await this.db.query<{ id: number }>(
      `UPDATE ${this.s}.chat_outbox
       SET status = 'pending', attempts = 0, uncertain = false, error = NULL, done_at = NULL, next_at = now(),
           seq = nextval(pg_get_serial_sequence('${this.s}.chat_outbox', 'seq')), locked_by = NULL, locked_until = NULL
       WHERE key = $1 AND destination IS NOT NULL AND status IN ('failed', 'unknown')
       RETURNING id`,
      [key],
    );
    return rows.length > 0;
  }

  /**
   * Puts a message at the back of its channel's queue (it must wait for one queued after it). (Only while the row
   * is this claim's.)
   */
  async requeue(row: ClaimedRow): Promise<void> {
    await this.db.query(
      `UPDATE ${this.s}.chat_outbox
       SET seq = nextval(pg_get_serial_sequence('${this.s}.chat_outbox', 'seq')), status = 'pending',
           locked_by = NULL, locked_until = NULL, claim = NULL
       WHERE id = $1 AND claim IS NOT DISTINCT FROM $2::uuid`,
      [row.id, row.claim],
    );
  }

  /** The plan message of a window: whether it is posted yet, and its ts. */
  async planMessage(
    windowId: string,
  ): Promise<{ status: string; ts: string | null; channel: string } | null> {
    const rows = await this.db.query<{ status: string; ts: string | null; channel: string }>(
      `SELECT status, ts, channel FROM ${this.s}.chat_outbox
       WHERE window_id = $1 AND role = 'plan' ORDER BY id LIMIT 1`,
      [windowId],
    );
    return rows[0] ?? null;
  }

  async listOutbox(options: { windowId?: string; limit?: number } = {}): Promise<OutboxRecord[]> {
    const rows = await this.db.query<OutboxDbRow>(
      `SELECT * FROM ${this.s}.chat_outbox WHERE ($1::text IS NULL OR window_id = $1) ORDER BY seq LIMIT $2`,
      [options.windowId ?? null, options.limit ?? 500],
    );
    return rows.map((r) => ({ ...toOutbox(r), status: r.status, ts: r.ts, error: r.error }));
  }

  /** The latest messages to named destinations (notifications), newest first. */
  async listNotifications(
    options: { destination?: string; status?: string; limit?: number } = {},
  ): Promise<OutboxRecord[]> {
    const rows = await this.db.query<OutboxDbRow>(
      `SELECT * FROM ${this.s}.chat_outbox
       WHERE destination IS NOT NULL AND ($1::text IS NULL OR destination = $1) AND ($2::text IS NULL OR status = $2)
       ORDER BY id DESC LIMIT $3`,
      [options.destination ?? null, options.status ?? null, options.limit ?? 100],
    );
    return rows.map((r) => ({ ...toOutbox(r), status: r.status, ts: r.ts, error: r.error }));
  }
}

/**
 * SQL: the server named by the parameter `node` will be seen alive by the others for `marginMs` more (its lease in
 * `nodes`), or no other server is alive to take its claims over. A claim (claimOutbox) and an attempt
 * (markAttempt) are made only then.
 */
function seenAliveSql(s: string, node: string, marginMs: string): string {
  return `(EXISTS (SELECT 1 FROM ${s}.nodes me WHERE me.node = ${node}
                     AND me.lease_until > clock_timestamp() + ${marginMs} * interval '1 millisecond')
           OR NOT EXISTS (SELECT 1 FROM ${s}.nodes n WHERE n.node <> ${node} AND n.lease_until > clock_timestamp()))`;
}

interface OutboxDbRow {
  id: number;
  key: string;
  platform: string;
  op: OutboxMessage['op'];
  role: OutboxRole;
  channel: string;
  thread_ts: string | null;
  target_ts: string | null;
  window_id: string | null;
  event_key: string | null;
  after_key: string | null;
  text: string;
  blocks: unknown[] | null;
  destination: string | null;
  notification: Notification | null;
  lane_last_at?: Date | null;
  status: OutboxRecord['status'];
  attempts: number;
  uncertain: boolean;
  claim?: string | null;
  ts: string | null;
  created_at: Date;
  error: string | null;
}

function toOutbox(r: OutboxDbRow): OutboxRow {
  return {
    id: Number(r.id),
    key: r.key,
    platform: r.platform,
    op: r.op,
    role: r.role,
    channel: r.channel,
    threadTs: r.thread_ts,
    targetTs: r.target_ts,
    windowId: r.window_id,
    eventKey: r.event_key,
    afterKey: r.after_key,
    text: r.text,
    blocks: r.blocks,
    destination: r.destination,
    notification: r.notification,
    attempts: r.attempts,
    uncertain: r.uncertain,
    claim: r.claim ?? null,
    createdAt: r.created_at,
    laneLastAt: r.lane_last_at ?? null,
  };
}

function outboxJson(messages: OutboxMessage[]): string {
  return JSON.stringify(
    messages.map((m, n) => ({
      n,
      key: m.key,
      platform: m.platform,
      op: m.op,
      role: m.role,
      channel: m.channel,
      thread_ts: m.threadTs ?? null,
      target_ts: m.targetTs ?? null,
      window_id: m.windowId ?? null,
      event_key: m.eventKey ?? null,
      after_key: m.afterKey ?? null,
      text: m.text,
      blocks: m.blocks ?? null,
      destination: m.destination ?? null,
      notification: m.notification ?? null,
    })),
  );
}
