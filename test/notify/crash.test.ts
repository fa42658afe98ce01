// kill -9 of a real `chronops serve` while a Teams webhook request is in flight (the receiver took the message and
// holds its answer): the restarted server does not send it again, and says its outcome is unknown.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FakeWebhook } from '../support/fake-webhooks.ts';
import { eventually } from '../support/harness.ts';
import { api, preparedDataDir, startServer, writeConfig } from '../support/process.ts';

describe('notify across kill -9', () => {
  const teams = new FakeWebhook('teams');
  before(async () => {
    await teams.start();
  });
  after(async () => {
    await teams.stop();
  });

  it('a message sent but not recorded when the process died is not sent twice after the restart', async () => {
    // Prepare
    const path = writeConfig({
      server: { host: '127.0.0.1', port: 0 },
      database: { dataDir: preparedDataDir() },
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the config's environment reference
      notify: { destinations: { ops: { kind: 'teams', url: '${TEAMS_URL}' } } },
    });
    const env = { TEAMS_URL: teams.url('ops') };
    teams.fail({ hold: true });
    const first = await startServer(path, env);
    let key = '';
    try {
      const sent = await api(first.url, 'POST', '/api/notify/destinations/ops/test', { text: 'in flight' });
      assert.equal(sent.status, 202, JSON.stringify(sent.body));
      key = sent.body.key;
      // The receiver has the message; its answer is held.
      await eventually(async () => teams.delivered('ops').length === 1);
    } finally {
      // Act: the process dies between the send and its record
      await first.kill9();
    }
    teams.release();
    const second = await startServer(path, env);
    try {
      // Assess
      const row = await eventually(async () => {
        const { body } = await api(second.url, 'GET', '/api/notify/messages?destination=ops');
        const m = body.messages.find((x: { key: string }) => x.key === key);
        return m && m.status !== 'pending' && m;
      });
      assert.equal(row.status, 'unknown');
      assert.match(row.error, /may have arrived/);
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(teams.delivered('ops').length, 1);
      // A new message to the same destination goes out as usual.
      const next = await api(second.url, 'POST', '/api/notify/destinations/ops/test', {});
      await eventually(async () => teams.delivered('ops').length === 2);
      assert.equal(teams.delivered('ops')[1]!.headers['idempotency-key'], next.body.key);
    } finally {
      await second.stop();
    }
  });
});
