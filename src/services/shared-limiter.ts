// The per-service concurrency limit across every chronops server on one PostgreSQL database.
//
// A service with `concurrency: N` has N slots, 0 … N-1. A slot is a PostgreSQL session-level advisory lock
// (key: the schema and the service's name, slot number) held by one dedicated connection of the server that uses
// it. So:
//
// - at most N calls to the service are in flight across all servers (a lock is held by one session at a time);
// - a server that crashes (kill -9, its machine gone) loses its connection, and PostgreSQL releases its locks with
//   it: the slots are free again as soon as the server notices the connection is closed, without a lease to wait
//   out (a machine that vanishes without closing its TCP connections: when its keepalive gives up);
// - a slot freed while another call of this server waits passes to it without a round trip (a burst of calls of
//   one server is not slowed down by the database); a slot nobody here waits for is unlocked (gathered: one
//   statement for the slots freed in the same turn), and a server whose callers wait for slots held elsewhere
//   asks again every `pollMs`.
//
// The embedded database (PGlite) is one process: the in-process ServiceLimiter is the whole limit there.
import pg from 'pg';
import type { Logger } from '../kernel/logger.ts';
import { whenAborted } from './abort.ts';
import type { Limiter } from './limiter.ts';

interface Waiter {
  resolve: (slot: number) => void;
  reject: (error: unknown) => void;
  /** Forgets its abort listener (src/services/abort.ts). */
  forget?: () => void;
}

interface ServiceSlots {
  limit: number;
  /** Slots whose lock this server holds, not in use. */
  free: number[];
  /** Slots whose lock this server holds (free or in use), and since when they serve calls (0: not yet). */
  held: Map<number, number>;
  /** Free slots are kept (not unlocked) until then: a burst announced by `reserve`. */
  keepUntil: number;
  trim?: NodeJS.Timeout;
  inUse: number;
  peak: number;
  waiting: Waiter[];
  /** Slots to unlock at the next flush. */
  unlock: number[];
  flushing: boolean;
  asking: boolean;
  askAgain: boolean;
  retry?: NodeJS.Timeout;
  /** Failed asks in a row (the database not answering): the next waits longer. */
  failures: number;
}

export interface SharedServiceLimiterOptions {
  connectionString: string;
  /** The lock keys' namespace: servers of another schema (another chronops) have their own slots. */
  schema: string;
  logger?: Logger;
  /** How often a server whose callers wait asks again for slots held by others (default 50 ms). */
  pollMs?: number;
  /**
   * How long a slot taken from the database passes from call to call of this server before it is given back
   * for every server to compete for (default 2 s): a server with a long queue does not keep the others out.
   */
  turnMs?: number;
}

export class SharedServiceLimiter implements Limiter {
  readonly #o: SharedServiceLimiterOptions;
  readonly #services = new Map<string, ServiceSlots>();
  #client: pg.Client | undefined;
  #connecting: Promise<pg.Client> | undefined;
  /** Changes when the connection is lost: the locks of the previous one are gone. */
  #epoch = 0;
  #closed = false;
  /** The connection's queries run one at a time: a chain. */
  #chain: Promise<unknown> = Promise.resolve();

  constructor(options: SharedServiceLimiterOptions) {
    this.#o = options;
  }

