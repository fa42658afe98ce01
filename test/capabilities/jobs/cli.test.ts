// `chronops jobs add | remove` as a person runs them: the real CLI (bin/chronops.js) in a child process, talking
// to a running chronops over HTTP, whose jobs call a real service on loopback. A mistake is told in the words of
// the CLI (the option that sets the field), every problem at once, and creates nothing.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { backends, eventually, isoIn, type Running, runChronops } from '../../support/harness.ts';
import { cmsJobsConfig, JobService } from '../../support/job-service.ts';
import { tempDir } from '../../support/process.ts';

const exec = promisify(execFile);
const BIN = fileURLToPath(new URL('../../../bin/chronops.js', import.meta.url));

type Failed = { code: number; stderr: string; stdout: string };

describe('chronops jobs add | remove (the CLI) against a running chronops', () => {
  const cms = new JobService();
  let chronops: Running;
  const cli = (...args: string[]) =>
    // Bounded, with room for a loaded 2-core machine (a CLI process has taken over 30 s to start there).
    exec(process.execPath, [BIN, 'jobs', ...args, '--server', chronops.url], { timeout: 90_000 });
  const jobNames = async () =>
    ((await (await chronops.app.request('/api/jobs')).json()) as { jobs: Array<{ name: string }> }).jobs.map(
      (j) => j.name,
    );

  before(async () => {
    await cms.start();
    const config = cmsJobsConfig(
      cms,
      [{ name: 'from-file', service: 'cms', path: '/file', schedule: '0 0 4 * * *' }],
      { service: { timeoutSeconds: 5 }, notify: { destinations: { console: { kind: 'console' } } } },
    );
    chronops = await runChronops(backends[0]!, { config });
  });
  after(async () => {
    await chronops?.stopAll();
    await cms.stop();
  });

  it('jobs add NAME --service … --schedule …: created as asked, listed with its next run', async () => {
    // Act
    const { stdout } = await cli(
      'add',
      'nightly',
      '--service',
      'cms',
      '--path',
      '/nightly',
      '--schedule',
      '0 0 3 * * *',
      '--timezone',
      'UTC',
      '--body',
      '{"date":"today"}',
      '--header',
      'X-Team: hr',
      '--retries',
      '2',
      '--retry-delay',
      '5',
      '--overlap',
      'queue',
      '--notify',
      'console',
      '--when',
      'failure',
    );
    const job = (await (await chronops.app.request('/api/jobs/nightly')).json()).job;

    // Assess
    assert.match(
      stdout,
      /^nightly: created — cms POST \/nightly, 0 0 3 \* \* \* UTC; next run \d{4}-\d\d-\d\d 03:00:00Z$/m,
    );
    assert.equal(job.origin, 'api');
    assert.equal(job.overlap, 'queue');
    assert.equal(job.retries, 2);
    assert.deepEqual(job.notify, { to: ['console'], when: 'failure' });
    assert.deepEqual(await jobNames(), ['from-file', 'nightly']);
  });

  it('a job the server refuses: each problem with the option that sets it; nothing created', async () => {
    // Act (three CLI processes at once: each takes seconds to start on a loaded machine)
    const refuse = (...args: string[]) =>
      cli(...args).then(
        () => assert.fail(`jobs ${args.join(' ')} succeeded`),
        (e: Failed) => e,
      );
    const [shape, meaning, taken] = await Promise.all([
      refuse(
        'add',
        'bad',
        '--service',
        'cms',
        '--path',
        'nightly',
        '--schedule',
        '0 3 * * *',
        '--overlap',
        'never',
      ),
      refuse(
        'add',
        'bad',
        '--service',
        'crm',
        '--path',
        '/x',
        '--schedule',
        'at nine',
        '--notify',
        'ops-teams',
      ),
      refuse('add', 'nightly', '--service', 'cms', '--path', '/x', '--at', isoIn(60_000)),
    ]);

    // Assess
    assert.equal(shape.code, 1);
    assert.match(shape.stderr, /^chronops: the job was not created:$/m);
    assert.match(shape.stderr, /^ {2}- path \(--path\): must start with "\/"$/m);
    assert.match(shape.stderr, /^ {2}- overlap \(--overlap\): must be skip, queue or allow$/m);
    assert.equal(meaning.code, 1);
    assert.match(meaning.stderr, /^ {2}- service \(--service\): no service named "crm" \(services: cms\)$/m);
    assert.match(meaning.stderr, /^ {2}- schedule \(--schedule\): is not a cron expression: /m);
    assert.match(
      meaning.stderr,
      /^ {2}- notify \(--notify\/--alert\): no notify destination "ops-teams" \(notify.destinations: console\)$/m,
    );
    assert.equal(taken.code, 1);
    assert.match(taken.stderr, /^chronops: the job was not created: a job named "nightly" exists already$/m);
    assert.deepEqual(await jobNames(), ['from-file', 'nightly']);
  });

  it('what the CLI can tell alone (a number, JSON, a header, the name) is said before asking the server', async () => {
    // Act
    const error = (await cli(
      'add',
      '--service',
      'cms',
      '--path',
      '/x',
      '--at',
      isoIn(60_000),
      '--timeout',
      'soon',
      '--body',
      '{date: today}',
      '--header',
      'X-Team hr',
    ).catch((e: Failed) => e)) as Failed;

    // Assess
    assert.equal(error.code, 1);
    assert.match(error.stderr, /^ {2}- --timeout: must be a number of seconds, not "soon"$/m);
    assert.match(error.stderr, /^ {2}- --body: must be JSON, e\.g\. '\{"date":"today"\}' \(/m);
    assert.match(error.stderr, /^ {2}- --header: must be "Name: value", not "X-Team hr"$/m);
    assert.match(error.stderr, /^ {2}- <name>: give the job a name \(or name: in --file\)$/m);
    assert.deepEqual(await jobNames(), ['from-file', 'nightly']);
  });

  it('jobs add --file job.yaml: a jobs: entry as in the config file, which then runs at its time', async () => {
    // Arrange
    const file = join(tempDir(), 'once.yaml');
    writeFileSync(
      file,
      `name: once-soon\nservice: cms\nmethod: put\npath: /once\nbody: { full: true }\nat: '${isoIn(3000)}'\n`,
    );

    // Act
    const { stdout } = await cli('add', '--file', file);
    const call = await eventually(
      async () => cms.calls.find((c) => c.headers['x-chronops-job'] === 'once-soon'),
      30_000,
      'the call of the job added from the file',
    );

    // Assess
    assert.match(stdout, /^once-soon: created — cms PUT \/once, at \S+ Asia\/Seoul; next run /m);
    assert.equal(call.method, 'PUT');
    assert.equal(call.path, '/once');
    assert.equal(call.body, '{"full":true}');
    assert.equal(cms.calls.filter((c) => c.headers['x-chronops-job'] === 'once-soon').length, 1);
  });

  it('jobs remove NAME deletes an added job; a config file job is refused with what to do instead', async () => {
    // Act
    const [{ stdout }, refused] = await Promise.all([
      cli('remove', 'nightly'),
      cli('remove', 'from-file').catch((e: Failed) => e) as Promise<Failed>,
    ]);
    const unknown = (await cli('remove', 'nightly').catch((e: Failed) => e)) as Failed;

    // Assess
    assert.match(stdout, /^nightly: removed \(its runs stay in the history\)$/m);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /409 conflict\n {2}from-file comes from the config file: remove it there/);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /404 not_found\n {2}no job named "nightly"/);
    assert.deepEqual(await jobNames(), ['from-file', 'once-soon']);
  });

  it('jobs add --help shows every option and an example', async () => {
    const { stdout } = await exec(process.execPath, [BIN, 'jobs', 'add', '--help'], { timeout: 90_000 });
    for (const option of ['--service', '--schedule', '--at', '--body', '--retries', '--overlap', '--file']) {
      assert.match(stdout, new RegExp(`^ +${option} `, 'm'));
    }
    assert.match(stdout, /^Examples:\n {2}chronops jobs add leave-status --service cms/m);
  });
});
