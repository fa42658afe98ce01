import { PgBoss } from 'pg-boss';
import type { Db } from '../store/db.ts';
import { PgliteDb } from '../store/pglite-db.ts';
import { PostgresDb } from '../store/postgres-db.ts';

/**
 * The one queue of the timer loop: one job per (kind, key) whose rows fell due (see timers.ts). Retry options
 * are set per job from the kind's handler.
 */
export const TIMER_QUEUE = 'chronops-timers';

/**
 * pg-boss on the same database as chronops' tables: PGlite through pg-boss's PGlite adapter (embedded), or its
 * own pool on the PostgreSQL server.
 */
export async function startBoss(
  db: Db,
  schema: string,
  options: { maintenance?: boolean } = {},
): Promise<PgBoss> {
  const common = {
    schema: `${schema}_boss`,
    useListenNotify: true,
    supervise: options.maintenance ?? true,
    schedule: false,
  };
  let boss: PgBoss;
  if (db instanceof PgliteDb) {
    boss = new PgBoss({ ...common, db: db.bossDb(), backend: 'pglite' });
  } else if (db instanceof PostgresDb) {
    boss = new PgBoss({
      ...common,
      connectionString: db.connectionString,
      max: 4,
      application_name: 'chronops-boss',
    });
  } else {
    throw new Error('unsupported database adapter');
  }
  boss.on('error', () => {
    // Reported by the owner through its own listener; an unhandled 'error' event would end the process.
  });
  await boss.start();
  // Standard policy: the timer loop itself keeps a key to one job at a time (timer_keys), so pg-boss needs no
  // singleton policy; `stately` emptied whole fetches whenever one key was busy (issue 11).
  await boss.createQueue(TIMER_QUEUE, {
    notify: true,
    retryLimit: 5,
    retryDelay: 5,
    retryBackoff: true,
    retryDelayMax: 120,
    expireInSeconds: 900,
  });
  // Fill pg-boss' queue cache now, outside any transaction: a first `insert`/`cancel` inside one of chronops'
  // transactions would otherwise read the queue through pg-boss' own connection, and on the embedded database
  // (one connection, held by that transaction) wait forever. A cancel of no job is the cheapest call that does.
  await boss.cancel(TIMER_QUEUE, '00000000-0000-0000-0000-000000000000');
  return boss;
}
