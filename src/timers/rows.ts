// The SQL of the timer tables (see migrations.ts). Capabilities schedule and cancel through it inside their own
// transactions (or inside one statement: `insertCte`), so that a due row exists exactly when their record does.
import { randomUUID } from 'node:crypto';
import type { FiredTimer, Queryable, TimerSpec } from './port.ts';

export interface TimerRow {
  id: string;
  kind: string;
  key: string;
  due_at: Date;
  fired_at: Date | null;
  payload: unknown;
  dedupe: string | null;
}

export function toFired<P>(r: TimerRow): FiredTimer<P> {
  return {
    id: r.id,
    kind: r.kind,
    key: r.key,
    dueAt: r.due_at,
    firedAt: r.fired_at ?? r.due_at,
    payload: r.payload as P,
    dedupe: r.dedupe,
  };
}

export const timerCols = `id, kind, key, due_at, fired_at, payload, dedupe`;

export class TimerRows {
  readonly schema: string;

  constructor(schema: string) {
    if (!/^[a-z_][a-z0-9_]{0,50}$/.test(schema)) throw new Error(`bad schema name ${schema}`);
    this.schema = schema;
  }

  private get s(): string {
    return this.schema;
  }

  /** The rows of `specs` as the JSON that `insertCte` reads. */
  json(specs: readonly TimerSpec[]): string {
    return JSON.stringify(
      specs.map((t) => ({
        id: t.id ?? randomUUID(),
        kind: t.kind,
        key: t.key,
        due_at: t.dueAt.toISOString(),
        payload: t.payload ?? {},
        dedupe: t.dedupe ?? null,
      })),
    );
  }

  /**
   * An INSERT of the rows in JSON parameter `param` (from `json`), for a data-modifying CTE in a caller's own
   * statement. A row whose id or (kind, dedupe) exists already is dropped.
   */
  insertCte(param: string): string {
    return `INSERT INTO ${this.s}.timers (id, kind, key, due_at, payload, dedupe)
         SELECT x.id, x.kind, x.key, x.due_at, coalesce(x.payload, '{}'::jsonb), x.dedupe
         FROM jsonb_to_recordset(${param}::jsonb) AS x(id uuid, kind text, key text, due_at timestamptz, payload jsonb, dedupe text)
         ON CONFLICT DO NOTHING`;
  }

  async schedule(q: Queryable, specs: readonly TimerSpec[], replace = false): Promise<void> {
    if (specs.length === 0) return;
    if (!replace) {
      await q.query(this.insertCte('$1'), [this.json(specs)]);
      return;
    }
    // Move pending rows with the same dedupe key, then insert the others.
    await q.query(
      `WITH x AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, kind text, key text, due_at timestamptz, payload jsonb, dedupe text)),
       moved AS (
         UPDATE ${this.s}.timers t SET due_at = x.due_at, payload = coalesce(x.payload, '{}'::jsonb), key = x.key
         FROM x WHERE t.kind = x.kind AND t.dedupe = x.dedupe AND t.status = 'pending'
         RETURNING t.kind, t.dedupe)
       INSERT INTO ${this.s}.timers (id, kind, key, due_at, payload, dedupe)
       SELECT x.id, x.kind, x.key, x.due_at, coalesce(x.payload, '{}'::jsonb), x.dedupe FROM x
       WHERE NOT EXISTS (SELECT 1 FROM moved m WHERE m.kind = x.kind AND m.dedupe = x.dedupe)
       ON CONFLICT DO NOTHING`,
      [this.json(specs)],
    );
  }

  async cancel(
    q: Queryable,
    selector: { kind: string; ids?: readonly string[]; dedupe?: readonly string[]; key?: string },
  ): Promise<number> {
    if (!selector.ids && !selector.dedupe && selector.key === undefined) {
      throw new Error('cancel: give ids, dedupe keys or a key');
    }
    const rows = await q.query<{ n: number }>(
      `WITH c AS (
         UPDATE ${this.s}.timers SET status = 'cancelled', finished_at = clock_timestamp()
         WHERE kind = $1 AND status = 'pending'
           AND ($2::uuid[] IS NULL OR id = ANY($2::uuid[]))
           AND ($3::text[] IS NULL OR dedupe = ANY($3::text[]))
           AND ($4::text IS NULL OR key = $4)
         RETURNING 1)
       SELECT count(*)::int AS n FROM c`,
      [selector.kind, selector.ids ?? null, selector.dedupe ?? null, selector.key ?? null],
    );
    return rows[0]?.n ?? 0;
  }
}
