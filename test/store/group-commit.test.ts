// Group commit: one write at once when alone, batches under load, flushes in flight up to `concurrency`,
// gathering over I/O, and a failed write failing exactly its batch.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GroupCommit } from '../../src/store/group-commit.ts';

/** A write whose calls are recorded and released by the test. */
function controlledWrite() {
  const calls: Array<{ items: number[]; release: (fail?: Error) => void }> = [];
  const write = (items: number[]) =>
    new Promise<number[]>((resolve, reject) => {
      calls.push({ items, release: (fail) => (fail ? reject(fail) : resolve(items.map((i) => i * 10))) });
    });
  return { calls, write };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('GroupCommit', () => {
  it('writes a lone item at once, and gathers what arrives meanwhile into the next write', async () => {
    // Prepare
    const { calls, write } = controlledWrite();
    const gc = new GroupCommit(write);
    // Act
    const first = gc.submit(1);
    const rest = [gc.submit(2), gc.submit(3)];
    await tick();
    const whileFirst = calls.map((c) => c.items);
    calls[0]!.release();
    await tick();
    calls[1]!.release();
    // Assess
    assert.deepEqual(whileFirst, [[1]]);
    assert.deepEqual(
      calls.map((c) => c.items),
      [[1], [2, 3]],
    );
    assert.deepEqual(await Promise.all([first, ...rest]), [10, 20, 30]);
  });

  it('keeps up to `concurrency` writes in flight', async () => {
    // Prepare
    const { calls, write } = controlledWrite();
    const gc = new GroupCommit(write, { concurrency: 2 });
    // Act
    const all = [gc.submit(1), gc.submit(2), gc.submit(3), gc.submit(4)];
    await tick();
    const inFlight = calls.map((c) => c.items);
    calls[0]!.release();
    await tick();
    // Assess: 1 alone, 2 alone (second slot), then 3 and 4 together once a slot is free.
    assert.deepEqual(inFlight, [[1], [2]]);
    assert.deepEqual(
      calls.map((c) => c.items),
      [[1], [2], [3, 4]],
    );
    for (const c of calls.slice(1)) c.release();
    assert.deepEqual(await Promise.all(all), [10, 20, 30, 40]);
  });

  it('gathers over I/O: items submitted in the same turn of the event loop share one write', async () => {
    // Prepare
    const { calls, write } = controlledWrite();
    const gc = new GroupCommit(write, { gather: 'io' });
    // Act
    const all = [1, 2, 3].map((i) => gc.submit(i));
    await tick();
    await tick();
    calls[0]!.release();
    // Assess
    assert.deepEqual(
      calls.map((c) => c.items),
      [[1, 2, 3]],
    );
    assert.deepEqual(await Promise.all(all), [10, 20, 30]);
  });

  it('under load waits up to `gatherTurns` turns for the batch to fill; a lone item after a quiet time does not wait', async () => {
    // Prepare: a busy stream made the last batch large (4 > busyBatch 2)
    const { calls, write } = controlledWrite();
    const gc = new GroupCommit(write, { gather: 'io', gatherTurns: 3, busyBatch: 2 });
    const busy = [1, 2, 3, 4].map((i) => gc.submit(i));
    await tick();
    calls[0]!.release();
    await Promise.all(busy);
    // Act: items keep arriving one per turn of the event loop
    const trickle = [gc.submit(5)];
    await tick();
    trickle.push(gc.submit(6));
    await tick();
    trickle.push(gc.submit(7));
    await tick();
    await tick();
    // Assess: one write for the three (the turns ran out before the batch reached 4)
    assert.deepEqual(
      calls.map((c) => c.items),
      [
        [1, 2, 3, 4],
        [5, 6, 7],
      ],
    );
    calls[1]!.release();
    await Promise.all(trickle);
    // Act: quiet — the last batch (3) is large still, so wait; then a lone item after a small batch goes at once
    const lone = gc.submit(8);
    for (let i = 0; i < 3; i++) await tick();
    calls[2]!.release();
    await lone;
    const alone = gc.submit(9);
    await tick(); // the end of the previous write
    await tick();
    // Assess
    assert.deepEqual(
      calls.slice(2).map((c) => c.items),
      [[8], [9]],
    );
    calls[3]!.release();
    assert.equal(await alone, 90);
  });

  it('splits at maxBatch and fails exactly the batch whose write failed', async () => {
    // Prepare
    const { calls, write } = controlledWrite();
    const gc = new GroupCommit(write, { maxBatch: 2 });
    // Act
    const first = gc.submit(1);
    const [a, b, c] = [gc.submit(2), gc.submit(3), gc.submit(4)];
    const failedA = assert.rejects(a, /disk full/);
    const failedB = assert.rejects(b, /disk full/);
    calls[0]!.release();
    await tick();
    calls[1]!.release(new Error('disk full'));
    await tick();
    calls[2]!.release();
    // Assess
    assert.deepEqual(
      calls.map((x) => x.items),
      [[1], [2, 3], [4]],
    );
    assert.equal(await first, 10);
    await failedA;
    await failedB;
    assert.equal(await c, 40);
  });

  it('a write that throws synchronously fails its batch and the next one still runs', async () => {
    let n = 0;
    const gc = new GroupCommit<number, number>((items) => {
      n += 1;
      if (n === 1) throw new Error('boom');
      return Promise.resolve(items);
    });
    await assert.rejects(gc.submit(1), /boom/);
    assert.equal(await gc.submit(2), 2);
  });

  it('idle() resolves once nothing is queued or being written', async () => {
    // Prepare
    const { calls, write } = controlledWrite();
    const gc = new GroupCommit(write);
    await gc.idle();
    const pending = [gc.submit(1), gc.submit(2)];
    let idle = false;
    const waiting = gc.idle().then(() => {
      idle = true;
    });
    // Act
    calls[0]!.release();
    await tick();
    const afterFirst = idle;
    calls[1]!.release();
    await waiting;
    // Assess
    assert.equal(afterFirst, false);
    assert.equal(idle, true);
    assert.deepEqual(await Promise.all(pending), [10, 20]);
  });
});
