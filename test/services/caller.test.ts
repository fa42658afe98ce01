import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { migrationModules } from '../../src/hosts/modules.ts';
import { parseConfig } from '../../src/kernel/config.ts';
import { ConfigError } from '../../src/kernel/errors.ts';
import { ServiceCallError, ServiceCaller } from '../../src/services/caller.ts';
import { checkedResult, parseResult, resultOf } from '../../src/services/contract.ts';
import { sign, verifySignature } from '../../src/services/signature.ts';
import { migrate } from '../../src/store/migrations.ts';
import { backends, eventually } from '../support/harness.ts';
import { closedPort, contract, JobService } from '../support/job-service.ts';

const SECRET = 'cms-signing-secret-0123456789';
const TOKEN = 'cms-token-abcdef';

function configWith(serviceUrl: string, extra: Record<string, unknown> = {}) {
  return parseConfig(
    {
      services: [
        {
          name: 'cms',
          baseUrl: `${serviceUrl}/`,
          headers: { Authorization: 'Bearer ${CMS_TOKEN}', 'X-Team': 'people' },
          secret: '${CMS_SECRET}',
          timeoutSeconds: 1,
          concurrency: 2,
          ...extra,
        },
      ],
    },
    { CMS_TOKEN: TOKEN, CMS_SECRET: SECRET },
  );
}

describe('services in the config', () => {
  it('resolves ${VAR} references, keeps them as secrets, and refuses what cannot work', () => {
    // Act
    const config = configWith('http://cms.internal:8080');

    // Assess
    assert.deepEqual(config.services.cms, {
      name: 'cms',
      baseUrl: 'http://cms.internal:8080',
      headers: { Authorization: `Bearer ${TOKEN}`, 'X-Team': 'people' },
      secret: SECRET,
      timeoutSeconds: 1,
      concurrency: 2,
    });
    assert.ok(config.secrets.includes(SECRET));
    assert.ok(config.secrets.includes(`Bearer ${TOKEN}`));
    const error = (() => {
      try {
        parseConfig(
          {
            services: [
              { name: 'cms', baseUrl: 'ftp://x', secret: 'literal' },
              { name: 'b', baseUrl: 'http://b', headers: { 'Idempotency-Key': 'x', A: '${NOPE}' } },
            ],
          },
          {},
        );
      } catch (e) {
        return e as ConfigError;
      }
    })();
    assert.ok(error instanceof ConfigError);
    assert.deepEqual(error.issues, [
      {
        field: 'services[0].baseUrl',
        message: 'must be an http:// or https:// URL without a query or fragment',
      },
    ]);
    const error2 = (() => {
      try {
        parseConfig(
          {
            services: [
              { name: 'cms', baseUrl: 'http://a', secret: 'literal' },
              { name: 'b', baseUrl: 'http://b', headers: { 'Idempotency-Key': 'x', A: '${NOPE}' } },
            ],
          },
          {},
        );
      } catch (e) {
        return e as ConfigError;
      }
    })();
    assert.deepEqual(error2?.issues, [
      {
        field: 'services[0].secret',
        message:
          "must name an environment variable, e.g. '${CMS_SIGNING_SECRET}' (a secret is not kept in the file)",
      },
      { field: 'services[1].headers.Idempotency-Key', message: 'is set by chronops on every call' },
      { field: 'services[1].headers.A', message: 'the environment variable NOPE is not set' },
    ]);
  });
});

