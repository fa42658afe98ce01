// The one Kafka client against librdkafka's mock cluster (kcat): produce with keys and headers, read back with
// kcat's own consumer (key, headers, order per key), read back with the client itself (no consumer group), and an
// unreachable cluster failing within the timeout instead of hanging.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { KafkaClient, KafkaError } from '../../src/gateway/kafka.ts';
import { MockKafka } from '../support/kafka.ts';

describe('KafkaClient on the mock cluster', () => {
  let mock: MockKafka;
  let client: KafkaClient;

  before(async () => {
    mock = await MockKafka.start();
    client = new KafkaClient({ brokers: mock.brokers, clientId: 'chronops-test', timeoutMs: 3000 });
  });
  after(async () => {
    await client.close();
    await mock.stop();
  });

  it('produces keyed messages with headers that kcat reads back, in order per key', async () => {
    // Prepare
    const messages = Array.from({ length: 40 }, (_, i) => ({
      topic: 'kafka-test-order',
      key: `T1/C${i % 4}`,
      value: JSON.stringify({ n: i }),
      headers: { source: 'slack', 'delivery-id': `d${i}` },
    }));
    // Act
    await client.send(messages.slice(0, 20));
    for (const m of messages.slice(20)) await client.produce(m);
    const read = await mock.read('kafka-test-order');
    // Assess
    assert.equal(read.length, 40);
    for (const key of ['T1/C0', 'T1/C1', 'T1/C2', 'T1/C3']) {
      const ofKey = read.filter((m) => m.key === key).sort((a, b) => a.offset - b.offset);
      assert.equal(new Set(ofKey.map((m) => m.partition)).size, 1, `${key} on one partition`);
      const ns = ofKey.map((m) => JSON.parse(m.value).n as number);
      assert.deepEqual(
        ns,
        [...ns].sort((a, b) => a - b),
        `${key} in order`,
      );
      assert.equal(ns.length, 10);
    }
    const first = read.find((m) => JSON.parse(m.value).n === 0)!;
    assert.deepEqual(first.headers, { source: 'slack', 'delivery-id': 'd0' });
  });

  it('reads a partition back from an offset without a consumer group', async () => {
    await client.send([{ topic: 'kafka-test-back', key: 'k', value: 'a', headers: { 'delivery-id': 'x1' } }]);
    await client.send([{ topic: 'kafka-test-back', key: 'k', value: 'b', headers: { 'delivery-id': 'x2' } }]);
    const [partition] = (await mock.read('kafka-test-back')).map((m) => m.partition);
    const all = await client.readBack('kafka-test-back', partition!, 0n);
    const tail = await client.readBack('kafka-test-back', partition!, 1n);
    assert.deepEqual(
      all.messages.map((m) => [m.value, m.headers['delivery-id']]),
      [
        ['a', 'x1'],
        ['b', 'x2'],
      ],
    );
    assert.equal(all.end, 2n);
    assert.deepEqual(
      tail.messages.map((m) => m.value),
      ['b'],
    );
  });

  it('fails with a KafkaError within its timeout when the brokers do not answer, and works again after', async () => {
    mock.pause();
    const started = Date.now();
    try {
      await assert.rejects(
        client.send([{ topic: 'kafka-test-down', key: 'k', value: 'lost?' }]),
        (error: unknown) => error instanceof KafkaError,
      );
    } finally {
      mock.resume();
    }
    assert.ok(Date.now() - started < 20_000, `failed after ${Date.now() - started} ms`);
    await client.send([{ topic: 'kafka-test-down', key: 'k', value: 'after' }]);
    const read = await mock.read('kafka-test-down');
    assert.ok(read.some((m) => m.value === 'after'));
  });
});
