// The per-service concurrency limit across servers on one PostgreSQL database (src/services/shared-limiter.ts):
// two callers, each with its own connection as two servers have, calling one loopback service at once never
// pass the limit together; slots are given back when the calls end, and when a server holding some is killed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../../src/kernel/config.ts';
import { ServiceCaller } from '../../src/services/caller.ts';
import { SharedServiceLimiter } from '../../src/services/shared-limiter.ts';
import { freshSchema, POSTGRES_URL } from '../support/harness.ts';
import { contract, JobService } from '../support/job-service.ts';

const HOLDER = new URL('../support/slot-holder.ts', import.meta.url).pathname;

describe('the service limit shared by servers on PostgreSQL', () => {
  const schema = freshSchema();
  const cms = new JobService({ script: () => ({ ...contract(), delayMs: 100 }) });
  const limiters: SharedServiceLimiter[] = [];
  const limiter = () => {
    const l = new SharedServiceLimiter({ connectionString: POSTGRES_URL, schema, pollMs: 20, turnMs: 200 });
    limiters.push(l);
    return l;
  };

  before(async () => {
    await cms.start();
  });
  after(async () => {
    await Promise.all(limiters.map((l) => l.close()));
    await cms.stop();
  });

  it('two servers, 40 calls each at once, limit 3: never more than 3 at the service, every call made', async () => {
    // Prepare
    const { services } = parseConfig({ services: [{ name: 'cms', baseUrl: cms.url, concurrency: 3 }] }, {});
    const callers = [0, 1].map(() => new ServiceCaller({ services, limiter: limiter() }));

    // Act
    const answers = await Promise.all(
      callers.flatMap((caller, s) =>
        Array.from({ length: 40 }, (_, i) =>
          caller.call('cms', { method: 'POST', path: `/work/${s}/${i}` }, `key-${s}-${i}`),
        ),
      ),
    );

    // Assess
    assert.equal(answers.filter((a) => a.ok).length, 80);
    assert.equal(cms.calls.length, 80);
    assert.ok(cms.peakInFlight <= 3, `the service saw ${cms.peakInFlight} calls at once`);
    assert.ok(cms.peakInFlight >= 2, `the limit was used (${cms.peakInFlight})`);
    // Both servers called while the other held slots: neither waited for the other to finish all of its calls
    // (a slot serves one server's queue for at most turnMs, then every server competes for it).
    const last0 = Math.max(...cms.calls.filter((c) => c.path.startsWith('/work/0/')).map((c) => +c.at));
    const first1 = Math.min(...cms.calls.filter((c) => c.path.startsWith('/work/1/')).map((c) => +c.at));
    assert.ok(first1 < last0, 'the two servers took turns');
    for (const c of callers) assert.equal(c.limiter.inFlight('cms'), 0);
  });

  it('reserve: a burst announced ahead gets its slots then, kept until its time, given back after', async () => {
    // Prepare
    const a = limiter();
    const b = limiter();

    // Act: a reserves 2 of the 3 slots of "crm" for a burst due within 3 s
    const until = Date.now() + 3000;
    await a.reserve('crm', 3, 2, until);
    const releaseB = await b.acquire('crm', 3);
    let grantedB = 0;
    const second = b.acquire('crm', 3).then((release) => {
      grantedB = Date.now();
      return release;
    });
    await new Promise((r) => setTimeout(r, 200));
    const kept = grantedB === 0;
    // The burst takes its reserved slots at once, without a turn of the event loop; a third finds none free.
    const burst = [a.tryAcquire('crm', 3), a.tryAcquire('crm', 3)];
    const third = a.tryAcquire('crm', 3);
    for (const release of burst) release?.();
    const releaseSecond = await second;

    // Assess
    assert.ok(kept, 'the reserved slots stay with the server that reserved them until its time');
    assert.ok(
      burst.every((release) => release !== undefined),
      'both reserved slots taken at once',
    );
    assert.equal(third, undefined, 'no slot beyond the reserved ones without asking the database');
    assert.ok(grantedB >= until, 'given back after the burst time, they went to the other server');
    assert.equal(a.peak('crm'), 2);
    assert.equal(a.inFlight('crm'), 0);
    assert.equal(b.inFlight('crm'), 2);
    releaseB();
    releaseSecond();
  });

  it('a server killed (SIGKILL) while it holds slots: they are free again without waiting for a lease', async () => {
    // Prepare: another process holds 2 of the 2 slots of "billing"
    const child = spawn(
      process.execPath,
      ['--experimental-strip-types', '--no-warnings=ExperimentalWarning', HOLDER],
      {
        env: {
          ...process.env,
          DATABASE_URL: POSTGRES_URL,
          SCHEMA: schema,
          SERVICE: 'billing',
          SLOTS: '2',
          LIMIT: '2',
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d) => String(d).includes('held') && resolve());
      child.once('exit', (code) => reject(new Error(`the holder exited (${code})`)));
    });
    const mine = limiter();
    let granted = 0;
    const waiting = Promise.all([mine.acquire('billing', 2), mine.acquire('billing', 2)]).then((r) => {
      granted = Date.now();
      return r;
    });
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(granted, 0, 'no slot while the other server holds both');

    // Act
    const killed = Date.now();
    child.kill('SIGKILL');
    await exited;
    const releases = await waiting;

    // Assess
    assert.ok(granted - killed < 5000, `the slots came back ${granted - killed} ms after the kill`);
    assert.equal(mine.inFlight('billing'), 2);
    for (const release of releases) release();
    assert.equal(mine.inFlight('billing'), 0);
  });
});
