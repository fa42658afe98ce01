// The same page in Firefox (Debian's firefox-esr over WebDriver BiDi; skipped when it is not installed — CI does not
// install it): it loads, goes live, the console creates a window that shows on the timeline and in the upcoming
// list, the page cancels it, and a window made through the API appears without a reload. No JavaScript errors.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DateTime } from 'luxon';
import { screenshotPath } from '../support/browser.ts';
import { type Firefox, firefoxMissing, openFirefox } from '../support/firefox.ts';
import { backends, isoIn, type Running, runChronops } from '../support/harness.ts';

const pglite = backends.find((b) => b.name === 'pglite')!;

function alertMessage(): string {
  const now = DateTime.now().setZone('Asia/Seoul');
  return [
    `[오늘 오픈 예정 인기 상품] ${now.toFormat('yyyy-MM-dd')}`,
    `2. (12377) 아이폰 18 Pro 사전예약 - ${now.plus({ hours: 3 }).toFormat('yyyy-MM-dd HH:mm')} 오픈`,
  ].join('\n');
}

describe('the page in Firefox', { skip: firefoxMissing() }, () => {
  let run: Running;
  let firefox: Firefox;
  before(async () => {
    run = await runChronops(pglite);
    firefox = await openFirefox();
  });
  after(async () => {
    await firefox?.close();
    await run?.stopAll();
  });

  it('console, timeline, upcoming, cancel and live updates work', async () => {
    // Prepare
    await firefox.navigate(run.url);
    await firefox.waitFor(
      `document.querySelectorAll('.chart svg').length === 2 && document.querySelector('#live').dataset.state === 'open'`,
      15_000,
      'charts and the live stream',
    );
    // Act: the console, as in Slack
    await firefox.evaluate(`(() => {
      document.querySelector('#parent-text').value = ${JSON.stringify(alertMessage())};
      document.querySelector('#parent-set').click();
      document.querySelector('#command').value = 'create 2 --ecs 12 --rds 2 --auto';
      document.querySelector('#composer').requestSubmit();
    })()`);
    await firefox.waitFor(
      `[...document.querySelectorAll('#thread .blk-header')].some((h) => h.textContent.includes('Plan · 12377'))`,
    );
    const id = await firefox.evaluate<string>(
      `document.querySelector('#thread .msg.bot[data-window]').dataset.window`,
    );
    // Assess: on both charts and in the upcoming transitions
    await firefox.waitFor(`document.querySelectorAll('rect.band[data-window="${id}"]').length === 2`);
    await firefox.waitFor(`document.querySelectorAll('#upcoming tr[data-window="${id}"]').length === 4`);
    await firefox.screenshot(screenshotPath('test-firefox.png'));

    // Act: cancel from the page, through the confirmation dialog
    await firefox.evaluate(
      `document.querySelector('#windows tr[data-window="${id}"] button.cancel').click()`,
    );
    await firefox.waitFor(`document.querySelector('#confirm').open`);
    await firefox.evaluate(`document.querySelector('#confirm-ok').click()`);
    // Assess
    await firefox.waitFor(`!document.querySelector('rect.band[data-window="${id}"]')`);
    await firefox.waitFor(`!document.querySelector('#upcoming tr[data-window="${id}"]')`);
    assert.equal((await run.store.getWindow(id)).status, 'cancelled');

    // Act: a window through the HTTP API
    await firefox.evaluate(`(window.loadedOnce = true)`);
    const response = await fetch(`${run.url}/api/windows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        name: 'from-api',
        ecs: [{ amount: 5 }],
        timing: { mode: 'explicit', at: isoIn(3_600_000), until: isoIn(7_200_000) },
      }),
    });
    const apiId = ((await response.json()) as { window: { id: string } }).window.id;
    // Assess: shows without a reload
    await firefox.waitFor(`document.querySelector('rect.band[data-window="${apiId}"]')`);
    assert.equal(await firefox.evaluate<boolean>('window.loadedOnce'), true);
    assert.deepEqual(firefox.errors, []);
  });
});
