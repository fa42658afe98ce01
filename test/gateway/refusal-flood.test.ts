// Forged Slack webhooks over real HTTP cannot flood the log: 300 refused requests (bad signature, stale
// timestamp, unknown path) write one line per kind and one summary with the counts; the metric counts each one.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startChronops } from '../../src/hosts/server.ts';
import { createLogger } from '../../src/kernel/logger.ts';
import { FakeSlack } from '../support/fake-slack.ts';
import { memoryPglite } from '../support/pglite.ts';
import { deliver, mentionBody, slackConfig, uniqueId } from '../support/slack.ts';

describe('refused webhooks, aggregated in the log', () => {
  let fake: FakeSlack;
  before(async () => {
    fake = await new FakeSlack().start();
  });
  after(async () => {
    await fake.stop();
  });

  it('300 forged Slack requests: a few log lines, every one counted', async () => {
    // Prepare
    const lines: Array<Record<string, unknown>> = [];
    const logger = createLogger({
      level: 'info',
      destination: { write: (l: string) => void lines.push(JSON.parse(l)) },
    });
    const db = await memoryPglite();
    const chronops = await startChronops(slackConfig(fake), { db, logger, pollMs: 250 });
    let metrics = '';
    try {
      const before = lines.length;
      // Act
      for (let i = 0; i < 100; i++) {
        const body = mentionBody({ text: 'create 1 --ecs 8 --auto', eventId: uniqueId('Ev') });
        const forged = await deliver(chronops.url, 'events', body, { secret: 'not-the-secret' });
        assert.equal(forged.status, 401);
        const stale = await deliver(chronops.url, 'commands', 'command=%2Fchronops&text=list', {
          timestamp: Math.floor(Date.now() / 1000) - 3600,
        });
        assert.equal(stale.status, 401);
        const unknown = await fetch(`${chronops.url}/slack/nowhere-${i}`, { method: 'POST', body: 'x' });
        assert.equal(unknown.status, 404);
      }
      // Assess: while it ran, one line per kind of refusal at most, nothing per request
      const during = lines.slice(before);
      assert.ok(during.length <= 4, `${during.length} log lines for 300 refusals: ${JSON.stringify(during)}`);
      metrics = await (await fetch(`${chronops.url}/metrics`)).text();
    } finally {
      await chronops.close();
      await db.close();
    }
    const summary = lines.filter((l) => String(l.msg).startsWith('gateway: requests refused'));
    assert.ok(summary.length >= 1, `a summary of the counts at close: ${JSON.stringify(lines.slice(-5))}`);
    const total = summary.reduce((n, l) => n + Number(l.total ?? 0), 0);
    const firsts = lines.filter((l) => l.msg === 'gateway: request refused').length;
    assert.equal(total + firsts, 300, 'first of each kind logged, the rest in the counts');
    const refused = [...metrics.matchAll(/^chronops_gateway_refused_total\{[^}]*\} (\d+)$/gm)].reduce(
      (n, m) => n + Number(m[1]),
      0,
    );
    assert.equal(
      refused,
      300,
      metrics
        .split('\n')
        .filter((l) => l.includes('refused'))
        .join('\n'),
    );
  });
});
