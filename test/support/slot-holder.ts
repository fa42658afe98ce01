// A chronops stand-in that takes `SLOTS` slots of service `SERVICE` (src/services/shared-limiter.ts) on the
// PostgreSQL database `DATABASE_URL`, schema `SCHEMA`, says "held" on stdout and keeps them until it is killed.
// The shared limit test SIGKILLs it to see the slots come back.
import { SharedServiceLimiter } from '../../src/services/shared-limiter.ts';

// Alive until killed (the limiter's connection alone does not keep a process alive).
setInterval(() => {}, 60_000);
const limiter = new SharedServiceLimiter({
  connectionString: process.env.DATABASE_URL!,
  schema: process.env.SCHEMA!,
});
const n = Number(process.env.SLOTS ?? 1);
await Promise.all(
  Array.from({ length: n }, () => limiter.acquire(process.env.SERVICE!, Number(process.env.LIMIT ?? n))),
);
process.stdout.write('held\n');
