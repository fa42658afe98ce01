// `chronops rules …` as a person runs it: the real CLI (bin/chronops.js) in a child process, talking to a running
// chronops over HTTP.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { loadConfig } from '../../../src/kernel/config.ts';
import { backends, type Running, runChronops } from '../../support/harness.ts';

const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../../../bin/chronops.js', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../../examples/chronops.yaml', import.meta.url));
const EVENT = fileURLToPath(new URL('../../../examples/events/price-list.json', import.meta.url));
const ECS_EVENT = fileURLToPath(new URL('../../../examples/events/ecs-task-stopped.json', import.meta.url));

describe('chronops rules (the CLI) against the demo configuration', () => {
  let chronops: Running;
  const cli = (...args: string[]) =>
    // Bounded, with room for a loaded 2-core machine (a CLI process has taken over 30 s to start there).
    run(process.execPath, [BIN, 'rules', ...args, '--server', chronops.url], { timeout: 90_000 });

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

  it('rules list shows each rule, what it matches and what it does', async () => {
    const { stdout } = await cli('list');
    assert.match(stdout, /^price-list {2}— AWS published new prices/m);
    assert.match(stdout, /topic {4}arn:aws:sns:us-east-1:278350005181:price-list-api/);
    assert.match(stdout, /→ runTask pricechecker \(latest ACTIVE\) on pricing, report to console/);
    assert.match(stdout, /^ecs-task-failed/m);
  });

  it('rules test price-list --event examples/events/price-list.json: it matches, and the exact RunTask, not sent', async () => {
    // Act
    const { stdout } = await cli('test', 'price-list', '--event', EVENT);
    const json = JSON.parse((await cli('test', 'price-list', '--event', EVENT, '--json')).stdout);

    // Assess
    assert.match(stdout, /^rule price-list: MATCHES$/m);
    assert.match(stdout, /ECS DescribeTaskDefinition {2}sent \(read\)/);
    assert.match(stdout, /ECS RunTask {2}NOT SENT \(dry-run\)/);
    assert.match(stdout, /"value": "AmazonEC2"/);
    const runTask = json.actions[0].calls.find((c: { command: string }) => c.command === 'RunTask');
    assert.equal(runTask.dryRun, true);
    assert.equal(
      runTask.input.taskDefinition,
      'arn:aws:ecs:us-east-1:000000000000:task-definition/pricechecker:3',
    );
    assert.equal(runTask.input.launchType, 'FARGATE');
    const runs = JSON.parse((await cli('runs', '--json')).stdout);
    assert.deepEqual(runs, []);
  });

  it('rules run price-list --event examples/events/price-list.json: the task starts with the notification’s values', async () => {
    // Act
    const { stdout } = await cli('run', 'price-list', '--event', EVENT);
    const runsNow = async () =>
      (await (await chronops.app.request('/api/rules/runs?rule=price-list')).json()).runs as Array<{
        status: string;
        event: string;
      }>;
    const runs = await runsNow();

    // Assess
    assert.match(stdout, /^runTask +running +run \S+$/m);
    assert.equal(runs.length, 1);
    assert.equal(runs[0]!.status, 'running');
    assert.match(runs[0]!.event, /^SNS price-list-api: Price List Update, run by .+ \(cli\)$/);
    const runTask = chronops.calls.find((c) => c.command === 'RunTask');
    assert.match(JSON.stringify(runTask?.input), /\{"name":"OFFER_CODE","value":"AmazonEC2"\}/);
    // An event the rule does not match is refused with the reason, and runs nothing.
    await assert.rejects(
      cli('run', 'price-list', '--event', ECS_EVENT),
      (error: { code: number; stderr: string }) => {
        assert.equal(error.code, 1);
        assert.match(
          error.stderr,
          /price-list does not match it: the rule matches SNS topics and this is not an SNS message/,
        );
        return true;
      },
    );
    assert.equal((await runsNow()).length, 1);
  });

  it('an unknown rule or a missing file is a clear error and exit code 1', async () => {
    await assert.rejects(cli('test', 'nope', '--event', EVENT), (error: { code: number; stderr: string }) => {
      assert.equal(error.code, 1);
      assert.match(
        error.stderr,
        /404 not_found\n {2}no rule named "nope" \(rules: price-list, ecs-task-failed\)/,
      );
      return true;
    });
    await assert.rejects(
      cli('test', 'price-list', '--event', '/nonexistent.json'),
      (error: { code: number; stderr: string }) => {
        assert.equal(error.code, 1);
        assert.match(error.stderr, /cannot read the event from \/nonexistent\.json/);
        return true;
      },
    );
  });
});
