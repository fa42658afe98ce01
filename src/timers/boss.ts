import { fromPglite, PgBoss } from 'pg-boss';
import type { Db } from '../store/db.ts';
import { PgliteDb } from '../store/pglite-db.ts';
import { PostgresDb } from '../store/postgres-db.ts';

export const Queues = {
  /** One job per fired transition: converge its resource to the plan. */
  transition: 'chronops-transition',
  /** Follow a reader chronops created until it is available (one check per job, re-sent while creating). */
  reader: 'chronops-reader',
} as const;

/**
 * pg-boss on the same database as chronops' tables: PGlite through pg-boss's PGlite adapter (embedded), or its
 * own pool on the PostgreSQL server. Queues notify their workers on insert (LISTEN/NOTIFY), so a fired
 * transition starts at once instead of at the next poll.
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
    boss = new PgBoss({ ...common, db: fromPglite(db.pglite), backend: 'pglite' });
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
  // expireInSeconds: a worker that died (kill -9) mid-transition leaves its job active; after this long it
  // is retried, and the retry finds the transition's state and converges again (idempotent).
  // stately with the resource as singleton key: at most one job waiting and one running per resource.
  await boss.createQueue(Queues.transition, {
    policy: 'stately',
    notify: true,
    retryLimit: 5,
    retryDelay: 5,
    retryBackoff: true,
    retryDelayMax: 120,
    expireInSeconds: 120,
  });
  await boss.createQueue(Queues.reader, {
    notify: false,
    retryLimit: 10,
    retryDelay: 10,
    expireInSeconds: 120,
  });
  return boss;
}
