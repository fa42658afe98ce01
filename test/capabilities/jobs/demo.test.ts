// The demo (examples/chronops.yaml) as a newcomer meets it: the seed's job against the service chronops serves
// itself — a run due as the server starts finds the service up (capabilities start before the server listens) —
// and `chronops jobs …` (the real CLI in a child process) over HTTP.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { JobsCapability } from '../../../src/capabilities/jobs/capability.ts';
import { loadConfig } from '../../../src/kernel/config.ts';
import { backends, eventually, type Running, runChronops } from '../../support/harness.ts';

const exec = promisify(execFile);
const BIN = fileURLToPath(new URL('../../../bin/chronops.js', import.meta.url));
const EXAMPLE = fileURLToPath(new URL('../../../examples/chronops.yaml', import.meta.url));

describe('HTTP jobs in the demo configuration', () => {
  let chronops: Running;
  let jobs: JobsCapability;
  const cli = (...args: string[]) =>
    exec(process.execPath, [BIN, 'jobs', ...args, '--server', chronops.url], { timeout: 30_000 });

  before(async () => {
    const config = loadConfig(EXAMPLE, {});
    const seed = config.jobs.jobs.find((j) => j.name === 'leave-status')!;
    // A run due the moment chronops starts, before its server listens.
    const { schedule: _, ...once } = seed;
    config.jobs.jobs.push({ ...once, name: 'at-start', at: new Date().toISOString() });
    chronops = await runChronops(backends[0]!, {
      config: { ...config, server: { host: '127.0.0.1', port: 0 } },
      dryRun: true,
      spec: config.aws.simulate as never,
    });
    jobs = chronops.capabilities.jobs as JobsCapability;
  });
  after(async () => {
    await chronops?.stopAll();
  });

  it('a run due at start reaches the demo service (no connection refused) and alerts its failed tenant', async () => {
    // Act
    const [run] = await eventually(
      async () => {
        const runs = await jobs.service.history('at-start', 1);
        return runs[0]?.finishedAt ? runs : undefined;
      },
      10_000,
      'the run due at start',
    );

    // Assess
    assert.equal(run!.status, 'partial', run!.summary ?? '');
    assert.equal(run!.attempt, 1);
    assert.deepEqual(run!.result?.failTenants, ['umbrella']);
    assert.match(run!.result!.failDetails[0]!.stackTrace, /IllegalStateException/);
    const keys = await eventually(async () => {
      const rows = await chronops.db.query<{ key: string }>(
        `SELECT key FROM chronops.chat_outbox WHERE key LIKE $1 ORDER BY key`,
        [`jobs:run:${run!.id}:%`],
      );
      return rows.length === 2 ? rows.map((r) => r.key) : undefined;
    });
    assert.deepEqual(keys, [`jobs:run:${run!.id}:alert`, `jobs:run:${run!.id}:result:console`]);
  });

  it('chronops jobs list | run | history | show', async () => {
    // Act
    const list = (await cli('list')).stdout;
    const started = (await cli('run', 'leave-status')).stdout;
    const id = /run ([0-9a-f-]{36})/.exec(started)![1]!;
    await eventually(async () => (await jobs.service.run(id)).finishedAt !== null, 10_000, 'the run');
    const history = (await cli('history', 'leave-status')).stdout;
    const show = (await cli('show', 'directory-sync')).stdout;

    // Assess
    assert.match(
      list,
      /^leave-status +0 0 9 \* \* \* +cms POST \/scheduling-api\/leave-status {2}next \d{4}-\d\d-\d\d 00:00:00Z/m,
    );
    assert.match(list, /^directory-sync +\*\/2 \* \* \* \* +cms POST \/directory\/sync/m);
    assert.match(started, /^leave-status: run [0-9a-f-]{36} queued$/m);
    assert.match(history, /partial \(1 failed: umbrella\) {2}manual by cli:\S+ \(cli\)/);
    assert.match(history, /^ {4}failed: umbrella$/m);
    assert.match(show, /overlap {3}skip, retries 0, catch-up 10 min/);
    assert.match(show, /notify {4}console \(change\), alert console/);
  });
});
