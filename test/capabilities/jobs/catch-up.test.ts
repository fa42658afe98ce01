// A restart after chronops was down: a job whose time passed within its catch-up window runs late (trigger
// catch-up), one whose window is over is recorded as missed (and reported as a failure); the next times are taken
// from now. Two real starts of chronops on the same database.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JobsCapability } from '../../../src/capabilities/jobs/capability.ts';
import { startChronops } from '../../../src/hosts/server.ts';
import { parseConfig } from '../../../src/kernel/config.ts';
import { createLogger } from '../../../src/kernel/logger.ts';
import { backends, eventually } from '../../support/harness.ts';
import { contract, JobService } from '../../support/job-service.ts';

for (const backend of backends) {
  describe(`HTTP jobs after a restart (${backend.name})`, () => {
    it('runs what fell due within catchUpMinutes late, records the rest as missed', async () => {
      // Prepare: two jobs far ahead; chronops stops; their times are moved into the past as if it had been down
      const cms = await new JobService({ script: () => contract() }).start();
      const config = parseConfig(
        {
          server: { host: '127.0.0.1', port: 0 },
          database: { dataDir: '/nonexistent-not-used' },
          services: [{ name: 'cms', baseUrl: cms.url }],
          jobs: [
            { name: 'catch-me', service: 'cms', path: '/late', schedule: '0 0 9 * * *', catchUpMinutes: 30 },
            { name: 'too-late', service: 'cms', path: '/missed', schedule: '0 0 9 * * *', catchUpMinutes: 1 },
          ],
        },
        {},
      );
      const { db, schema, drop } = await backend.open();
      const options = { db, schema, pollMs: 250, logger: createLogger({ level: 'silent' }) };
      try {
        const first = await startChronops(config, options);
        await first.close();
        await db.query(
          `UPDATE ${schema}.jobs SET next_due_at = date_trunc('second', now()) - interval '5 minutes'`,
        );

        // Act
        const second = await startChronops(config, options);
        try {
          const jobs = second.capabilities.jobs as JobsCapability;
          const runs = await eventually(
            async () => {
              const all = await jobs.service.history(undefined, 10);
              return all.length === 2 && all.every((r) => r.finishedAt) ? all : undefined;
            },
            10_000,
            'both runs',
          );
          const byJob = Object.fromEntries(runs.map((r) => [r.job, r]));

          // Assess
          assert.equal(byJob['catch-me']!.status, 'success');
          assert.equal(byJob['catch-me']!.trigger, 'catch-up');
          assert.equal(byJob['too-late']!.status, 'missed');
          assert.match(byJob['too-late']!.summary!, /missed: chronops was not running within 1 min/);
          assert.deepEqual(
            cms.calls.map((c) => c.path),
            ['/late'],
          );
          const next = (await jobs.service.list()).map((j) => j.nextDueAt!.getTime());
          assert.ok(
            next.every((t) => t > Date.now()),
            'the next times are ahead',
          );
        } finally {
          await second.close();
        }
      } finally {
        await drop();
        await cms.stop();
      }
    });
  });
}
