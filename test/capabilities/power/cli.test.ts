// `chronops schedules …` as a person runs it (the real CLI in a child process) and /api/power, against the demo
// configuration (npm start): schedule office-hours on simulated resources, dry-run. And the demo's JANDI room,
// off without JANDI_TOKEN: /jandi/webhook answers 404 saying so.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadConfig } from '../../../src/kernel/config.ts';
import { backends, type Running, runChronops } from '../../support/harness.ts';

const exec = promisify(execFile);
const BIN = fileURLToPath(new URL('../../../bin/chronops.js', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../../examples/chronops.yaml', import.meta.url));

// biome-ignore lint/suspicious/noExplicitAny: JSON answers read loosely
type Loose = any;

describe('chronops schedules (the CLI) and /api/power against the demo configuration', () => {
  let chronops: Running;
  const cli = (...args: string[]) =>
    exec(process.execPath, [BIN, 'schedules', ...args, '--server', chronops.url], { timeout: 30_000 });

  before(async () => {
    const config = loadConfig(EXAMPLE, {});
    chronops = await runChronops(backends[0]!, {
      config: { ...config, server: { host: '127.0.0.1', port: 0 } },
      dryRun: true,
      spec: config.aws.simulate as never,
    });
  });
  after(async () => {
    await chronops?.stopAll();
  });

  it('schedules list and show: periods, resources, each one’s state on AWS, wanted state and next change', async () => {
    const { stdout } = await cli('list');
    assert.match(stdout, /^office-hours {2}\(Asia\/Seoul\) {2}\[enforced\]$/m);
    assert.match(stdout, /^ {2}mon-fri 09:00–19:00$/m);
    assert.match(
      stdout,
      /resources: web \(ecs\), batch-1 \(ec2\), reports-db \(rds\)|resources: .*batch-1 \(ec2\)/,
    );
    const show = await cli('show', 'office-hours', '--date', '2026-12-24');
    assert.match(
      show.stdout,
      /batch-1 +ec2 +AWS running \(running\) +wanted (running|stopped) \(schedule\) +next: (running|stopped) at 20\d\d-/,
    );
    assert.match(show.stdout, /reports-db +rds +AWS running \(available\)/);
    assert.match(show.stdout, /^2026-12-24 \(Asia\/Seoul\)$/m);
    assert.match(show.stdout, /periods: +09:00–19:00/);
    assert.match(show.stdout, /runs: +2026-12-24 09:00–19:00/);
  });

  it('/api/power/plans: a week of on/off bands per resource, hours off and the estimated saving', async () => {
    const plans = (await (await chronops.app.request('/api/power/plans?days=7')).json()) as Loose;
    const batch = plans.resources.find((r: Loose) => r.resource === 'batch-1');
    // Before the force-start below: outside office hours its hold (until the next start) would add ~12 h of running
    // 5 weekdays × 10 h on: 118 h off a week (±1 h for the partial first and last day)
    assert.ok(Math.abs(batch.hoursOffPerWeek - 118) <= 10.5, String(batch.hoursOffPerWeek));
    assert.equal(batch.savingPerWeek, Math.round(batch.hoursOffPerWeek * 0.192 * 100) / 100);
    assert.ok(batch.segments.some((s: Loose) => s.state === 'running'));
    assert.ok(batch.segments.some((s: Loose) => s.state === 'stopped'));
    const bad = await chronops.app.request('/api/power/plans?days=99');
    assert.equal(bad.status, 400);
  });

  it('exception set and del change the day; force-start answers at once; errors are clear with exit code 1', async () => {
    const set = await cli('exception', 'set', 'office-hours', '2026-12-24', 'stop', '15:00');
    assert.match(set.stdout, /exception set: office-hours 2026-12-24 stop 15:00/);
    assert.match(set.stdout, /exception: stop 15:00/);
    assert.match(set.stdout, /runs: +2026-12-24 09:00–15:00/);
    const day = (await (
      await chronops.app.request('/api/power/schedules/office-hours/exceptions')
    ).json()) as Loose;
    assert.deepEqual(day.exceptions, [{ date: '2026-12-24', stop: 900 }]);
    const del = await cli('exception', 'del', 'office-hours', '2026-12-24', 'stop');
    assert.match(del.stdout, /runs: +2026-12-24 09:00–19:00/);
    const forced = await cli('force-start', 'office-hours');
    assert.match(forced.stdout, /force-start office-hours: .*batch-1.*; held until 20\d\d-/);
    await assert.rejects(cli('show', 'nope'), (error: { code: number; stderr: string }) => {
      assert.equal(error.code, 1);
      assert.match(error.stderr, /404 not_found\n {2}no schedule "nope"; schedules: office-hours/);
      return true;
    });
    await assert.rejects(
      cli('exception', 'set', 'office-hours', '2026-12-24', 'stop', '25:00'),
      (error: { code: number; stderr: string }) => {
        assert.match(error.stderr, /400 .*\n {2}- time: "25:00" is not a time of day/);
        return true;
      },
    );
    await assert.rejects(
      cli('exception', 'set', 'office-hours', '24/12/2026', 'stop', '15:00'),
      (error: { code: number; stderr: string }) => {
        assert.match(error.stderr, /date: "24\/12\/2026" is not a date; write YYYY-MM-DD/);
        return true;
      },
    );
  });

  it('the demo’s JANDI room is off without JANDI_TOKEN: /jandi/webhook answers 404 saying so', async () => {
    const response = await fetch(`${chronops.url}/jandi/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: 'x', text: 'office-hours status' }),
    });
    assert.equal(response.status, 404);
    assert.match(await response.text(), /jandi source webhook is off: JANDI_TOKEN is not set/);
  });
});
