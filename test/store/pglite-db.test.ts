// The embedded database in its own thread: commits flushed to disk (fsync on by default, a real fsync(2) per
// commit), the ingest's writes ahead of the statements waiting (the relay's next), transactions alone and rolled
// back on error, PostgreSQL's error codes kept across the thread, a data directory created in a child process, and
// the tables with many dead row versions vacuumed at quiet moments only.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PgliteDb } from '../../src/store/pglite-db.ts';
import { newDatabaseDump } from '../support/pglite.ts';

describe('PgliteDb (a data directory, its own thread)', () => {
  let dir: string;
  let db: PgliteDb;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'chronops-pglite-test-'));
    db = await PgliteDb.open(dir);
    await db.query('CREATE TABLE t (k text PRIMARY KEY, v int)');
  });
  after(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs with fsync on, and flushes each commit to disk (fsync calls counted by the thread)', async () => {
    const [fsync] = await db.query<{ fsync: string }>('SHOW fsync');
    assert.equal(fsync!.fsync, 'on');
    const [method] = await db.query<{ wal_sync_method: string }>('SHOW wal_sync_method');
    assert.equal(method!.wal_sync_method, 'fsync');
    const before = (await db.stats()).fsyncs;
    await db.query(`INSERT INTO t VALUES ('a', 1)`);
    const afterInsert = (await db.stats()).fsyncs;
    assert.ok(afterInsert > before, `a commit made no fsync (${before} → ${afterInsert})`);
    await db.copyCsv('t', ['k', 'v'], '"b",2\n"c",3\n');
    assert.ok((await db.stats()).fsyncs > afterInsert, 'a COPY commit made no fsync');
    await db.transaction(async (tx) => {
      await tx.query(`INSERT INTO t VALUES ('d', 4)`);
    });
    const rows = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM t');
    assert.equal(rows[0]!.n, 4);
  });

  it('keeps PostgreSQL’s error code across the thread (a duplicate key is 23505)', async () => {
    await assert.rejects(db.query(`INSERT INTO t VALUES ('a', 9)`), (error: { code?: string }) => {
      assert.equal(error.code, '23505');
      return true;
    });
  });

  it('runs the ingest’s writes ahead of the statements already waiting', async () => {
    const order: string[] = [];
    const slow = Array.from({ length: 10 }, (_, i) =>
      db.query('SELECT pg_sleep(0.02)').then(() => order.push(`slow${i}`)),
    );
    const high = db
      .query(`INSERT INTO t VALUES ('h', 0)`, [], { priority: 'high' })
      .then(() => order.push('high'));
    await Promise.all([...slow, high]);
    // At most the statement already running when it arrived goes before it.
    assert.ok(order.indexOf('high') <= 1, `the ingest write waited: ${order.join(', ')}`);
  });

  it('runs the relay’s statements (medium) after the ingest’s writes and ahead of the others waiting', async () => {
    const order: string[] = [];
    const slow = Array.from({ length: 10 }, (_, i) =>
      db.query('SELECT pg_sleep(0.02)').then(() => order.push(`slow${i}`)),
    );
    const medium = db.query('SELECT 1', [], { priority: 'medium' }).then(() => order.push('medium'));
    const high = db
      .query(`INSERT INTO t VALUES ('h2', 0)`, [], { priority: 'high' })
      .then(() => order.push('high'));
    await Promise.all([...slow, medium, high]);
    // At most the statement already running when they arrived goes before them, and the ingest's write first.
    assert.ok(order.indexOf('medium') <= 2, `the relay's statement waited: ${order.join(', ')}`);
    assert.ok(order.indexOf('high') < order.indexOf('medium'), `the ingest went second: ${order.join(', ')}`);
  });

  it('lets statements waiting together share one commit; a failing one fails alone', async () => {
    const before = await db.stats();
    await Promise.all(Array.from({ length: 20 }, (_, i) => db.query(`INSERT INTO t VALUES ('g${i}', ${i})`)));
    const after = await db.stats();
    assert.ok(after.sharedCommits > before.sharedCommits, 'no commit was shared');
    assert.ok(
      after.fsyncs - before.fsyncs < 20,
      `20 statements made ${after.fsyncs - before.fsyncs} flushes: no commit was shared`,
    );
    // A duplicate key among statements waiting together: it fails, the others are stored.
    const duplicate = assert.rejects(
      db.query(`INSERT INTO t VALUES ('g3', 99)`),
      (error: { code?: string }) => error.code === '23505',
    );
    const others = Array.from({ length: 5 }, (_, i) => db.query(`INSERT INTO t VALUES ('m${i}', ${i})`));
    await Promise.all([duplicate, ...others]);
    const rows = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM t WHERE k LIKE 'g%' OR k LIKE 'm%'`,
    );
    assert.equal(rows[0]!.n, 25);
    assert.deepEqual(await db.query(`SELECT v FROM t WHERE k = 'g3'`), [{ v: 3 }]);
  });

  it('rolls a transaction back when its function throws, and holds other statements until it ends', async () => {
    let outside: Promise<unknown> | undefined;
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query(`INSERT INTO t VALUES ('x', 1)`);
        outside = db.query<{ n: number }>(`SELECT count(*)::int AS n FROM t WHERE k = 'x'`);
        await tx.query(`INSERT INTO t VALUES ('y', 2)`);
        throw new Error('changed my mind');
      }),
      /changed my mind/,
    );
    assert.deepEqual(await outside, [{ n: 0 }]);
    assert.deepEqual(await db.query(`SELECT k FROM t WHERE k IN ('x', 'y')`), []);
  });
});

describe('PgliteDb vacuums at quiet moments (PGlite has no autovacuum)', () => {
  it('leaves the dead row versions while the ingest writes, and vacuums them once it is quiet', async () => {
    // Prepare: a table whose every row was updated once (5,000 dead row versions)
    const db = await PgliteDb.open('memory', {
      template: newDatabaseDump(),
      vacuum: { checkMs: 200, quietMs: 600, minDead: 100 },
    });
    try {
      await db.query('CREATE TABLE churn (id int PRIMARY KEY, v int)');
      await db.query('INSERT INTO churn SELECT g, 0 FROM generate_series(1, 5000) g');
      await db.query('UPDATE churn SET v = 1');
      await db.query('CREATE TABLE ingest (id serial PRIMARY KEY)');
      // Act: ingest writes every 100 ms for 2 s
      for (let i = 0; i < 20; i++) {
        await db.query('INSERT INTO ingest DEFAULT VALUES', [], { priority: 'high' });
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      // Assess: nothing vacuumed meanwhile
      assert.equal((await db.stats()).vacuums, 0, 'no VACUUM while the ingest writes');
      // Act: quiet
      let vacuumed: { dead: number; last: Date | null } | undefined;
      for (const deadline = Date.now() + 10_000; !vacuumed?.last && Date.now() < deadline; ) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        [vacuumed] = await db.query<{ dead: number; last: Date | null }>(
          `SELECT n_dead_tup::int AS dead, last_vacuum AS last FROM pg_stat_user_tables WHERE relname = 'churn'`,
        );
      }
      assert.ok(vacuumed?.last, 'churn vacuumed within 10 s of the quiet');
      // Assess
      assert.equal(vacuumed.dead, 0);
      const stats = await db.stats();
      assert.ok(stats.vacuums >= 1);
      assert.ok(stats.vacuumMaxMs > 0 && stats.vacuumMaxMs <= stats.vacuumMs);
    } finally {
      await db.close();
    }
  });
});

describe('PgliteDb with fsync off', () => {
  it('says so, and makes no fsync calls', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'chronops-pglite-test-'));
    const db = await PgliteDb.open(dir, { fsync: false });
    try {
      const [fsync] = await db.query<{ fsync: string }>('SHOW fsync');
      assert.equal(fsync!.fsync, 'off');
      await db.query('CREATE TABLE t (k text)');
      await db.query(`INSERT INTO t VALUES ('a')`);
      assert.equal((await db.stats()).fsyncs, 0);
    } finally {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('PgliteDb and the process it runs in', () => {
  it('keeps the process alive while a statement waits, not after: a database left open does not hang Node', async () => {
    // A child that opens a database, answers one query after a slow statement, and never closes it: it must
    // print the answer (the thread kept it alive while waiting) and then exit by itself.
    const { spawn } = await import('node:child_process');
    const { writeFileSync } = await import('node:fs');
    const url = new URL('../../src/store/pglite-db.ts', import.meta.url).href;
    const dir = mkdtempSync(join(tmpdir(), 'chronops-pglite-exit-'));
    const script = join(dir, 'left-open.mjs');
    writeFileSync(
      script,
      [
        `const { PgliteDb } = await import(${JSON.stringify(url)});`,
        `const db = await PgliteDb.open('memory');`,
        `const [row] = await db.query("SELECT pg_sleep(0.3), 41 + 1 AS answer");`,
        'console.log(row.answer);',
      ].join('\n'),
    );
    after(() => rmSync(dir, { recursive: true, force: true }));
    const child = spawn(process.execPath, ['--experimental-strip-types', '--no-warnings', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error('the process did not exit with its database left open'));
      }, 60_000);
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    assert.equal(code, 0);
    assert.equal(out.trim(), '42');
  });
});