describe('the result contract', () => {
  it('reads the seed service answer, numbers as tenants, and says undefined for anything else', () => {
    assert.deepEqual(
      parseResult(
        '{"contents":{"failTenants":["t2"],"failCount":1,"failDetails":[{"tenant":"t2","stackTrace":"E"}],"successTenants":["t1",3]}}',
      ),
      {
        failTenants: ['t2'],
        failCount: 1,
        failDetails: [{ tenant: 't2', stackTrace: 'E' }],
        successTenants: ['t1', '3'],
      },
    );
    assert.deepEqual(parseResult('{"contents":{"failTenants":["a","b"]}}')?.failCount, 2);
    assert.equal(parseResult('<html>oops'), undefined);
    assert.equal(parseResult('{"ok":true}'), undefined);
    assert.equal(parseResult('{"contents":{"failTenants":"x"}}'), undefined);
  });

  it('the quick reading of a usual answer and the schema agree, case by case', () => {
    const bodies: unknown[] = [
      { contents: {} },
      { contents: { failTenants: [1, 'b'], successTenants: [], extra: true }, other: 1 },
      { contents: { failDetails: [{ tenant: 7, stackTrace: null }, { tenant: 'x' }] } },
      { contents: { failDetails: [{ tenant: 'x', stackTrace: 'E', more: 1 }], failCount: 0 } },
      { contents: { failCount: 1.5 } },
      { contents: { failCount: -1 } },
      { contents: { failDetails: [{ stackTrace: 'E' }] } },
      { contents: { failDetails: [{ tenant: 'x', stackTrace: 3 }] } },
      { contents: { successTenants: [true] } },
      { contents: [] },
      { contents: null },
      [],
      'text',
      null,
    ];
    for (const body of bodies) assert.deepEqual(resultOf(body), checkedResult(body), JSON.stringify(body));
  });
});

describe('the signature', () => {
  it('is HMAC-SHA256 over "<timestamp>.<body>", refused when forged, altered or old', () => {
    const now = new Date('2026-12-07T03:00:00Z');
    const ts = Math.floor(now.getTime() / 1000);
    const good = sign(SECRET, ts, '{"a":1}');
    assert.match(good, /^v1=[0-9a-f]{64}$/);
    assert.deepEqual(
      verifySignature(SECRET, { timestamp: String(ts), signature: good }, '{"a":1}', { now }),
      { ok: true },
    );
    assert.equal(
      verifySignature(SECRET, { timestamp: String(ts), signature: good }, '{"a":2}', { now }).ok,
      false,
    );
    assert.equal(
      verifySignature('other', { timestamp: String(ts), signature: good }, '{"a":1}', { now }).ok,
      false,
    );
    assert.deepEqual(
      verifySignature(SECRET, { timestamp: String(ts), signature: good }, '{"a":1}', {
        now: new Date(now.getTime() + 301_000),
      }),
      { ok: false, reason: 'the timestamp is more than 300 s away from now' },
    );
    assert.deepEqual(verifySignature(SECRET, { timestamp: undefined, signature: good }, '', { now }), {
      ok: false,
      reason: 'the signature headers are missing',
    });
  });
});

