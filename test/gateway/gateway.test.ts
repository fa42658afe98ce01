// The one ingest path, whatever the source: routing (404), the size limit (413), base64 bodies, refusals stored
// nowhere, the answer only after the store, the reply hook, and refusals counted rather than logged one by one.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { Gateway } from '../../src/gateway/gateway.ts';
import type { InboxItem } from '../../src/gateway/inbox-store.ts';
import { RefusalLog } from '../../src/gateway/refusal-log.ts';
import { ReplyHub } from '../../src/gateway/replies.ts';
import { type Acceptance, type GatewayRequest, Refusal, type Source } from '../../src/gateway/source.ts';
import { createLogger } from '../../src/kernel/logger.ts';
import { Metrics } from '../../src/kernel/metrics.ts';

/** A source that accepts bodies starting with "ok", refuses "forged" (401) and answers "ping" itself. */
class TestSource implements Source {
  readonly kind = 'generic' as const;
  readonly name: string;
  readonly paths: string[];
  readonly maxBodyBytes = 64;
  seen: string[] = [];
  reply?: { withinMs: number };
  constructor(name = 'test') {
    this.name = name;
    this.paths = [`/hooks/${name}`];
  }
  accept(req: GatewayRequest): Acceptance {
    const text = req.body.toString('utf8');
    this.seen.push(text);
    if (text.startsWith('forged'))
      throw new Refusal('unauthorized', 'signature does not match', { detail: 'mismatch' });
    if (text === 'ping') return { outcome: 'ping', answer: { status: 200, text: 'pong' } };
    if (!text.startsWith('ok')) throw new Refusal('malformed', 'not ok');
    return {
      delivery: {
        key: `${this.name}:${text}`,
        type: 'ok',
        body: text,
        partitionKey: req.header('x-team') ?? null,
      },
      answer: { status: 202, json: { accepted: true } },
      ...(this.reply ? { reply: this.reply } : {}),
    };
  }
}

function lines() {
  const out: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) out.push(JSON.parse(line));
      done();
    },
  });
  return { out, logger: createLogger({ level: 'info', destination }) };
}

const header =
  (h: Record<string, string> = {}) =>
  (name: string) =>
    h[name];

