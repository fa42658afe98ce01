// `chronops jobs …`: list, show, run, pause, resume, history — through a running chronops' API (/api/jobs).
import { Command } from 'commander';
import { cliAction } from '../../cli/client.ts';

interface RunJson {
  id: string;
  job: string;
  dueAt: string;
  trigger: string;
  actor: string | null;
  status: string;
  attempt: number;
  durationMs: number | null;
  summary: string | null;
  tenants: {
    failCount: number;
    failed: string[];
    succeeded: string[];
    failDetails?: Array<{ tenant: string; stackTrace: string }>;
  } | null;
  attempts?: Array<{ attempt: number; at: string; summary: string }>;
  body?: string | null;
}
interface JobJson {
  name: string;
  description?: string;
  service: string;
  method: string;
  path: string;
  schedule?: string;
  at?: string;
  timezone: string;
  mode: string;
  overlap: string;
  retries: number;
  catchUpMinutes: number;
  notify: { to: string[]; when: string; alert?: string };
  paused: boolean;
  nextRunAt: string | null;
  lastRun: RunJson | null;
}

const when = (iso: string | null) => (iso ? iso.slice(0, 19).replace('T', ' ') + 'Z' : '-');

function outcome(r: RunJson): string {
  if (r.status === 'partial' && r.tenants)
    return `partial (${r.tenants.failCount} failed: ${r.tenants.failed.join(', ')})`;
  return r.status;
}

function runLine(r: RunJson): string {
  return [
    when(r.dueAt),
    r.job,
    outcome(r).padEnd(10),
    r.trigger === 'schedule' ? '' : r.actor ? `${r.trigger} by ${r.actor}` : r.trigger,
    r.attempt > 1 ? `${r.attempt} attempts` : '',
    r.durationMs === null ? '' : `${r.durationMs} ms`,
    r.summary ? `— ${r.summary}` : '',
    r.id,
  ]
    .filter(Boolean)
    .join('  ');
}

export function jobsCommand(): Command {
  const jobs = new Command('jobs')
    .description('scheduled HTTP jobs of your services: list, show, run, pause, resume, history')
    .option('--server <url>', 'chronops server URL (default $CHRONOPS_URL or http://127.0.0.1:$PORT)')
    .option('--token <token>', 'bearer token, when the server requires one (default $CHRONOPS_TOKEN)')
    .option('--json', 'print JSON');

  jobs
    .command('list')
    .description('the jobs, their next run and last result')
    .action(
      cliAction(async (client, options) => {
        const data = await client.call<{ jobs: JobJson[] }>('GET', '/api/jobs');
        if (options.json) return void console.log(JSON.stringify(data, null, 2));
        if (data.jobs.length === 0) return void console.log('no jobs (jobs: in the config)');
        for (const j of data.jobs) {
          console.log(
            `${j.name.padEnd(20)} ${(j.schedule ?? `at ${j.at}`).padEnd(16)} ${j.service} ${j.method} ${j.path}  next ${j.paused ? 'PAUSED' : when(j.nextRunAt)}  last ${j.lastRun ? outcome(j.lastRun) : '-'}`,
          );
        }
      }),
    );

  jobs
    .command('show')
    .description('one job: its settings and latest runs')
    .argument('<name>', 'job name')
    .action(
      cliAction(async (client, options, args) => {
        const data = await client.call<{ job: JobJson; runs: RunJson[] }>(
          'GET',
          `/api/jobs/${encodeURIComponent(args[0] as string)}?limit=10`,
        );
        if (options.json) return void console.log(JSON.stringify(data, null, 2));
        const j = data.job;
        console.log(`${j.name}${j.description ? `  — ${j.description}` : ''}`);
        console.log(`  call      ${j.service} ${j.method} ${j.path}  (${j.mode})`);
        console.log(`  schedule  ${j.schedule ?? `at ${j.at}`}  ${j.timezone}`);
        console.log(`  next      ${j.paused ? 'PAUSED' : when(j.nextRunAt)}`);
        console.log(`  overlap   ${j.overlap}, retries ${j.retries}, catch-up ${j.catchUpMinutes} min`);
        console.log(
          `  notify    ${j.notify.to.join(', ') || '-'} (${j.notify.when})${j.notify.alert ? `, alert ${j.notify.alert}` : ''}`,
        );
        console.log('  runs');
        for (const r of data.runs) console.log(`    ${runLine(r)}`);
      }),
    );

  jobs
    .command('run')
    .description('run NAME now (its overlap policy holds)')
    .argument('<name>', 'job name')
    .action(
      cliAction(async (client, options, args) => {
        const { run } = await client.call<{ run: RunJson }>(
          'POST',
          `/api/jobs/${encodeURIComponent(args[0] as string)}/run`,
        );
        if (options.json) return void console.log(JSON.stringify(run, null, 2));
        console.log(`${run.job}: run ${run.id} ${run.status}`);
      }),
    );

  for (const verb of ['pause', 'resume'] as const) {
    jobs
      .command(verb)
      .description(
        verb === 'pause' ? 'no scheduled runs until resumed' : 'scheduled runs again, from the next time on',
      )
      .argument('<name>', 'job name')
      .action(
        cliAction(async (client, options, args) => {
          const { job } = await client.call<{ job: JobJson }>(
            'POST',
            `/api/jobs/${encodeURIComponent(args[0] as string)}/${verb}`,
          );
          if (options.json) return void console.log(JSON.stringify(job, null, 2));
          console.log(`${job.name}: ${job.paused ? 'paused' : `next run ${when(job.nextRunAt)}`}`);
        }),
      );
  }

  jobs
    .command('history')
    .description('the runs of NAME, newest first, with each tenant’s outcome')
    .argument('<name>', 'job name')
    .option('--limit <n>', 'how many', '20')
    .action(
      cliAction(async (client, options, args) => {
        const o = options as typeof options & { limit: string };
        const { runs } = await client.call<{ runs: RunJson[] }>(
          'GET',
          `/api/jobs/${encodeURIComponent(args[0] as string)}/history?limit=${encodeURIComponent(o.limit)}`,
        );
        if (options.json) return void console.log(JSON.stringify(runs, null, 2));
        if (runs.length === 0) return void console.log('no runs yet');
        for (const r of runs) {
          console.log(runLine(r));
          if (r.tenants && r.tenants.failCount > 0) console.log(`    failed: ${r.tenants.failed.join(', ')}`);
        }
      }),
    );
  return jobs;
}