  #slots(service: string, limit: number): ServiceSlots {
    let s = this.#services.get(service);
    if (!s) {
      s = {
        limit,
        free: [],
        held: new Map(),
        keepUntil: 0,
        inUse: 0,
        peak: 0,
        waiting: [],
        unlock: [],
        flushing: false,
        asking: false,
        askAgain: false,
        failures: 0,
      };
      this.#services.set(service, s);
    }
    s.limit = limit;
    return s;
  }

  tryAcquire(service: string, limit: number): (() => void) | undefined {
    if (this.#closed) return undefined;
    const s = this.#slots(service, limit);
    const slot = s.free.pop();
    if (slot === undefined) return undefined;
    if (s.held.get(slot) === 0) s.held.set(slot, Date.now());
    return this.#use(service, s, slot);
  }

  async acquire(service: string, limit: number, signal?: AbortSignal): Promise<() => void> {
    if (this.#closed) throw new Error('the service limiter is closed');
    const now = this.tryAcquire(service, limit);
    if (now) return now;
    const s = this.#slots(service, limit);
    const slot = await new Promise<number>((resolve, reject) => {
      const w: Waiter = { resolve, reject };
      if (signal) {
        if (signal.aborted) return reject(signal.reason ?? new Error('aborted'));
        w.forget = whenAborted(signal, () => {
          const i = s.waiting.indexOf(w);
          if (i >= 0) s.waiting.splice(i, 1);
          reject(signal.reason ?? new Error('aborted'));
        });
      }
      s.waiting.push(w);
      this.#ask(service, s);
    });
    return this.#use(service, s, slot);
  }

  /** A slot in use by a call: the release function gives it to the next caller here, keeps it, or unlocks it. */
  #use(service: string, s: ServiceSlots, taken: number): () => void {
    s.inUse += 1;
    if (s.inUse > s.peak) s.peak = s.inUse;
    const takenEpoch = this.#epoch;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      s.inUse -= 1;
      // A slot of a lost connection is not ours any more.
      if (takenEpoch !== this.#epoch || !s.held.has(taken)) return;
      const turnOver = Date.now() - s.held.get(taken)! > (this.#o.turnMs ?? 2000);
      const next = turnOver ? undefined : s.waiting.shift();
      if (next) {
        // Straight to the next caller of this server: no round trip.
        next.forget?.();
        next.resolve(taken);
        return;
      }
      if (!turnOver && Date.now() < s.keepUntil) {
        // A burst announced by reserve() is still coming: kept for it.
        s.free.push(taken);
        return;
      }
      s.unlock.push(taken);
      s.held.delete(taken);
      this.#flushSoon(service, s);
      // Its turn is over: this server's callers ask again after the others have had a look.
      if (turnOver && s.waiting.length > 0) this.#askLater(service, s);
    };
  }

  /** Asks PostgreSQL for as many free slots as callers wait (one statement for all of them). */
  #ask(service: string, s: ServiceSlots): void {
    if (s.asking) {
      s.askAgain = true;
      return;
    }
    if (s.retry) return;
    s.asking = true;
    // Gathered: every caller of this turn is counted in one ask.
    setImmediate(() => {
      this.#take(service, s)
        .then(
          () => {
            s.failures = 0;
          },
          (error: unknown) => {
            // The callers keep waiting (a call is not refused for the database's moment); asked again later.
            if (s.failures++ === 0) {
              this.#o.logger?.error({ err: error, service }, 'service limit: could not take slots');
            }
          },
        )
        .finally(() => {
          s.asking = false;
          if (s.waiting.length === 0 || this.#closed) return;
          if (s.askAgain && s.failures === 0) {
            s.askAgain = false;
            this.#ask(service, s);
          } else {
            // Every slot is held by someone else (or the database did not answer): ask again a little later.
            s.askAgain = false;
            this.#askLater(service, s);
          }
        });
    });
  }

  #askLater(service: string, s: ServiceSlots): void {
    if (s.retry || this.#closed) return;
    const poll = this.#o.pollMs ?? 50;
    s.retry = setTimeout(
      () => {
        s.retry = undefined;
        this.#ask(service, s);
      },
      Math.min(2000, poll * 2 ** Math.min(5, s.failures)),
    );
  }

  async #take(service: string, s: ServiceSlots): Promise<void> {
    const want = s.waiting.length;
    if (want === 0) return;
    const candidates = this.#candidates(s);
    if (candidates.length === 0) return;
    const rows = await this.#lock(service, candidates, want);
    if (rows === undefined) return;
    const now = Date.now();
    for (const { k } of rows) {
      s.held.set(k, now);
      const w = s.waiting.shift();
      if (w) {
        w.forget?.();
        w.resolve(k);
      } else {
        // The caller gave up meanwhile.
        s.free.push(k);
      }
    }
    if (s.free.length > 0 && s.waiting.length === 0 && Date.now() >= s.keepUntil) this.#trimFree(service, s);
    if (rows.length > 0 && s.waiting.length > 0) s.askAgain = true;
  }

  /**
   * Locks up to `want` of the candidate slots; undefined when the connection was lost meanwhile (the locks went
   * with it). unnest is read one row at a time and the filter stops at the LIMIT: only the slots returned are locked.
   */
  async #lock(
    service: string,
    candidates: number[],
    want: number,
  ): Promise<Array<{ k: number }> | undefined> {
    const epoch = this.#epoch;
    const rows = await this.#query<{ k: number }>(
      `SELECT k FROM unnest($2::int[]) AS k WHERE pg_try_advisory_lock(hashtext($1), k) LIMIT $3`,
      [this.#key(service), candidates, want],
    );
    return epoch === this.#epoch ? rows : undefined;
  }

  /** Unlocks the free slots (nobody here waits for them). */
  #trimFree(service: string, s: ServiceSlots): void {
    for (const k of s.free.splice(0)) {
      s.unlock.push(k);
      s.held.delete(k);
    }
    if (s.unlock.length > 0) this.#flushSoon(service, s);
  }

  /**
   * Ahead of a burst of `n` calls (a fire of due jobs, seconds before their time): connects, and takes up to `n`
   * slots now, kept for this server's calls until `until` (ms since the epoch) — the burst then starts without a
   * round trip. Slots still unused then are given back.
   */
  async reserve(service: string, limit: number, n: number, until: number): Promise<void> {
    if (this.#closed) return;
    const s = this.#slots(service, limit);
    s.keepUntil = Math.max(s.keepUntil, until);
    if (s.trim) clearTimeout(s.trim);
    s.trim = setTimeout(
      () => {
        s.trim = undefined;
        if (s.waiting.length === 0) this.#trimFree(service, s);
      },
      Math.max(0, s.keepUntil - Date.now()),
    );
    s.trim.unref();
    const want = Math.min(n, limit) - s.held.size;
    if (want <= 0) return;
    const candidates = this.#candidates(s);
    if (candidates.length === 0) return;
    const rows = await this.#lock(service, candidates, want);
    if (rows === undefined) return;
    for (const { k } of rows) {
      s.held.set(k, 0);
      const w = s.waiting.shift();
      if (w) {
        s.held.set(k, Date.now());
        w.forget?.();
        w.resolve(k);
      } else {
        s.free.push(k);
      }
    }
  }

  /** Slots this server does not hold, from a place of its own (servers start their search at different slots). */
  #candidates(s: ServiceSlots): number[] {
    const unlocking = new Set(s.unlock);
    const candidates: number[] = [];
    const start = Math.floor(Math.random() * s.limit);
    for (let i = 0; i < s.limit; i++) {
      const k = (start + i) % s.limit;
      if (!s.held.has(k) && !unlocking.has(k)) candidates.push(k);
    }
    return candidates;
  }

  #flushSoon(service: string, s: ServiceSlots): void {
    if (s.flushing) return;
    s.flushing = true;
    setImmediate(() => {
      s.flushing = false;
      const slots = s.unlock.splice(0);
      if (slots.length === 0 || !this.#client) return;
      const epoch = this.#epoch;
      this.#query(`SELECT pg_advisory_unlock(hashtext($1), k) FROM unnest($2::int[]) AS k`, [
        this.#key(service),
        slots,
      ])
        .then(() => {
          // Someone here asked meanwhile: the slots just freed may be theirs.
          if (epoch === this.#epoch && s.waiting.length > 0) this.#ask(service, s);
        })
        .catch((error: unknown) =>
          this.#o.logger?.warn({ err: error, service }, 'service limit: could not release slots'),
        );
    });
  }

  #key(service: string): string {
    return `chronops-service-slot:${this.#o.schema}:${service}`;
  }

  #query<T>(sql: string, params: unknown[]): Promise<T[]> {
    const run = this.#chain.then(async () => {
      const client = await this.#connect();
      return (await client.query(sql, params)).rows as T[];
    });
    this.#chain = run.catch(() => {});
    return run;
  }

  #connect(): Promise<pg.Client> {
    if (this.#client) return Promise.resolve(this.#client);
    if (this.#closed) return Promise.reject(new Error('the service limiter is closed'));
    this.#connecting ??= (async () => {
      const client = new pg.Client({
        connectionString: this.#o.connectionString,
        application_name: 'chronops-service-slots',
        keepAlive: true,
      });
      const lost = (error?: Error) => {
        if (this.#client !== client) return;
        this.#client = undefined;
        this.#epoch += 1;
        // The session's locks went with it: nothing held here any more. Calls in flight finish; their slots
        // are not given back (they are not ours), so the limit may be passed until they end.
        for (const [service, s] of this.#services) {
          s.held.clear();
          s.free = [];
          s.unlock = [];
          if (s.waiting.length > 0) this.#ask(service, s);
        }
        if (!this.#closed) {
          this.#o.logger?.warn({ err: error }, 'service limit: connection lost; slots taken again as needed');
        }
      };
      client.on('error', lost);
      client.on('end', () => lost());
      try {
        await client.connect();
      } catch (error) {
        this.#connecting = undefined;
        throw error;
      }
      // The connection alone does not keep the process alive (a host that stops with a call still going); a
      // process awaiting a slot must have something else that does (a server: its listening socket).
      (
        client as unknown as { connection?: { stream?: { unref?: () => void } } }
      ).connection?.stream?.unref?.();
      this.#client = client;
      this.#connecting = undefined;
      return client;
    })();
    return this.#connecting;
  }

  inFlight(service: string): number {
    return this.#services.get(service)?.inUse ?? 0;
  }

  peak(service: string): number {
    return this.#services.get(service)?.peak ?? 0;
  }

  /**
   * Ends the connection when no call holds or waits for a slot (its next call connects again); with calls going,
   * nothing changes.
   */
  async idle(): Promise<void> {
    for (const s of this.#services.values()) {
      if (s.inUse > 0 || s.waiting.length > 0 || s.asking) return;
    }
    await this.#chain;
    const client = this.#client;
    if (!client) return;
    this.#client = undefined;
    this.#epoch += 1;
    for (const s of this.#services.values()) {
      s.held.clear();
      s.free = [];
      s.unlock = [];
    }
    await client.end().catch(() => {});
  }

  /** Ends the connection (its locks go with it); waiting callers are refused. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const s of this.#services.values()) {
      if (s.retry) clearTimeout(s.retry);
      if (s.trim) clearTimeout(s.trim);
      for (const w of s.waiting.splice(0)) {
        w.forget?.();
        w.reject(new Error('the service limiter is closed'));
      }
    }
    const client = this.#client ?? (await this.#connecting?.catch(() => undefined));
    this.#client = undefined;
    await client?.end().catch(() => {});
  }
}
