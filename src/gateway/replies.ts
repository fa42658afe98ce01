// The reply hook: a source whose sender reads its answer from the HTTP response (JANDI shows the response body in
// the room; Teams posts it if it comes within 5 s) holds the request open after the delivery is stored, and the
// worker that handles the delivery may hand its reply here. The request gets it if it is still waiting; otherwise
// (the deadline passed, or another server handled the delivery) `offer` says so and the handler sends its reply
// the other way (the outbox: an incoming webhook, a post).

import type { GatewayAnswer } from './source.ts';

interface Waiter {
  resolve: (answer: GatewayAnswer | undefined) => void;
  timer: NodeJS.Timeout;
}

export class ReplyHub {
  private readonly waiters = new Map<string, Waiter>();

  /**
   * Waits up to `withinMs` for the worker's reply to delivery `key`; resolves undefined when none came in time.
   * Register before the delivery is stored, so that a reply cannot come before the wait.
   */
  wait(key: string, withinMs: number): { answer: Promise<GatewayAnswer | undefined>; cancel(): void } {
    let waiter: Waiter | undefined;
    const answer = new Promise<GatewayAnswer | undefined>((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(key);
        resolve(undefined);
      }, withinMs);
      waiter = { resolve, timer };
      this.waiters.get(key)?.resolve(undefined); // a second request for the same key: the first stops waiting
      this.waiters.set(key, waiter);
    });
    return {
      answer,
      cancel: () => {
        if (waiter && this.waiters.get(key) === waiter) {
          clearTimeout(waiter.timer);
          this.waiters.delete(key);
          waiter.resolve(undefined);
        }
      },
    };
  }

  /** Is a request waiting for this delivery's reply (in this process)? */
  waiting(key: string): boolean {
    return this.waiters.has(key);
  }

  /** Hands the reply to the waiting request; false when none waits any more (send it another way). */
  offer(key: string, answer: GatewayAnswer): boolean {
    const waiter = this.waiters.get(key);
    if (!waiter) return false;
    clearTimeout(waiter.timer);
    this.waiters.delete(key);
    waiter.resolve(answer);
    return true;
  }
}
