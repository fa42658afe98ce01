// Office hours' panel in headless Chromium: hidden without schedules; with them, each resource's on/off bands for
// the next 7 days (on and off segments, a dated exception marked on the band and named beside it), hours off per
// week and the estimated saving from pricePerUnitHour, and the total.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PowerCapability } from '../../src/capabilities/power/capability.ts';
import { localDateOf } from '../../src/capabilities/power/schedule.ts';
import { type Browser, chromiumMissing, openBrowser, screenshotPath } from '../support/browser.ts';
import { backends, type Running, runChronops, simulatorSpec, testConfig } from '../support/harness.ts';

const pglite = backends.find((b) => b.name === 'pglite')!;

const withSchedules = testConfig({
  dryRun: true,
  schedules: {
    'office-hours': {
      timezone: 'Asia/Seoul',
      periods: [{ begintime: '09:00', endtime: '18:00', weekdays: 'mon-fri' }],
    },
  },
  resources: {
    ecs: [
      {
        name: 'web',
        cluster: 'shop',
        service: 'web',
        region: 'ap-northeast-2',
        maxTasks: 20,
        schedule: 'office-hours',
      },
    ],
    ec2: [
      {
        name: 'batch-1',
        instanceId: 'i-00000000000000001',
        region: 'ap-northeast-2',
        schedule: 'office-hours',
        pricePerUnitHour: 0.2,
      },
    ],
  },
});

describe('the office hours panel in Chromium', { skip: chromiumMissing() }, () => {
  let run: Running;
  let bare: Running;
  let browser: Browser;
  before(async () => {
    run = await runChronops(pglite, {
      config: withSchedules,
      dryRun: true,
      spec: { ...simulatorSpec(), ec2: { 'i-00000000000000001': { state: 'running' } } },
    });
    bare = await runChronops(pglite, { config: testConfig() });
    browser = await openBrowser();
  });
  after(async () => {
    await browser?.close();
    await run?.stopAll();
    await bare?.stopAll();
  });

  it('is hidden when no schedule is configured', async () => {
    await browser.page.goto(bare.url);
    await browser.page.locator('#live[data-state="open"]').waitFor();
    assert.equal(await browser.page.locator('#power-panel').isHidden(), true);
  });

  it('shows a week of on/off bands per resource, an exception marked, hours off and the saving', async () => {
    // Prepare: an exception two days ahead (a whole day on, from 00:00)
    const power = run.capabilities.power as PowerCapability;
    const day = localDateOf(new Date(Date.now() + 2 * 86_400_000), 'Asia/Seoul');
    await power.service.setException('office-hours', day, 'start', 0, 'tester');
    await power.service.setException('office-hours', day, 'stop', 23 * 60, 'tester');
    const page = browser.page;
    // Act
    await page.goto(run.url);
    await page.locator('#power-panel').waitFor({ state: 'visible' });
    const row = page.locator('.power-row[data-resource="batch-1"]');
    await row.waitFor();
    // Assess
    assert.match(
      (await page.locator('#power-count').textContent()) ?? '',
      /office-hours \(Asia\/Seoul\): mon-fri 09:00–18:00/,
    );
    assert.ok((await row.locator('.seg[data-state="running"]').count()) >= 3, 'weekdays on');
    assert.ok((await row.locator('.seg[data-state="stopped"]').count()) >= 3, 'nights off');
    assert.equal(await row.locator('.seg[data-reason="exception"][data-state="running"]').count(), 1);
    assert.equal(
      await row.locator(`.badge.exception[data-date="${day}"]`).textContent(),
      `${day} start 00:00 stop 23:00`,
    );
    const hours = Number(/([\d.]+) h off/.exec((await row.locator('.hours').textContent()) ?? '')?.[1]);
    assert.ok(hours > 90 && hours < 150, String(hours));
    const saving = (await row.locator('.saving').textContent()) ?? '';
    assert.equal(saving, `≈ $${(Math.round(hours * 0.2 * 100) / 100).toFixed(2)} / week`);
    // The service that also has a capacity plan has its bands too; no price, no saving line
    const web = page.locator('.power-row[data-resource="web"]');
    assert.equal(await web.locator('.saving').count(), 0);
    assert.match(
      (await page.locator('#power-total').textContent()) ?? '',
      /resource-hours off per week, an estimated \$[\d.]+ saved per week/,
    );
    await page.screenshot({ path: screenshotPath('test-power-panel.png'), fullPage: true });
    assert.deepEqual(browser.errors, []);
  });
});
