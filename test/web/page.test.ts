// The page in headless Chromium: the chat console (paste the product alert as the thread's parent, type commands
// as in Slack) creates a window that shows on the timeline and in the upcoming transitions; it is cancelled from the
// page and leaves both; a window made through the HTTP API shows up live, without a reload.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DateTime } from 'luxon';
import { type Browser, chromiumMissing, openBrowser, screenshotPath } from '../support/browser.ts';
import { backends, isoIn, type Running, runChronops } from '../support/harness.ts';

const pglite = backends.find((b) => b.name === 'pglite')!;
const ZONE = 'Asia/Seoul';

/** The daily alert, with product 2 opening in three hours (full date-times: right across midnight too). */
function alertMessage(): { text: string; open: DateTime } {
  const now = DateTime.now().setZone(ZONE);
  const open = now.plus({ hours: 3 }).startOf('minute');
  const at = (d: DateTime) => d.toFormat('yyyy-MM-dd HH:mm');
  return {
    open,
    text: [
      `[오늘 오픈 예정 인기 상품] ${now.toFormat('yyyy-MM-dd')}`,
      `1. (12345) 나이키 덩크 로우 - ${at(now.plus({ hours: 2 }))} 오픈 (조회수 15,234)`,
      `2. (12377) 아이폰 18 Pro 사전예약 - ${at(open)} 오픈 (조회수 9,876)`,
      `3. (12401) 콘서트 티켓 — ${at(now.plus({ hours: 30 }))} 오픈`,
    ].join('\n'),
  };
}

