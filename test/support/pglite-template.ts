// A new embedded database, made once per PGlite version and kept in the temp folder: opening an in-memory PGlite
// from its dump skips initdb (about half the CPU of an open: 5 s of 10 s at load 23, and 1.1 GB for a moment), so
// each test file pays for one open of PGlite's WebAssembly only. The dump is of a database just created by PGlite
// itself (nothing of chronops in it): the tests still migrate it as chronops does.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

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

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--dump') {
  const { PGlite } = await import('@electric-sql/pglite');
  const pg = new PGlite();
  await pg.waitReady;
  const dump = await pg.dumpDataDir('gzip');
  writeFileSync(process.argv[3]!, Buffer.from(await dump.arrayBuffer()));
  await pg.close();
}
