// The HTTP jobs' panel in headless Chromium: each job with its next run and last result, and the run history with
// each tenant's outcome; a run opened from a notification's link (#jobs/runs/<id>) is marked.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromiumMissing, openBrowser, screenshotPath } from '../support/browser.ts';
import { backends, eventually, type Running, runChronops } from '../support/harness.ts';
import { cmsJobsConfig, contract, JobService } from '../support/job-service.ts';

const pglite = backends.find((b) => b.name === 'pglite')!;

describe('the HTTP jobs panel in Chromium', { skip: chromiumMissing() }, () => {
  const cms = new JobService({
    script: () => contract([{ tenant: 'umbrella', stackTrace: 'Error: no approver' }], ['acme', 'globex']),
  });
  let run: Running;
  let browser: Browser;

  before(async () => {
    await cms.start();
    const config = cmsJobsConfig(cms, [
      {
        name: 'leave-status',
        service: 'cms',
        path: '/scheduling-api/leave-status',
        schedule: '0 0 9 * * *',
      },
    ]);
    run = await runChronops(pglite, { config });
    browser = await openBrowser();
  });
  after(async () => {
    await browser?.close();
    await run?.stopAll();
    await cms.stop();
  });

  it('lists the job with its next run, then its run with the failed tenant, marked when linked', async () => {
    // Prepare
    const page = browser.page;
    await page.goto(run.url);
    await page.locator('#jobs-panel').waitFor({ state: 'visible' });
    const job = page.locator('#jobs-list tbody tr[data-job="leave-status"]');
    assert.match(
      (await job.textContent()) ?? '',
      /0 0 9 \* \* \*Asia\/Seoul.*cms POST \/scheduling-api\/leave-status.*no run yet/,
    );

    // Act
    const response = await run.app.request('/api/jobs/leave-status/run', { method: 'POST' });
    const { run: started } = (await response.json()) as { run: { id: string } };
    await eventually(async () => {
      const r = await run.app.request(`/api/jobs/runs/${started.id}`);
      return ((await r.json()) as { run: { finishedAt: string | null } }).run.finishedAt !== null;
    });
    await page.goto(`${run.url}/#jobs/runs/${started.id}`);

    // Assess
    const row = page.locator(`#job-runs tbody tr[data-run="${started.id}"]`);
    await row.waitFor({ timeout: 10_000 });
    const text = (await row.textContent()) ?? '';
    assert.match(text, /leave-status/);
    assert.match(text, /manual by api \(api\)/);
    assert.match(text, /partial: 1 failed/);
    assert.match(text, /✖ umbrella/);
    assert.match(text, /✔ acme, globex/);
    assert.equal(await row.getAttribute('class'), 'selected');
    await job.locator('text=partial: 1 failed').waitFor({ timeout: 10_000 });
    await page.screenshot({ path: screenshotPath('test-jobs-panel.png'), fullPage: true });
    assert.deepEqual(browser.errors, []);
  });
});
