/**
 * Group commit: writes submitted while one is in flight are gathered and written together by the next flush.
 * A lone write goes out at once (no timer, no added latency); under load, many writes share one statement.
 * If a flush fails, every write in it fails with the same error.
 *
 * `gather: 'io'` starts each flush only after the I/O callbacks already due have run (setImmediate). Webhook
 * ingest needs it on the embedded database: PGlite answers without giving the event loop a turn, so a flush
 * started at once would hold one request while the others wait unread, and batches would stay at one.
 *
 * `concurrency` lets that many flushes be in flight at once (default 1). On a PostgreSQL server a flush waits
 * mostly for the commit's disk flush; with two or more in flight, the next batch is written meanwhile.
 *
 * `gatherTurns` (with `gather: 'io'`) keeps batches large under load: when the last batch held more than
 * `busyBatch` items, a flush waits up to that many turns of the event loop while fewer items are queued than the
 * last batch held. Each write has a fixed cost (a statement, a commit), so fewer, larger writes leave more time
 * for the requests themselves. A lone write after a quiet time is not held back: its last batch was small.
 */
export class GroupCommit<T, R> {
  private readonly write: (items: T[]) => Promise<R[]>;
  private readonly maxBatch: number;
  private readonly gatherIo: boolean;
  private readonly concurrency: number;
  private readonly gatherTurns: number;
  private readonly busyBatch: number;
  private lastBatch = 0;
  private queue: Array<{ item: T; resolve: (r: R) => void; reject: (e: unknown) => void }> = [];
  private inFlight = 0;
  private gathering = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    write: (items: T[]) => Promise<R[]>,
    options: {
      maxBatch?: number;
      gather?: 'now' | 'io';
      concurrency?: number;
      gatherTurns?: number;
      busyBatch?: number;
    } = {},
  ) {
    this.write = write;
    this.maxBatch = options.maxBatch ?? 200;
    this.gatherIo = options.gather === 'io';
    this.concurrency = Math.max(1, options.concurrency ?? 1);
    this.gatherTurns = Math.max(1, options.gatherTurns ?? 1);
    this.busyBatch = options.busyBatch ?? 8;
  }

  /** Resolves once nothing is queued or being written (at once when idle). */
  idle(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.next();
    });
  }

  /** Starts a flush if one may start (after the pending I/O callbacks when gathering over I/O). */
  private next(): void {
    if (this.gathering || this.inFlight >= this.concurrency || this.queue.length === 0) return;
    if (!this.gatherIo) {
      this.flush();
      return;
    }
    this.gathering = true;
    let turns = this.lastBatch > this.busyBatch ? this.gatherTurns : 1;
    const turn = () => {
      if (--turns > 0 && this.queue.length < this.lastBatch) {
        setImmediate(turn);
        return;
      }
      this.gathering = false;
      this.flush();
    };
    setImmediate(turn);
  }

  private flush(): void {
    if (this.inFlight >= this.concurrency || this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.maxBatch);
    this.lastBatch = batch.length;
    this.inFlight++;
    let written: Promise<R[]>;
    try {
      written = this.write(batch.map((b) => b.item));
    } catch (error) {
      written = Promise.reject(error);
    }
    written
      .then(
        (results) => {
          for (const [i, b] of batch.entries()) b.resolve(results[i]!);
        },
        (error) => {
          for (const b of batch) b.reject(error);
        },
      )
      .finally(() => {
        this.inFlight--;
        this.next();
        if (this.queue.length === 0 && this.inFlight === 0 && this.idleWaiters.length > 0) {
          for (const resolve of this.idleWaiters.splice(0)) resolve();
        }
      });
    this.next();
  }
}

/**
 * Holds writes back while a burst of requests is being sent: each hold returns its release; writes wait until
 * every hold is released, or `maxMs` passed (a hold is never a reason to lose a record).
 */
export class WriteHold {
  #holds = 0;
  #waiting: Array<() => void> = [];
  readonly #maxMs: number;

  constructor(maxMs = 5000) {
    this.#maxMs = maxMs;
  }

  hold(): () => void {
    this.#holds += 1;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      clearTimeout(timer);
      this.#holds -= 1;
      if (this.#holds === 0) for (const go of this.#waiting.splice(0)) go();
    };
    const timer = setTimeout(release, this.#maxMs);
    timer.unref();
    return release;
  }

  /** Resolves at once when nothing holds writes back. */
  pass(): Promise<void> | undefined {
    if (this.#holds === 0) return undefined;
    return new Promise((resolve) => this.#waiting.push(resolve));
  }
}