for (const backend of backends) {
  describe(`the service caller on a loopback service (${backend.name})`, () => {
    const service = new JobService({ secret: SECRET });
    let caller: ServiceCaller;
    let opened: Awaited<ReturnType<typeof backend.open>>;

    before(async () => {
      await service.start();
      opened = await backend.open();
      await migrate(opened.db, opened.schema, migrationModules);
      caller = new ServiceCaller({
        services: configWith(service.url).services,
        db: opened.db,
        schema: opened.schema,
      });
    });
    after(async () => {
      await caller.idle();
      await service.stop();
      await opened.drop();
    });

    it('sends the defaults, the idempotency key, job and run, and a signature the service verifies', async () => {
      // Prepare
      service.script = () => contract([{ tenant: 't2', stackTrace: 'NPE at Leave.java:42' }], ['t1']);

      // Act
      const answer = await caller.call(
        'cms',
        { method: 'post', path: '/scheduling-api/leave-status', body: { date: 'today' } },
        { idempotencyKey: 'run-1', job: 'leave-status', run: 'run-1' },
      );

      // Assess
      const call = service.calls.at(-1)!;
      assert.equal(call.method, 'POST');
      assert.equal(call.path, '/scheduling-api/leave-status');
      assert.equal(call.body, '{"date":"today"}');
      assert.equal(call.headers.authorization, `Bearer ${TOKEN}`);
      assert.equal(call.headers['x-team'], 'people');
      assert.equal(call.headers['idempotency-key'], 'run-1');
      assert.equal(call.headers['x-chronops-job'], 'leave-status');
      assert.equal(call.headers['x-chronops-run'], 'run-1');
      assert.equal(call.headers['content-type'], 'application/json');
      assert.equal(call.signed, true, call.signatureProblem ?? 'signed');
      assert.equal(answer.ok, true);
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.result, {
        failTenants: ['t2'],
        failCount: 1,
        failDetails: [{ tenant: 't2', stackTrace: 'NPE at Leave.java:42' }],
        successTenants: ['t1'],
      });
    });

    it('classifies 500, garbage, slow beyond the timeout and a refused connection, and audits each call', async () => {
      // Prepare
      const answers: Record<string, Awaited<ReturnType<typeof caller.call>>> = {};
      service.script = (call) =>
        call.path === '/fail'
          ? { status: 500, body: 'Internal Server Error' }
          : call.path === '/garbage'
            ? { status: 200, body: '<html>not json' }
            : { status: 200, body: { ok: true }, delayMs: 3000 };
      const refused = new ServiceCaller({
        services: configWith(`http://127.0.0.1:${await closedPort()}`).services,
        db: opened.db,
        schema: opened.schema,
      });

      // Act
      answers.fail = await caller.call('cms', { method: 'POST', path: '/fail' }, 'k-fail');
      answers.garbage = await caller.call('cms', { method: 'POST', path: '/garbage' }, 'k-garbage');
      answers.slow = await caller.call(
        'cms',
        { method: 'POST', path: '/slow' },
        { idempotencyKey: 'k-slow', timeoutMs: 200 },
      );
      answers.refused = await refused.call('cms', { method: 'POST', path: '/x' }, 'k-refused');
      await caller.idle();
      await refused.idle();

      // Assess
      assert.deepEqual(
        Object.fromEntries(Object.entries(answers).map(([k, a]) => [k, [a.ok, a.outcome, a.status]])),
        {
          fail: [false, 'http-error', 500],
          garbage: [true, 'ok', 200],
          slow: [false, 'timeout', undefined],
          refused: [false, 'connection', undefined],
        },
      );
      assert.equal(answers.garbage!.body, '<html>not json');
      assert.equal(answers.garbage!.result, undefined);
      assert.equal(answers.slow!.summary, 'timeout after 0.2 s');
      assert.equal(answers.refused!.summary, 'connection refused');
      const audit = await opened.db.query<{
        target: string;
        outcome: string;
        details: Record<string, unknown>;
      }>(`SELECT target, outcome, details FROM ${opened.schema}.audit WHERE source = 'service' ORDER BY id`);
      assert.deepEqual(
        audit.slice(-4).map((a) => [a.target, a.outcome, a.details.idempotencyKey]),
        [
          ['cms POST /fail', 'http-500', 'k-fail'],
          ['cms POST /garbage', 'ok', 'k-garbage'],
          ['cms POST /slow', 'timeout', 'k-slow'],
          ['cms POST /x', 'connection', 'k-refused'],
        ],
      );
      assert.ok(!JSON.stringify(audit).includes(TOKEN), 'no header value in the audit');
    });

    it('prepare: the connections of a burst are opened ahead, and the burst opens none', async () => {
      // Prepare
      service.script = () => ({ ...contract(), delayMs: 50 });
      const fresh = new ServiceCaller({ services: configWith(service.url).services });
      const before = service.connections;

      // Act
      await fresh.prepare('cms', 5, new Date(Date.now() + 1000));
      // The service counts a connection when its loop takes it (a turn after the client's connect).
      const opened = await eventually(
        async () => service.connections - before >= 2 && service.connections - before,
        5000,
      );
      const answers = await Promise.all(
        Array.from({ length: 4 }, (_, i) => fresh.call('cms', { method: 'POST', path: '/w' }, `w-${i}`)),
      );
      await fresh.idle();

      // Assess
      assert.deepEqual(
        answers.map((a) => a.summary.replace(/in \d+ ms/, 'in … ms')),
        Array(4).fill('200 in … ms'),
        'every call answered on the connections opened ahead',
      );
      assert.equal(opened, 2, 'as many as the concurrency (2), not the burst (5)');
      assert.equal(service.connections - before, 2, 'the burst used them');
    });

    it('prepareCall: built and signed ahead for its second, sent as built; a free slot is taken at once', async () => {
      // Prepare
      service.script = () => contract();
      const due = new Date(Date.now() + 2000);
      // The burst announced (on PostgreSQL its slots of the shared limit are taken then).
      await caller.prepare('cms', 2, due);

      // Act
      const prepared = caller.prepareCall(
        'cms',
        { method: 'post', path: '/ahead', body: { n: 1 } },
        { idempotencyKey: 'ahead-1', job: 'ahead', run: 'ahead-1' },
        due,
      );
      const held = [caller.limiter.tryAcquire?.('cms', 2), caller.limiter.tryAcquire?.('cms', 2)];
      const full = caller.limiter.tryAcquire?.('cms', 2);
      for (const release of held) release?.();
      const answer = await caller.send(prepared);

      // Assess
      const call = service.calls.at(-1)!;
      assert.equal(call.path, '/ahead');
      assert.equal(call.body, '{"n":1}');
      assert.equal(call.headers['idempotency-key'], 'ahead-1');
      assert.equal(call.headers['x-chronops-timestamp'], String(Math.floor(due.getTime() / 1000)));
      assert.equal(call.signed, true, call.signatureProblem ?? 'signed');
      assert.equal(answer.ok, true);
      assert.ok(
        answer.sentAt.getTime() < due.getTime(),
        'sentAt is when it was sent, not the second it was signed for',
      );
      assert.ok(
        held.every((release) => release !== undefined),
        'two free slots taken at once',
      );
      assert.equal(full, undefined, 'none beyond the concurrency (2)');
      assert.equal(caller.limiter.inFlight('cms'), 0);
      assert.throws(() => caller.prepareCall('nope', { method: 'GET', path: '/' }, 'k'), ServiceCallError);
    });

    it('a prepared call that waits for its slot is signed again when it goes (the old second would be refused)', async () => {
      // Prepare: both slots of the concurrency (2) taken; a call signed for a second 10 minutes ago.
      service.script = () => contract();
      await caller.prepare('cms', 2, new Date(Date.now() + 2000));
      const held = [caller.limiter.tryAcquire?.('cms', 2), caller.limiter.tryAcquire?.('cms', 2)];
      const prepared = caller.prepareCall(
        'cms',
        { method: 'POST', path: '/waited' },
        'waited-1',
        new Date(Date.now() - 600_000),
      );

      // Act
      const answering = caller.send(prepared);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const sentWhileFull = service.calls.some((c) => c.path === '/waited');
      for (const release of held) release?.();
      const answer = await answering;

      // Assess
      const call = service.calls.at(-1)!;
      assert.equal(sentWhileFull, false, 'it waited for a slot');
      assert.equal(call.path, '/waited');
      assert.equal(call.signed, true, call.signatureProblem ?? 'signed');
      assert.ok(
        Math.abs(Number(call.headers['x-chronops-timestamp']) - Date.now() / 1000) < 5,
        'signed for when it went',
      );
      assert.equal(answer.ok, true);
    });

    it('keeps to the service concurrency and refuses unknown services and escaping paths', async () => {
      // Prepare
      service.script = () => ({ ...contract(), delayMs: 50 });

      // Act
      await Promise.all(
        Array.from({ length: 8 }, (_, i) => caller.call('cms', { method: 'POST', path: '/p' }, `c-${i}`)),
      );

      // Assess
      assert.equal(service.peakByPath.get('/p'), 2);
      assert.equal(caller.limiter.peak('cms'), 2);
      await assert.rejects(caller.call('nope', { method: 'GET', path: '/' }, 'k'), ServiceCallError);
      await assert.rejects(
        caller.call('cms', { method: 'GET', path: '//evil.example/x' }, 'k'),
        /must start with/,
      );
      await assert.rejects(caller.call('cms', { method: 'GET', path: '/a/../../x' }, 'k'), /stay inside/);
    });
  });
}
