// At most `limit` calls in flight to a service. This process' share of the limit; ServiceCaller asks it before
// every call. (Across servers: docs/jobs.md says how the limit holds there.)

export class ServiceLimiter {
  readonly #inFlight = new Map<string, number>();
  readonly #waiting = new Map<string, Array<() => void>>();
  readonly #peak = new Map<string, number>();

  /** Resolves with a release function once a slot of `service` is free. */
  async acquire(service: string, limit: number, signal?: AbortSignal): Promise<() => void> {
    const n = this.#inFlight.get(service) ?? 0;
    if (n < limit) {
      this.#take(service, n);
    } else {
      await new Promise<void>((resolve, reject) => {
        const queue = this.#waiting.get(service) ?? [];
        const go = () => {
          signal?.removeEventListener('abort', abort);
          resolve();
        };
        const abort = () => {
          const i = queue.indexOf(go);
          if (i >= 0) queue.splice(i, 1);
          reject(signal?.reason ?? new Error('aborted'));
        };
        signal?.addEventListener('abort', abort, { once: true });
        queue.push(go);
        this.#waiting.set(service, queue);
      });
    }
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
