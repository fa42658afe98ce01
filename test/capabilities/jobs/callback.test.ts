// Callback mode end to end: the service answers 202 at once and later posts the result (signed, with the run's
// one-run token) to the callback URL chronops gave it; progress on the way; a forged callback gets 401 and a late
// one 409, the run unchanged; a run without its result by the deadline fails.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../../../src/kernel/config.ts';
import { signatureHeaders } from '../../../src/services/signature.ts';
import { backends, eventually, isoIn, type Running, runChronops } from '../../support/harness.ts';
import { JobService } from '../../support/job-service.ts';

const SECRET = 'long-job-service-secret';
const FAR = '2099-01-01T00:00:00Z';

for (const backend of backends) {
  describe(`HTTP jobs, callback mode (${backend.name})`, () => {
    const service = new JobService({
      secret: SECRET,
      script: () => ({ status: 202, body: { accepted: true } }),
    });
    let chronops: Running;

    const api = async (path: string, init?: RequestInit) => {
      const response = await chronops.app.request(`/api/jobs${path}`, init);
      return (await response.json()) as Record<string, any>;
    };
    /** Posts to the callback URL the service was given, as the service would (signed with its secret). */
    const callBack = async (
      call: { headers: Record<string, string> },
      body: unknown,
      o: { token?: string; secret?: string } = {},
    ) => {
      const raw = JSON.stringify(body);
      const response = await fetch(call.headers['x-chronops-callback']!, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-chronops-callback-token': o.token ?? call.headers['x-chronops-callback-token']!,
          ...signatureHeaders(o.secret ?? SECRET, raw),
        },
        body: raw,
      });
      return { status: response.status, body: (await response.json()) as Record<string, any> };
    };
    const started = async (job: string) => {
      const { run } = await api(`/${job}/run`, { method: 'POST' });
      const call = await eventually(
        async () => service.calls.find((c) => c.headers['x-chronops-run'] === run.id),
        5000,
        'the call',
      );
      await eventually(async () => (await api(`/runs/${run.id}`)).run.status === 'waiting', 5000, 'waiting');
      return { id: run.id as string, call };
    };

    before(async () => {
      await service.start();
      const config = parseConfig(
        {
          server: { host: '127.0.0.1', port: 0 },
          database: { dataDir: '/nonexistent-not-used' },
          services: [{ name: 'reports', baseUrl: service.url, secret: '${REPORTS_SECRET}' }],
          jobs: [
            {
              name: 'monthly-report',
              service: 'reports',
              path: '/reports/monthly',
              at: FAR,
              mode: 'callback',
            },
            {
              name: 'nightly-export',
              service: 'reports',
              path: '/reports/export',
              at: isoIn(3000),
              mode: 'callback',
              deadlineSeconds: 600,
            },
            {
              name: 'short-deadline',
              service: 'reports',
              path: '/reports/quick',
              at: FAR,
              mode: 'callback',
              deadlineSeconds: 1,
            },
          ],
        },
        { REPORTS_SECRET: SECRET },
      );
      chronops = await runChronops(backend, { config });
    });
    after(async () => {
      await chronops.stopAll();
      await service.stop();
    });

    it('takes progress and then the result by callback; refuses forged (401) and late (409) callbacks', async () => {
      // Prepare
      const { id, call } = await started('monthly-report');

      // Act
      const progress = await callBack(call, { progress: 0.4, message: '4 of 10 tenants' });
      const halfway = (await api(`/runs/${id}`)).run;
      const badToken = await callBack(call, { progress: 0.9 }, { token: 'not-the-token' });
      const badSignature = await callBack(call, { progress: 0.9 }, { secret: 'not-the-secret' });
      const result = await callBack(call, {
        contents: {
          failTenants: ['t9'],
          failCount: 1,
          failDetails: [{ tenant: 't9', stackTrace: 'Timeout' }],
          successTenants: ['t1'],
        },
      });
      const late = await callBack(call, {
        contents: { failTenants: [], failCount: 0, successTenants: ['t1', 't9'] },
      });
      const done = (await api(`/runs/${id}`)).run;

      // Assess
      assert.equal(call.signed, true, call.signatureProblem ?? '');
      assert.match(call.headers['x-chronops-callback']!, new RegExp(`/jobs/runs/${id}/result$`));
      assert.equal(progress.status, 200);
      assert.equal(halfway.progress, 0.4);
      assert.equal(halfway.progressMessage, '4 of 10 tenants');
      assert.equal(halfway.status, 'waiting');
      assert.equal(badToken.status, 401);
      assert.equal(badSignature.status, 401);
      assert.match(badSignature.body.error.message, /signature does not match/);
      assert.equal(result.status, 200);
      assert.equal(late.status, 409);
      assert.match(late.body.error.message, /is partial already/);
      assert.equal(done.status, 'partial');
      assert.deepEqual(done.tenants.failed, ['t9']);
      assert.equal(done.progress, 0.4, 'the forged progress did not land');
    });

    it('a scheduled callback run: its token and deadline made before its second, the deadline from the due time', async () => {
      // Prepare: nightly-export is due 3 s after the start.
      const call = await eventually(
        async () => service.calls.find((c) => c.headers['x-chronops-job'] === 'nightly-export'),
        15_000,
        'the scheduled call',
      );
      const id = call.headers['x-chronops-run']!;
      const due = (await api(`/runs/${id}`)).run.dueAt as string;

      // Act
      const result = await callBack(call, {
        contents: { failTenants: [], failCount: 0, successTenants: ['t1'] },
      });
      const done = (await api(`/runs/${id}`)).run;

      // Assess
      assert.equal(call.signed, true, call.signatureProblem ?? '');
      assert.equal(call.headers['x-chronops-timestamp'], String(Math.floor(Date.parse(due) / 1000)));
      assert.equal(
        call.headers['x-chronops-deadline'],
        new Date(Date.parse(due) + 600_000).toISOString(),
        'the deadline is 600 s from the due second, not from when the call was written',
      );
      assert.equal(result.status, 200);
      assert.equal(done.status, 'success');
    });

    it('fails a run whose result did not come by its deadline, and refuses the callback after it', async () => {
      // Prepare
      const { id, call } = await started('short-deadline');

      // Act
      const failed = await eventually(
        async () => {
          const run = (await api(`/runs/${id}`)).run;
          return run.status === 'failed' ? run : undefined;
        },
        8000,
        'the deadline',
      );
      const late = await callBack(call, { contents: { failTenants: [], successTenants: ['t1'] } });

      // Assess
      assert.equal(failed.summary, 'no result by its deadline');
      assert.equal(late.status, 409);
      assert.equal((await api(`/runs/${id}`)).run.status, 'failed');
    });
  });
}
