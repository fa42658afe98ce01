// The signal that wakes the worker, relay, outbox and timer loops: a notify that comes while the loop is busy
// (nobody waiting) must not be lost, or the work it announced waits a whole poll interval.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Signal } from '../../src/kernel/signal.ts';

/** Which settles first: the wait, or the next turn of the event loop (a wait that sleeps loses). */
async function wokeAtOnce(wait: Promise<void>): Promise<boolean> {
  const turn = new Promise<'turn'>((resolve) => setImmediate(() => resolve('turn')));
  return (await Promise.race([wait.then(() => 'woke' as const), turn])) === 'woke';
}

describe('Signal', () => {
  it('keeps a notify that came while nobody waited: the next wait returns at once, once', async () => {
    // Prepare
    const signal = new Signal();
    // Act: the loop was busy (no waiter) when the work arrived
    signal.notify();
    signal.notify();
    // Assess: the next wait does not sleep; the one after sleeps again (two notifies are one wake-up)
    assert.equal(await wokeAtOnce(signal.wait(60_000)), true);
    const second = signal.wait(30);
    assert.equal(await wokeAtOnce(second), false);
    await second;
  });

  it('wakes every waiter at once and leaves nothing pending', async () => {
    // Prepare
    const signal = new Signal();
    const a = signal.wait(60_000);
    const b = signal.wait(60_000);
    // Act
    signal.notify();
    // Assess
    assert.equal(await wokeAtOnce(Promise.all([a, b]).then(() => {})), true);
    const later = signal.wait(30);
    assert.equal(await wokeAtOnce(later), false);
    await later;
  });

  it('sleeps its full time when nothing is notified', async () => {
    const signal = new Signal();
    const started = performance.now();
    await signal.wait(40);
    assert.ok(performance.now() - started >= 35);
  });
});
