// The event rules' panel in headless Chromium: hidden without rules; with them, a run asked for through the API
// appears, then (the simulated task stopping a moment later) shows how it ended: finished, its exit code.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../../src/kernel/config.ts';
import { type Browser, chromiumMissing, openBrowser, screenshotPath } from '../support/browser.ts';
import { backends, type Running, runChronops, simulatorSpec, testConfig } from '../support/harness.ts';

const pglite = backends.find((b) => b.name === 'pglite')!;

const withRules = parseConfig(
  {
    timezone: 'Asia/Seoul',
    dryRun: true,
    resources: {
      tasks: [
        { name: 'pricing', cluster: 'pricing', region: 'us-east-1', taskDefinitions: ['pricechecker'] },
      ],
    },
    rules: [
      {
        name: 'price-list',
        match: { source: 'price-list', topicArn: 'arn:aws:sns:us-east-1:278350005181:price-list-api' },
        actions: [
          {
            runTask: {
              task: 'pricing',
              taskDefinition: 'pricechecker',
              subnets: ['subnet-0123456789abcdef0'],
            },
          },
        ],
      },
    ],
    server: { host: '127.0.0.1', port: 0 },
    database: { dataDir: '/nonexistent-not-used' },
  },
  {},
);

describe('the event rules panel in Chromium', { skip: chromiumMissing() }, () => {
  let run: Running;
  let bare: Running;
  let browser: Browser;
  before(async () => {
    run = await runChronops(pglite, {
      config: withRules,
      dryRun: true,
      spec: {
        ...simulatorSpec(),
        clusters: ['pricing'],
        taskDefinitions: {
          pricechecker: {
            revision: 4,
            containers: [{ name: 'checker', exitCode: 3 }],
            startSeconds: 0.5,
            runSeconds: 1,
          },
        },
      },
    });
    bare = await runChronops(pglite, { config: testConfig() });
    browser = await openBrowser();
  });
  after(async () => {
    await browser?.close();
    await run?.stopAll();
    await bare?.stopAll();
  });

  it('is hidden when no rule is configured', async () => {
    await browser.page.goto(bare.url);
    await browser.page.locator('#live[data-state="open"]').waitFor();
    assert.equal(await browser.page.locator('#rules-panel').isHidden(), true);
  });

  it('shows a run as it starts and as its task ends', async () => {
    // Prepare
    const page = browser.page;
    await page.goto(run.url);
    await page.locator('#rules-panel').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#rules-count').textContent(), '1 rule: price-list');
    assert.match((await page.locator('#rule-runs tbody').textContent()) ?? '', /No rule has run yet/);

    // Act
    const response = await run.app.request('/api/rules/price-list/run', {
      method: 'POST',
      headers: { 'x-chronops-actor': 'ops' },
    });

    // Assess
    assert.equal(response.status, 202);
    const row = page.locator('#rule-runs tbody tr[data-status="stopped"]');
    await row.waitFor({ timeout: 15_000 });
    const text = (await row.textContent()) ?? '';
    assert.match(text, /price-list/);
    assert.match(text, /run requested by ops \(api\)/);
    assert.match(text, /alert/);
    assert.match(text, /pricechecker:4/);
    assert.match(text, /checker: 3/);
    assert.match(text, /EssentialContainerExited/);
    await page.screenshot({ path: screenshotPath('test-rules-panel.png'), fullPage: true });
    assert.deepEqual(browser.errors, []);
  });
});