describe('the page in Chromium', { skip: chromiumMissing() }, () => {
  let run: Running;
  let browser: Browser;
  before(async () => {
    run = await runChronops(pglite);
    browser = await openBrowser();
  });
  after(async () => {
    await browser?.close();
    await run?.stopAll();
  });

  const page = () => browser.page;
  const lastPlan = () =>
    page()
      .locator('#thread .msg.bot')
      .filter({ has: page().locator('.blk-header') })
      .last();

  it('loads with a chart per configured resource and a live stream', async () => {
    // Act
    await page().goto(run.url);
    // Assess
    await page().locator('#live[data-state="open"]').waitFor();
    await page().locator('.chart[data-resource="web"] svg').waitFor();
    await page().locator('.chart[data-resource="shop-db"] svg').waitFor();
    assert.equal(await page().locator('#zone').textContent(), ZONE);
    assert.match((await page().locator('#upcoming tbody').textContent()) ?? '', /Nothing scheduled/);
    // Marks this document: a reload would lose it.
    await page().evaluate(() => {
      (window as unknown as { loadedOnce: boolean }).loadedOnce = true;
    });
  });

  it('console: paste the alert, create a window as in Slack; it shows in the thread, on the timeline and upcoming', async () => {
    // Prepare
    const alert = alertMessage();
    await page().locator('#parent-text').fill(alert.text);
    await page().getByRole('button', { name: 'Start thread with this message' }).click();
    // Act
    await page().locator('#command').fill('create 2 --ecs 12 --rds 2 --auto');
    await page().locator('#command').press('Enter');
    // Assess: the plan, rendered from the handler's Block Kit, with its Cancel button
    const plan = lastPlan();
    await plan.waitFor();
    assert.match(
      (await plan.locator('.blk-header').textContent()) ?? '',
      /Plan · 12377 아이폰 18 Pro 사전예약/,
    );
    assert.match((await plan.textContent()) ?? '', /Opens.*\(Asia\/Seoul\)/s);
    assert.equal(await plan.getByRole('button', { name: 'Cancel' }).count(), 1);
    const id = await plan.getAttribute('data-window');
    assert.ok(id, 'the plan message knows its window');
    const window = await run.store.getWindow(id);
    assert.equal(window.createdBy, 'console');
    assert.equal(window.origin?.source, 'console');
    assert.equal(window.name, '12377');
    // On the timeline of both resources, named, and in the upcoming transitions
    await page().locator(`.chart[data-resource="web"] rect.band[data-window="${id}"]`).waitFor();
    await page().locator(`.chart[data-resource="shop-db"] rect.band[data-window="${id}"]`).waitFor();
    assert.ok(
      ((await page().locator('.chart[data-resource="web"]').textContent()) ?? '').includes('12377 · 12'),
      'the band is labelled with the window name and amount',
    );
    await page().locator(`#upcoming tr[data-window="${id}"]`).nth(3).waitFor();
    assert.equal(await page().locator(`#upcoming tr[data-window="${id}"]`).count(), 4);
    // The scale-out of ECS is 10 minutes before the open, in the team's zone
    const ecsStart = alert.open.minus({ minutes: 10 }).toFormat('HH:mm');
    assert.match((await page().locator('#upcoming tbody tr').first().textContent()) ?? '', /shop-db/);
    assert.ok(((await page().locator('#upcoming tbody').textContent()) ?? '').includes(ecsStart));
    // Audited as the console user, with the raw text
    const audit = await run.store.listAudit({ actor: 'console', action: 'chat.create' });
    assert.equal(audit.length, 1);
    assert.equal(audit[0]!.source, 'console');
    assert.equal(audit[0]!.details?.text, 'create 2 --ecs 12 --rds 2 --auto');
    // The first screen, as in the README (docs/screenshots/chronops.png is a copy of this one)
    await page().screenshot({ path: screenshotPath('test-overview.png') });
  });

  it('cancel from the page with a confirmation: the window leaves the timeline and the upcoming list', async () => {
    // Prepare
    const id = (await lastPlan().getAttribute('data-window'))!;
    const row = page().locator(`#windows tr[data-window="${id}"]`);
    // Act: first say no, then yes
    await row.getByRole('button', { name: 'Cancel' }).click();
    await page().locator('#confirm[open]').waitFor();
    assert.match((await page().locator('#confirm-title').textContent()) ?? '', /Cancel window 12377\?/);
    await page().locator('#confirm-deny').click();
    assert.equal((await run.store.getWindow(id)).status, 'scheduled', 'kept when the dialog says no');
    await row.getByRole('button', { name: 'Cancel' }).click();
    await page().locator('#confirm-ok').click();
    // Assess
    await row.waitFor({ state: 'detached' });
    await page().locator(`rect.band[data-window="${id}"]`).first().waitFor({ state: 'detached' });
    assert.equal(await page().locator(`#upcoming tr[data-window="${id}"]`).count(), 0);
    assert.equal((await run.store.getWindow(id)).status, 'cancelled');
    const cancels = await run.store.listAudit({ action: 'window.cancel' });
    assert.equal(cancels[0]?.actor, 'web');
    // The plan in the console thread is updated as Slack's would be (by the same progress reporter)
    await lastPlan().locator('.blk-header', { hasText: 'Cancelled · 12377' }).waitFor();
    assert.equal(await lastPlan().getByRole('button', { name: 'Cancel' }).count(), 0);
  });

  it('a window created through the HTTP API appears live, without a reload', async () => {
    // Act
    const response = await fetch(`${run.url}/api/windows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-chronops-actor': 'dana', 'x-chronops-source': 'cli' },
      body: JSON.stringify({
        name: 'api-live',
        ecs: [{ resource: 'web', amount: 7 }],
        timing: { mode: 'explicit', at: isoIn(2 * 3_600_000), until: isoIn(4 * 3_600_000) },
      }),
    });
    assert.equal(response.status, 201);
    const id = ((await response.json()) as { window: { id: string } }).window.id;
    // Assess
    await page().locator(`.chart[data-resource="web"] rect.band[data-window="${id}"]`).waitFor();
    await page().locator(`#windows tr[data-window="${id}"]`).waitFor();
    assert.equal(await page().locator(`#upcoming tr[data-window="${id}"]`).count(), 2);
    await page()
      .locator('.toast', { hasText: `window api-live (${id}) created by dana` })
      .waitFor();
    assert.equal(
      await page().evaluate(() => (window as unknown as { loadedOnce?: boolean }).loadedOnce),
      true,
      'the same document: no reload',
    );
  });

  it('console: the Cancel button of a plan asks first, then cancels through the same handler', async () => {
    // Prepare
    await page().locator('#command').fill('create 1 --ecs 9 --auto');
    await page().locator('#command').press('Enter');
    await lastPlan().locator('.blk-header', { hasText: 'Plan · 12345' }).waitFor();
    const id = (await lastPlan().getAttribute('data-window'))!;
    await page().locator(`#windows tr[data-window="${id}"]`).waitFor();
    // Act
    await lastPlan().getByRole('button', { name: 'Cancel' }).click();
    await page().locator('#confirm[open]').waitFor();
    assert.equal(await page().locator('#confirm-title').textContent(), 'Cancel this window?');
    await page().locator('#confirm-ok').click();
    // Assess
    await lastPlan().locator('.blk-header', { hasText: 'Cancelled · 12345' }).waitFor();
    await page().locator(`#windows tr[data-window="${id}"]`).waitFor({ state: 'detached' });
    assert.equal((await run.store.getWindow(id)).status, 'cancelled');
    const audit = await run.store.listAudit({ actor: 'console', action: 'chat.cancel' });
    assert.equal(audit[0]?.outcome, 'ok');
  });

  it('console: list, help and a mistyped command answer in the thread', async () => {
    const before = await page().locator('#thread .msg.bot').count();
    for (const text of ['list', 'help', 'create 2 --ecs many']) {
      await page().locator('#command').fill(text);
      await page().locator('#command').press('Enter');
    }
    await page()
      .locator('#thread .msg.bot')
      .nth(before + 2)
      .waitFor();
    const replies = await page().locator('#thread .msg.bot').allTextContents();
    assert.match(replies[before]!, /Active and upcoming windows \(1\)/);
    assert.match(replies[before]!, /api-live/);
    assert.match(replies[before + 1]!, /create <product#>/);
    assert.match(replies[before + 2]!, /--ecs wants a positive whole number/);
  });

  it('console: `now` scales at once and the progress is posted in the thread', async () => {
    // Act
    await page().locator('#command').fill('now --ecs 6 --for 30m');
    await page().locator('#command').press('Enter');
    // Assess: started and done, as the Slack thread would get them
    await page().locator('#thread .msg.progress', { hasText: 'ECS web (shop/web) min 2→6 done' }).waitFor();
    assert.ok((await page().locator('#thread .msg.progress').allTextContents()).some((t) => /⏳/.test(t)));
    // The execution shows in the history, with its AWS calls
    const execution = page().locator('#executions details').first();
    await execution.locator('summary', { hasText: 'min 2 max 10 → min 6 max 10' }).waitFor();
    await execution.locator('summary').click();
    assert.match(
      (await execution.textContent()) ?? '',
      /Application Auto Scaling\.RegisterScalableTarget — ok/,
    );
    // The past transition is marked done on the timeline
    await page().locator('.chart[data-resource="web"] circle.mark.done').first().waitFor();
    await page().evaluate(() => window.scrollTo(0, 0));
    await page().screenshot({ path: screenshotPath('test-after-now.png') });
  });

  it('the audit log filters by user and command', async () => {
    // Act
    await page().locator('#audit-filter input[name="actor"]').fill('console');
    await page().locator('#audit-filter input[name="action"]').fill('chat.create');
    await page().getByRole('button', { name: 'Filter' }).click();
    // Assess
    await page().waitForFunction(() =>
      [...document.querySelectorAll('#audit tbody tr')].every((tr) =>
        tr.textContent?.includes('chat.create'),
      ),
    );
    const rows = await page().locator('#audit tbody tr').allTextContents();
    assert.equal(rows.length, 2, rows.join('\n'));
    assert.ok(rows.every((r) => r.includes('console') && r.includes('chat.create')));
    // A mistyped command is in the log too
    await page().locator('#audit-filter input[name="action"]').fill('chat.invalid');
    await page().getByRole('button', { name: 'Filter' }).click();
    await page().locator('#audit tbody tr', { hasText: 'create 2 --ecs many' }).waitFor();
    await page().getByRole('button', { name: 'Clear' }).click();
    await page().waitForFunction(() => document.querySelectorAll('#audit tbody tr').length > 3);
    assert.deepEqual(browser.errors, []);
    await page().screenshot({ path: screenshotPath('test-page.png') });
  });
});
