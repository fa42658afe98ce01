// At most `limit` calls in flight to a service; ServiceCaller asks its limiter before every call. This one counts
// in the process: the whole limit on the embedded database (one process). Several servers on one PostgreSQL
// database share the limit through SharedServiceLimiter (shared-limiter.ts).

import { whenAborted } from './abort.ts';

export interface Limiter {
  /** Resolves with a release function once a slot of `service` is free. */
  acquire(service: string, limit: number, signal?: AbortSignal): Promise<() => void>;
  /**
   * A slot now if one is free, without waiting (a burst's calls go out in the same turn of the event loop as
   * they are made); else undefined, and `acquire` waits.
   */
  tryAcquire?(service: string, limit: number): (() => void) | undefined;
  /** Calls of this process in flight now. */
  inFlight(service: string): number;
  /** The most calls of this process in flight at once so far (tests, the bench). */
  peak(service: string): number;
  /** Ahead of a burst of `n` calls: takes what it can now, kept for them until `until` (ms since the epoch). */
  reserve?(service: string, limit: number, n: number, until: number): Promise<void>;
  /** Lets go of what it holds while nothing is in flight (a connection); usable again after. */
  idle?(): Promise<void>;
}

export class ServiceLimiter implements Limiter {
  readonly #inFlight = new Map<string, number>();
  readonly #waiting = new Map<string, Array<() => void>>();
  readonly #peak = new Map<string, number>();

  tryAcquire(service: string, limit: number): (() => void) | undefined {
    const n = this.#inFlight.get(service) ?? 0;
    if (n >= limit) return undefined;
    this.#take(service, n);
    return this.#release(service);
  }

  /** Resolves with a release function once a slot of `service` is free. */
  async acquire(service: string, limit: number, signal?: AbortSignal): Promise<() => void> {
    const now = this.tryAcquire(service, limit);
    if (now) return now;
    await new Promise<void>((resolve, reject) => {
      const queue = this.#waiting.get(service) ?? [];
      const go = () => {
        forget?.();
        resolve();
      };
      const forget = signal
        ? whenAborted(signal, () => {
            const i = queue.indexOf(go);
            if (i >= 0) queue.splice(i, 1);
            reject(signal.reason ?? new Error('aborted'));
          })
        : undefined;
      queue.push(go);
      this.#waiting.set(service, queue);
    });
    return this.#release(service);
  }

  #release(service: string): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.get(service)?.shift();
      // The slot passes straight to the next waiter: the count stays.
      if (next) next();
      else this.#inFlight.set(service, (this.#inFlight.get(service) ?? 1) - 1);
    };
  }

  #take(service: string, n: number): void {
    this.#inFlight.set(service, n + 1);
    if (n + 1 > (this.#peak.get(service) ?? 0)) this.#peak.set(service, n + 1);
  }

  inFlight(service: string): number {
    return this.#inFlight.get(service) ?? 0;
  }

  /** The most calls in flight at once so far (tests, the bench). */
  peak(service: string): number {
    return this.#peak.get(service) ?? 0;
  }
}
