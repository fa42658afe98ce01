// The timer API every capability uses: schedule durable due rows, and register the handler that runs them.
// The mechanism (src/timers/timers.ts) owns the one loop that sleeps until the next due time, the one claim
// path (each row claimed once across all servers), the pg-boss queue that carries the work, and the guarantee
// that a (kind, key) runs on at most one server at a time.
import type { DbTx } from '../store/db.ts';

/** Something to run at a time. */
export interface TimerSpec<P = unknown> {
  /** The registered handler that runs it, `<capability>.<what>`, e.g. `power.transition`. */
  kind: string;
  /**
   * Serialization key, e.g. a resource name: at most one handler run per (kind, key) at a time, across all
   * servers. Rows of a busy key wait; rows of other keys never wait for it.
   */
  key: string;
  dueAt: Date;
  /** JSON the handler receives. */
  payload?: P;
  /**
   * Idempotency key: a second schedule with the same (kind, dedupe) is dropped (or, with `replace`, moves the
   * pending row). Unique per kind for as long as the row is kept (finished rows are pruned after 7 days).
   */
  dedupe?: string;
  /** A uuid of the caller's choosing (e.g. the id of its own record); random otherwise. */
  id?: string;
}

/** A due row handed to its handler. */
export interface FiredTimer<P = unknown> {
  id: string;
  kind: string;
  key: string;
  dueAt: Date;
  firedAt: Date;
  payload: P;
  dedupe: string | null;
}

/** Where a statement runs: the database, or a caller's transaction. */
export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>;
}

export interface TimerRunContext {
  /** This server's name. */
  node: string;
  kind: string;
  key: string;
  /** 0 on the first attempt; more after a failure (retried) or a server that died or stopped (taken over). */
  attempt: number;
  /** The work was begun before by a server that died or handed it back: look at what it may have done. */
  resumed: boolean;
  /** A failure now will be retried (false on the last attempt). */
  willRetry: boolean;
  /** Aborted when this server hands the work back (SIGTERM after the grace) or loses its lease. */
  signal: AbortSignal;
  /**
   * Finishes the rows of this run inside the handler's own transaction, so that its outcome and the completion
   * commit together (at most once). Throws `LostClaimError` when another server has taken the work over; the
   * transaction must then roll back. If the handler returns without calling it, the rows are finished after.
   */
  settle(tx: DbTx): Promise<void>;
}

export interface TimerHandler<P = unknown> {
  kind: string;
  /**
   * Runs in the claim's transaction, once per claim, for the rows just fired: e.g. record that they fired.
   * Returns ids of rows not to run (finished as `skipped`) and something to do after the commit.
   */
  onFire?(
    tx: DbTx,
    timers: FiredTimer<P>[],
  ): Promise<{ skip?: readonly string[]; afterCommit?: () => void } | undefined>;
  /**
   * Runs every fired row of one (kind, key) — usually one; several when several fell due while the key was
   * busy or together. Throwing fails the attempt: it is retried with backoff while retries remain.
   */
  run(timers: FiredTimer<P>[], ctx: TimerRunContext): Promise<void>;
  /** After the last attempt failed: the rows are finished as `failed`. */
  retry?: { limit?: number; delaySeconds?: number; backoff?: boolean; maxDelaySeconds?: number };
}

/** The scheduling half of the API, for capabilities (the host gives them the `Timers` instance). */
export interface TimerScheduler {
  /**
   * Stores rows to run at their time. With `tx`, inside the caller's transaction (the row exists iff the
   * caller's record does). `replace`: a pending row with the same (kind, dedupe) moves to the new time/payload.
   */
  schedule(specs: readonly TimerSpec[], options?: { tx?: Queryable; replace?: boolean }): Promise<void>;
  /** Cancels pending rows (by id, or by dedupe key, or every pending row of a key). Returns how many. */
  cancel(
    selector: { kind: string; ids?: readonly string[]; dedupe?: readonly string[]; key?: string },
    options?: { tx?: Queryable },
  ): Promise<number>;
  /**
   * Rows were stored by the caller's own statement (`TimerRows.insertCte`), or changed: arm the loop for
   * `dueAt` (no database round trip), or with null look at the schedule again now.
   */
  noteDue(dueAt: Date | null): void;
}

/** The work was taken over by another server (this one was thought dead, or handed it back): drop the outcome. */
export class LostClaimError extends Error {
  override readonly name = 'LostClaimError';
}
