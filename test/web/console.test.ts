// The console's door to the command handler (POST /api/console, /api/console/action): what it accepts, that a
// message sent twice is one event (one window), and that progress of its windows reaches its thread on the live
// stream as Slack's progress reporter words it.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { backends, type Running, runChronops } from '../support/harness.ts';
import { openSse, type SseStream } from '../support/sse.ts';

const pglite = backends.find((b) => b.name === 'pglite')!;
const THREAD = '1795324121.000100';

async function post(run: Running, path: string, body: unknown) {
  const response = await run.app.request(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  // biome-ignore lint/suspicious/noExplicitAny: tests read JSON answers loosely
  return { status: response.status, body: (await response.json()) as any };
}

describe('console door', () => {
  let run: Running | undefined;
  let stream: SseStream | undefined;
  afterEach(async () => {
    stream?.close();
    await run?.stopAll();
    run = undefined;
  });

  it('refuses what is not a console message, naming the field', async () => {
    run = await runChronops(pglite);
    const cases: Array<[unknown, RegExp]> = [
      [{ thread: 'x', ts: '1.1', text: 'list' }, /thread/],
      [{ thread: THREAD, ts: '1.1', text: '   ' }, /text/],
      [{ thread: THREAD, ts: '1.1', text: 'list', extra: true }, /extra/],
      [null, /body/],
    ];
    for (const [body, field] of cases) {
      const response = await post(run, '/api/console', body);
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.match(response.body.error.message, field);
    }
    const action = await post(run, '/api/console/action', {
      thread: THREAD,
      ts: '1.1',
      actionId: 'something_else',
      value: 'abc',
    });
    assert.equal(action.status, 400);
  });

  it('the same message sent twice (a retry) creates one window and shows its plan both times', async () => {
    // Prepare
    run = await runChronops(pglite);
    const message = { thread: THREAD, ts: '1795324122.000200', text: '@chronops now --ecs 5 --for 1h' };
    // Act
    const first = await post(run, '/api/console', message);
    const second = await post(run, '/api/console', message);
    // Assess
    assert.equal(first.status, 200);
    assert.equal(first.body.replies[0].windowId, second.body.replies[0].windowId);
    assert.equal((await run.store.listWindows()).length, 1);
    assert.match(first.body.replies[0].blocks[0].text.text, /^Plan · now \d\d:\d\d$/);
  });

  it("posts its windows' progress in their thread on the live stream, worded as in Slack", async () => {
    // Prepare
    run = await runChronops(pglite);
    stream = await openSse(`${run.url}/api/live`);
    await stream.next((e) => e.event === 'hello');
    // Act
    const created = await post(run, '/api/console', {
      thread: THREAD,
      ts: '1795324123.000300',
      text: 'now --ecs 5 --for 1h',
    });
    const id = created.body.replies[0].windowId as string;
    // Assess
    const done = await stream.next((e) => e.event === 'console' && JSON.parse(e.data).text.includes('done'));
    const message = JSON.parse(done.data);
    assert.equal(message.threadTs, THREAD);
    assert.equal(message.op, 'post');
    assert.equal(message.windowId, id);
    assert.equal(message.text, ':white_check_mark: ECS web (shop/web) min 2→5 done');
    // Cancelled from elsewhere (the API): the plan message is updated
    await run.app.request(`/api/windows/${id}/cancel`, { method: 'POST' });
    const update = await stream.next((e) => e.event === 'console' && JSON.parse(e.data).op === 'update');
    assert.equal(JSON.parse(update.data).windowId, id);
    assert.match(JSON.parse(update.data).blocks[0].text.text, /^Cancelled · now/);
  });
});
