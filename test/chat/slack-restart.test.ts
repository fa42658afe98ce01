// `chronops serve` as a real process on the embedded database: a mention acknowledged with 200 and then kill -9
// (no shutdown at all), a restart, and Slack's retries of the same event: one window, one reply.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FakeSlack } from '../support/fake-slack.ts';
import { eventually } from '../support/harness.ts';
import { api, preparedDataDir, type ServerProcess, startServer, writeConfig } from '../support/process.ts';
import { ALERT, deliver, mentionBody, slackConfigObject, slackEnv, uniqueId } from '../support/slack.ts';

describe('Slack across kill -9', () => {
  let fake: FakeSlack;
  let server: ServerProcess | undefined;

  before(async () => {
    fake = await new FakeSlack().start();
  });
  after(async () => {
    await server?.stop();
    await fake.stop();
  });

  it('an event stored before its 200 is handled once after a crash, whatever Slack retries', async () => {
    // Prepare
    const path = writeConfig({ ...slackConfigObject(), database: { dataDir: preparedDataDir() } });
    const env = slackEnv(fake);
    server = await startServer(path, env);
    const parent = fake.seed('C0OPS', ALERT);
    const body = mentionBody({ text: 'create 1 --ecs 8 --auto', threadTs: parent, eventId: uniqueId('Ev') });
    // Act: the first delivery is acknowledged, then the process dies at once.
    const first = await deliver(server.url, 'events', body);
    await server.kill9();
    server = await startServer(path, env);
    const retries = await Promise.all([
      deliver(server.url, 'events', body, { retryNum: 1 }),
      deliver(server.url, 'events', body, { retryNum: 2 }),
    ]);
    // A later command in the same thread: once it is answered, the redeliveries have been handled too.
    await deliver(server.url, 'events', mentionBody({ text: 'list', threadTs: parent }));
    await eventually(
      async () =>
        fake.posted('C0OPS', parent).some((m) => /Active and upcoming windows|No active/.test(m.text)),
      20_000,
      'the answer to list',
    );
    // Assess
    assert.deepEqual([first.status, ...retries.map((r) => r.status)], [200, 200, 200]);
    const windows = await api(server.url, 'GET', '/api/windows');
    assert.equal(windows.body.windows.length, 1);
    assert.equal(windows.body.windows[0].name, '12345');
    const plans = fake.posted('C0OPS', parent).filter((m) => m.text.startsWith('Plan for 12345'));
    assert.equal(plans.length, 1);
  });
});
