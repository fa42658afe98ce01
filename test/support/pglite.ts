// In-memory embedded databases for tests, cheap to get: a file's tests reuse the ones finished with (memoryPglite,
// releasePglite), and each is opened from a dump of a new database made once per PGlite version and kept in the temp
// folder, which skips initdb (about half the CPU of an open: 5 s of 10 s at load 23, and 1.1 GB for a moment). The
// dump is of a database just created by PGlite itself (nothing of chronops in it): tests still migrate it as chronops
// does. Light on purpose (no server modules): for test files that only need a database.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PgliteDb } from '../../src/store/pglite-db.ts';

const pgliteVersion = (
  JSON.parse(
    readFileSync(new URL('../../node_modules/@electric-sql/pglite/package.json', import.meta.url), 'utf8'),
  ) as { version: string }
).version;

/** The path of a dump (PGlite's dumpDataDir, gzip) of a new database, made on first use. */
export function newDatabaseDump(): string {
  const path = join(tmpdir(), `chronops-test-pglite-${pgliteVersion}.tar.gz`);
  if (!existsSync(path)) {
    // Made in a child process (initdb's 1.1 GB moment is not kept by the test's), under a name of its own, then
    // renamed: another test process may be making it at the same time.
    const building = `${path}.${process.pid}`;
    try {
      execFileSync(
        process.execPath,
        [...process.execArgv, fileURLToPath(import.meta.url), '--dump', building],
        {
          stdio: 'ignore',
          timeout: 180_000,
        },
      );
      renameSync(building, path);
    } finally {
      rmSync(building, { force: true });
    }
  }
  return path;
}

// Starting an in-memory PGlite costs seconds (its WebAssembly, then initdb: 5–15 s on a loaded 2-core machine),
// migrating it a fraction of a second. So a test file keeps the ones its tests have finished with: dropped back to
// the state of a just-opened database (every schema it did not have removed), checked to be exactly that (the same
// catalogue counts, no channel listened to), and handed to the next test; one that is not is closed instead. A
// database is never shared by two tests (or two servers of one test) at the same time.
interface Pristine {
  schemas: string[];
  fingerprint: string;
}
const idlePglite: PgliteDb[] = [];
const pristineOf = new WeakMap<PgliteDb, Pristine>();
const lent = new WeakSet<PgliteDb>();

const FINGERPRINT_SQL = `SELECT concat_ws(',',
    (SELECT count(*) FROM pg_namespace), (SELECT count(*) FROM pg_class), (SELECT count(*) FROM pg_proc),
    (SELECT count(*) FROM pg_type), (SELECT count(*) FROM pg_event_trigger), (SELECT count(*) FROM pg_extension),
    (SELECT count(*) FROM pg_prepared_xacts), (SELECT count(*) FROM pg_listening_channels())) AS f`;

/** An in-memory PGlite in the state of a just-opened one: a finished test's, reset, or a new one. */
export async function memoryPglite(): Promise<PgliteDb> {
  const idle = idlePglite.pop();
  if (idle) {
    lent.add(idle);
    return idle;
  }
  const db = await PgliteDb.open('memory', { template: newDatabaseDump() });
  lent.add(db);
  const schemas = (await db.query<{ nspname: string }>('SELECT nspname FROM pg_namespace')).map(
    (r) => r.nspname,
  );
  const [{ f }] = (await db.query<{ f: string }>(FINGERPRINT_SQL)) as [{ f: string }];
  pristineOf.set(db, { schemas, fingerprint: f });
  return db;
}

/** Gives back a database from memoryPglite: reset for the next test if it can be made pristine, else closed. */
export async function releasePglite(db: PgliteDb): Promise<void> {
  if (!lent.delete(db)) return; // given back already
  const pristine = pristineOf.get(db);
  try {
    if (pristine) {
      const added = await db.query<{ nspname: string }>(
        'SELECT nspname FROM pg_namespace WHERE NOT (nspname = ANY($1))',
        [pristine.schemas],
      );
      for (const { nspname } of added) await db.query(`DROP SCHEMA "${nspname}" CASCADE`);
      const [{ f }] = (await db.query<{ f: string }>(FINGERPRINT_SQL)) as [{ f: string }];
      if (f === pristine.fingerprint) {
        idlePglite.push(db);
        return;
      }
    }
  } catch {
    // Not reusable (its thread failed, a statement was refused): closed below.
  }
  await db.close();
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--dump') {
  const { PGlite } = await import('@electric-sql/pglite');
  const pg = new PGlite();
  await pg.waitReady;
  const dump = await pg.dumpDataDir('gzip');
  writeFileSync(process.argv[3]!, Buffer.from(await dump.arrayBuffer()));
  await pg.close();
}
