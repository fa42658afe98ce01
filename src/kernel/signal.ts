/**
 * Wakes a sleeping loop early. A notify while nobody waits (the loop is busy with a pass that may have read
 * before the new work arrived) is kept: the loop's next wait returns at once, so the work is not left for a
 * whole poll interval.
 */
export class Signal {
  private waiters: Array<() => void> = [];
  private pending = false;

  wait(ms: number): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.push(done);
    });
  }

  notify(): void {
    if (this.waiters.length === 0) {
      this.pending = true;
      return;
    }
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** Waits `ms`, or less once `stopped()` (looked at every 100 ms at most): a loop's pause that ends with its stop. */
export function sleep(ms: number, stopped: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const started = Date.now();
    const tick = () => {
      if (stopped() || Date.now() - started >= ms) resolve();
      else setTimeout(tick, Math.min(100, ms - (Date.now() - started)));
    };
    tick();
  });
}