describe('Gateway', () => {
  it('stores an accepted delivery with its source and kind, then answers with the source’s answer', async () => {
    // Prepare
    const stored: InboxItem[] = [];
    const source = new TestSource();
    const gateway = new Gateway({
      sources: [source],
      store: async (item) => {
        stored.push(item);
      },
      topics: (item) => (item.type === 'ok' ? ['hooks'] : null),
      logger: createLogger({ level: 'silent' }),
    });
    const resolved = gateway.resolve('/hooks/test');
    assert.ok('source' in resolved);
    // Act
    const answer = await gateway.handle(resolved.source, {
      body: 'ok-1',
      header: header({ 'x-team': 'T1/C1' }),
    });
    // Assess
    assert.deepEqual(answer, { status: 202, json: { accepted: true } });
    assert.deepEqual(stored, [
      {
        key: 'test:ok-1',
        source: 'test',
        kind: 'generic',
        type: 'ok',
        subtype: null,
        body: 'ok-1',
        retryNum: null,
        partitionKey: 'T1/C1',
        topics: ['hooks'],
      },
    ]);
  });

  it('answers 404 for a path under a source prefix that no source has, naming the configured ones', () => {
    const gateway = new Gateway({
      sources: [new TestSource()],
      off: [{ paths: ['/jandi/webhook'], reason: 'JANDI is off: JANDI_TOKEN is not set' }],
      store: async () => {},
      logger: createLogger({ level: 'silent' }),
    });
    const unknown = gateway.resolve('/hooks/nope');
    const off = gateway.resolve('/jandi/webhook');
    assert.ok('answer' in unknown && 'answer' in off);
    assert.equal(unknown.answer.status, 404);
    assert.match(
      JSON.stringify(unknown.answer.json),
      /no webhook source at \/hooks\/nope \(configured: \/hooks\/test/,
    );
    assert.equal(off.answer.status, 404);
    assert.match(JSON.stringify(off.answer.json), /JANDI_TOKEN is not set/);
  });

  it('refuses forged, malformed, oversized and bad base64 bodies, storing none of them', async () => {
    // Prepare
    const stored: InboxItem[] = [];
    const source = new TestSource();
    const gateway = new Gateway({
      sources: [source],
      store: async (item) => {
        stored.push(item);
      },
      logger: createLogger({ level: 'silent' }),
    });
    // Act
    const answers = await Promise.all([
      gateway.handle(source, { body: 'forged', header: header() }),
      gateway.handle(source, { body: 'nonsense', header: header() }),
      gateway.handle(source, { body: `ok${'x'.repeat(100)}`, header: header() }),
      gateway.handle(source, { body: 'not base64!', isBase64: true, header: header() }),
    ]);
    // Assess
    assert.deepEqual(
      answers.map((a) => a.status),
      [401, 400, 413, 400],
    );
    assert.deepEqual(stored, []);
    assert.match(JSON.stringify(answers[0]!.json), /signature does not match/);
  });

  it('decodes a base64 body (API Gateway) before the source sees it', async () => {
    const stored: InboxItem[] = [];
    const source = new TestSource();
    const gateway = new Gateway({
      sources: [source],
      store: async (item) => {
        stored.push(item);
      },
      logger: createLogger({ level: 'silent' }),
    });
    const answer = await gateway.handle(source, {
      body: Buffer.from('ok-b64').toString('base64'),
      isBase64: true,
      header: header(),
    });
    assert.equal(answer.status, 202);
    assert.deepEqual(source.seen, ['ok-b64']);
    assert.equal(stored[0]?.body, 'ok-b64');
  });

  it('answers what the source answers itself without storing it', async () => {
    const stored: InboxItem[] = [];
    const source = new TestSource();
    const gateway = new Gateway({
      sources: [source],
      store: async (item) => {
        stored.push(item);
      },
      logger: createLogger({ level: 'silent' }),
    });
    assert.deepEqual(await gateway.handle(source, { body: 'ping', header: header() }), {
      status: 200,
      text: 'pong',
    });
    assert.deepEqual(stored, []);
  });

  it('holds the request for the worker’s reply, up to the deadline, then answers the fallback', async () => {
    // Prepare
    const replies = new ReplyHub();
    const source = new TestSource();
    source.reply = { withinMs: 200 };
    const wanted: string[] = [];
    const gateway = new Gateway({
      sources: [source],
      store: async () => {},
      replies,
      onReplyWanted: (item) => {
        wanted.push(item.key);
        // The worker answers the first one at once; the second never.
        if (item.key === 'test:ok-fast')
          setImmediate(() => replies.offer(item.key, { status: 200, text: 'done!' }));
      },
      logger: createLogger({ level: 'silent' }),
    });
    // Act
    const started = Date.now();
    const fast = await gateway.handle(source, { body: 'ok-fast', header: header() });
    const fastMs = Date.now() - started;
    const slow = await gateway.handle(source, { body: 'ok-slow', header: header() });
    const slowMs = Date.now() - started - fastMs;
    // Assess
    assert.deepEqual(fast, { status: 200, text: 'done!' });
    assert.ok(fastMs < 150, `fast reply took ${fastMs} ms`);
    assert.deepEqual(slow, { status: 202, json: { accepted: true } });
    assert.ok(slowMs >= 190, `the fallback came after ${slowMs} ms`);
    assert.equal(replies.offer('test:ok-slow', { status: 200 }), false, 'too late: send it another way');
    assert.deepEqual(wanted, ['test:ok-fast', 'test:ok-slow']);
  });

  it('does not answer until the store resolves, and fails when the store fails', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const source = new TestSource();
    let fail = false;
    const gateway = new Gateway({
      sources: [source],
      store: () => (fail ? Promise.reject(new Error('database is down')) : gate),
      logger: createLogger({ level: 'silent' }),
    });
    let answered = false;
    const pending = gateway.handle(source, { body: 'ok-gate', header: header() }).then((a) => {
      answered = true;
      return a;
    });
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(answered, false);
    release();
    assert.equal((await pending).status, 202);
    fail = true;
    await assert.rejects(gateway.handle(source, { body: 'ok-fail', header: header() }), /database is down/);
  });

  it('counts refusals per source and reason, and logs a storm of them in one line a minute', async () => {
    // Prepare
    const { out, logger } = lines();
    const metrics = new Metrics();
    const source = new TestSource();
    const gateway = new Gateway({ sources: [source], store: async () => {}, logger, metrics });
    // Act: 500 forged requests and 3 to an unknown path
    for (let i = 0; i < 500; i++) await gateway.handle(source, { body: `forged-${i}`, header: header() });
    for (let i = 0; i < 3; i++) gateway.resolve(`/hooks/x${i}`);
    gateway.close();
    // Assess: one line at the first of each kind, then one summary with the counts
    const refused = out.filter((l) => String(l.msg).startsWith('gateway: request'));
    assert.equal(refused.length, 3, JSON.stringify(refused));
    assert.deepEqual(
      refused.slice(0, 2).map((l) => [l.source, l.reason, l.detail]),
      [
        ['test', 'unauthorized', 'mismatch'],
        ['(none)', 'unknown_source', 'unknown'],
      ],
    );
    const summary = refused[2]!;
    assert.equal(summary.total, 501);
    assert.deepEqual(
      (summary.refused as Array<{ source: string; reason: string; count: number }>).map((r) => [
        r.source,
        r.reason,
        r.count,
      ]),
      [
        ['test', 'unauthorized', 499],
        ['(none)', 'unknown_source', 2],
      ],
    );
    const text = await metrics.registry.metrics();
    assert.match(text, /chronops_gateway_refused_total\{source="test",reason="unauthorized"\} 500/);
    assert.match(text, /chronops_gateway_requests_total\{source="test",outcome="unauthorized"\} 500/);
  });

  it('RefusalLog reports each window’s counts and logs a kind at once again only after a quiet window', () => {
    const { out, logger } = lines();
    const log = new RefusalLog({ logger });
    log.note('s', 'unauthorized', 'stale', 'old');
    log.note('s', 'unauthorized', 'stale', 'old');
    log.flush(); // end of window 1: one counted
    log.note('s', 'unauthorized', 'stale', 'old'); // seen in the previous window: counted, not logged at once
    log.flush(); // end of window 2
    log.flush(); // window 3: quiet
    log.flush(); // window 4: quiet; the kind is forgotten
    log.note('s', 'unauthorized', 'stale', 'old'); // logged at once again
    log.close();
    assert.deepEqual(
      out.map((l) => (l.msg === 'gateway: request refused' ? 'line' : `summary ${l.total}`)),
      ['line', 'summary 1', 'summary 1', 'line'],
    );
  });
});
