// Kafka mode against librdkafka's mock cluster (kcat): the run produced with key = job name and its headers (run,
// Idempotency-Key, callback, signature), read back with kcat's consumer; its result by callback; a broker that does
// not answer makes the run wait and try again, and the message arrives once it is back. (What the mock cannot do —
// consumer groups, the idempotent producer — is in docs/jobs.md.)
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../../../src/kernel/config.ts';
import { signatureHeaders, verifySignature } from '../../../src/services/signature.ts';
import { backends, eventually, type Running, runChronops } from '../../support/harness.ts';
import { MockKafka } from '../../support/kafka.ts';

const SECRET = 'leave-consumer-secret';

describe('HTTP jobs, kafka mode (mock cluster)', () => {
  let mock: MockKafka;
  let chronops: Running;
  const api = async (path: string, init?: RequestInit) =>
    (await (await chronops.app.request(`/api/jobs${path}`, init)).json()) as Record<string, any>;

  before(async () => {
    mock = await MockKafka.start();
    const config = parseConfig(
      {
        server: { host: '127.0.0.1', port: 0 },
        database: { dataDir: '/nonexistent-not-used' },
        kafka: { brokers: mock.brokers, routes: [{ source: 'slack', topics: ['chronops-slack'] }] },
        services: [{ name: 'hr', baseUrl: 'http://127.0.0.1:9', secret: '${HR_SECRET}' }],
        jobs: [
          {
            name: 'leave-kafka',
            service: 'hr',
            path: '/leave',
            body: { date: 'today' },
            at: '2099-01-01T00:00:00Z',
            mode: 'kafka',
            topic: 'chronops-jobs',
          },
        ],
      },
      { HR_SECRET: SECRET },
    );
    chronops = await runChronops(backends[0]!, { config });
  });
  after(async () => {
    await chronops?.stopAll();
    await mock?.stop();
  });

  it('produces the run with its key and headers; the consumer answers by callback', async () => {
    // Act
    const { run } = await api('/leave-kafka/run', { method: 'POST' });
    await eventually(async () => (await api(`/runs/${run.id}`)).run.status === 'waiting', 10_000, 'produced');
    const messages = await mock.read('chronops-jobs');
    const message = messages.find((m) => m.headers['x-chronops-run'] === run.id)!;
    const value = JSON.parse(message.value);
    const raw = JSON.stringify({ contents: { failTenants: [], failCount: 0, successTenants: ['a', 'b'] } });
    const response = await fetch(value.callback, {
      method: 'POST',
      headers: {
        'x-chronops-callback-token': message.headers['x-chronops-callback-token']!,
        ...signatureHeaders(SECRET, raw),
      },
      body: raw,
    });
    const done = (await api(`/runs/${run.id}`)).run;

    // Assess
    assert.equal(message.key, 'leave-kafka');
    assert.equal(message.headers['idempotency-key'], run.id);
    assert.equal(message.headers['x-chronops-job'], 'leave-kafka');
    assert.deepEqual(
      verifySignature(
        SECRET,
        {
          timestamp: message.headers['x-chronops-timestamp'],
          signature: message.headers['x-chronops-signature'],
        },
        message.value,
      ),
      { ok: true },
    );
    assert.deepEqual(value.body, { date: 'today' });
    assert.equal(value.path, '/leave');
    assert.equal(response.status, 200);
    assert.equal(done.status, 'success');
  });

  it('waits while the brokers do not answer and produces the same run once they are back', async () => {
    // Prepare
    mock.pause();
    let resumed = false;
    try {
      // Act
      const { run } = await api('/leave-kafka/run', { method: 'POST' });
      const retrying = await eventually(
        async () => {
          const r = (await api(`/runs/${run.id}`)).run;
          return r.status === 'retrying' ? r : undefined;
        },
        15_000,
        'a failed produce',
      );
      mock.resume();
      resumed = true;
      await eventually(
        async () => (await api(`/runs/${run.id}`)).run.status === 'waiting',
        20_000,
        'produced',
      );
      const messages = (await mock.read('chronops-jobs')).filter(
        (m) => m.headers['x-chronops-run'] === run.id,
      );

      // Assess
      assert.match(retrying.summary, /^Kafka: .*; trying again at /);
      assert.ok(messages.length >= 1, 'the run arrived');
      assert.ok(messages.every((m) => m.headers['idempotency-key'] === run.id));
    } finally {
      if (!resumed) mock.resume();
    }
  });
});
