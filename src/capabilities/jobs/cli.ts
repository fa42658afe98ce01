// `chronops jobs …`: list, show, add, remove, run, pause, resume, history — through a running chronops' API
// (/api/jobs).
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { CliError, cliAction } from '../../cli/client.ts';

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

/** Which option of `jobs add` sets a field of the job (the server names fields as in the config file). */
const OPTION_OF: Record<string, string> = {
  name: '<name>',
  description: '--description',
  service: '--service',
  method: '--method',
  path: '--path',
  headers: '--header',
  body: '--body',
  schedule: '--schedule',
  at: '--at',
  timezone: '--timezone',
  timeoutSeconds: '--timeout',
  'retries.limit': '--retries',
  'retries.delaySeconds': '--retry-delay',
  'retries.maxDelaySeconds': '--retry-max-delay',
  overlap: '--overlap',
  catchUpMinutes: '--catch-up',
  mode: '--mode',
  topic: '--topic',
  deadlineSeconds: '--deadline',
  'notify.to': '--notify',
  'notify.when': '--when',
  'notify.alert': '--alert',
  notify: '--notify/--alert',
  paused: '--paused',
};

interface AddOptions {
  file?: string;
  description?: string;
  service?: string;
  method?: string;
  path?: string;
  header?: string[];
  body?: string;
  schedule?: string;
  at?: string;
  timezone?: string;
  timeout?: string;
  retries?: string;
  retryDelay?: string;
  retryMaxDelay?: string;
  overlap?: string;
  catchUp?: string;
  mode?: string;
  topic?: string;
  deadline?: string;
  notify?: string[];
  when?: string;
  alert?: string;
  paused?: boolean;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/**
 * The job `jobs add` asks the server to create: the file's entry (if any), then the options over it. What the
 * CLI alone can tell is wrong (a number that is not one, --body that is not JSON, a header without ":") is
 * reported here, every problem at once; the rest (service, cron, destinations) is the server's check.
 */
export function jobFromOptions(name: string | undefined, o: AddOptions): Record<string, unknown> {
  const problems: string[] = [];
  let job: Record<string, unknown> = {};
  if (o.file) {
    let text: string;
    try {
      text = readFileSync(o.file === '-' ? 0 : o.file, 'utf8');
    } catch (error) {
      throw new CliError(`cannot read the job from ${o.file}: ${(error as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text);
    } catch (error) {
      throw new CliError(`${o.file} is not YAML or JSON: ${(error as Error).message.split('\n')[0]}`);
    }
    // A whole config file's `jobs:` with one entry is accepted too.
    const list = (parsed as { jobs?: unknown } | null)?.jobs;
    if (Array.isArray(list)) {
      if (list.length !== 1) {
        throw new CliError(`${o.file} has ${list.length} jobs under jobs:; give one job per \`jobs add\``);
      }
      parsed = list[0];
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new CliError(`${o.file} must hold one job: a mapping such as a jobs: entry of the config file`);
    }
    job = { ...(parsed as Record<string, unknown>) };
  }
  const number = (value: string | undefined, option: string, what: string): number | undefined => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) {
      problems.push(`${option}: must be ${what}, not "${value}"`);
      return undefined;
    }
    return n;
  };
  const set = (key: string, value: unknown) => {
    if (value !== undefined) job[key] = value;
  };
  if (name !== undefined) job.name = name;
  set('description', o.description);
  set('service', o.service);
  set('method', o.method);
  set('path', o.path);
  set('schedule', o.schedule);
  set('at', o.at);
  // One of schedule / at from the options replaces the other from the file.
  if (o.schedule !== undefined && o.at === undefined) delete job.at;
  if (o.at !== undefined && o.schedule === undefined) delete job.schedule;
  set('timezone', o.timezone);
  set('timeoutSeconds', number(o.timeout, '--timeout', 'a number of seconds'));
  set('overlap', o.overlap);
  set('catchUpMinutes', number(o.catchUp, '--catch-up', 'a whole number of minutes'));
  set('mode', o.mode);
  set('topic', o.topic);
  set('deadlineSeconds', number(o.deadline, '--deadline', 'a whole number of seconds'));
  if (o.paused) job.paused = true;
  if (o.body !== undefined) {
    try {
      job.body = JSON.parse(o.body);
    } catch (error) {
      problems.push(`--body: must be JSON, e.g. '{"date":"today"}' (${(error as Error).message})`);
    }
  }
  if (o.header && o.header.length > 0) {
    const headers = { ...((job.headers as Record<string, string> | undefined) ?? {}) };
    for (const h of o.header) {
      const i = h.indexOf(':');
      if (i <= 0) problems.push(`--header: must be "Name: value", not "${h}"`);
      else headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
    }
    job.headers = headers;
  }
  const retries = { ...((job.retries as Record<string, unknown> | undefined) ?? {}) };
  const r = {
    limit: number(o.retries, '--retries', 'a whole number of retries'),
    delaySeconds: number(o.retryDelay, '--retry-delay', 'a number of seconds'),
    maxDelaySeconds: number(o.retryMaxDelay, '--retry-max-delay', 'a number of seconds'),
  };
  for (const [k, v] of Object.entries(r)) if (v !== undefined) retries[k] = v;
  if (Object.keys(retries).length > 0) job.retries = retries;
  if (o.notify !== undefined || o.when !== undefined || o.alert !== undefined) {
    const notify = { ...((job.notify as Record<string, unknown> | undefined) ?? {}) };
    if (o.notify !== undefined) notify.to = o.notify;
    if (o.when !== undefined) notify.when = o.when;
    if (o.alert !== undefined) notify.alert = o.alert;
    job.notify = notify;
  }
  if (job.name === undefined) problems.push('<name>: give the job a name (or name: in --file)');
  if (problems.length > 0) {
    throw new CliError(`the job was not created:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
  return job;
}

/** The server's field issues in the words of `jobs add`: each field with the option that sets it. */
function addIssues(issues: Array<{ field: string; message: string }>): string {
  return issues
    .map((i) => {
      const option =
        OPTION_OF[i.field] ?? OPTION_OF[i.field.replace(/\.\d+$/, '')] ?? OPTION_OF[i.field.split('.')[0]!];
      return `  - ${i.field}${option && option !== i.field ? ` (${option})` : ''}: ${i.message}`;
    })
    .join('\n');
}

export function jobsCommand(): Command {
  const jobs = new Command('jobs')
    .description('scheduled HTTP jobs of your services: list, show, add, remove, run, pause, resume, history')
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
    .command('add')
    .description("create a job (kept in chronops' database; the config file's jobs stay the file's)")
    .argument('[name]', 'job name: 1 to 60 of a-z, 0-9, "_" and "-" (or name: in --file)')
    .option(
      '--file <path>',
      'the job as YAML or JSON, like a jobs: entry of the config file ("-": stdin); options override its fields',
    )
    .option('--service <name>', 'the service to call (services: in the config)')
    .option('--path <path>', 'path on the service, starting with "/"')
    .option('--method <method>', 'GET, POST, PUT, PATCH or DELETE (default POST)')
    .option('--schedule <cron>', "cron, seconds first optional, e.g. '0 0 9 * * *' (or --at)")
    .option('--at <time>', 'once, at an ISO date and time such as 2026-12-24T18:00 (or --schedule)')
    .option('--timezone <zone>', "IANA zone of --schedule/--at (default: the server config's timezone)")
    .option('--body <json>', 'request body, JSON')
    .option('--header <header>', 'request header "Name: value" (repeat for more)', collect)
    .option('--timeout <seconds>', "per call (default: the service's)")
    .option('--retries <n>', 'retries of a failed call, 0 to 20 (default 0)')
    .option('--retry-delay <seconds>', 'first retry after this; doubled each time (default 10)')
    .option('--retry-max-delay <seconds>', 'longest wait between retries (default 600)')
    .option('--overlap <policy>', 'skip, queue or allow: when the previous run is still going (default skip)')
    .option('--catch-up <minutes>', 'a run missed while chronops was down runs late within this (default 10)')
    .option('--mode <mode>', 'sync, callback or kafka (default sync)')
    .option('--topic <topic>', 'Kafka topic (kafka mode)')
    .option('--deadline <seconds>', 'callback and kafka modes: the result must come by then (default 3600)')
    .option('--notify <destination>', 'tell this destination (notify.destinations; repeat for more)', collect)
    .option('--when <when>', 'always, failure or change (default always)')
    .option('--alert <destination>', 'also tell this one whenever a run is not a success')
    .option('--description <text>', 'what the job does')
    .option('--paused', 'create it paused')
    .addHelpText(
      'after',
      `
Examples:
  chronops jobs add leave-status --service cms --path /scheduling-api/leave-status \\
    --schedule '0 0 9 * * *' --timezone Asia/Seoul --body '{"date":"today"}' --retries 3 --notify ops-teams
  chronops jobs add --file leave-status.yaml
Every field is checked as in the config file; a problem is named with the option that sets it.`,
    )
    .action(
      cliAction(async (client, options, args) => {
        const body = jobFromOptions(args[0] as string | undefined, options as AddOptions);
        let job: JobJson;
        try {
          ({ job } = await client.call<{ job: JobJson }>('POST', '/api/jobs', body));
        } catch (error) {
          if (error instanceof CliError && error.status === 400 && error.issues.length > 0) {
            throw new CliError(`the job was not created:\n${addIssues(error.issues)}`);
          }
          if (error instanceof CliError && error.status === 409) {
            throw new CliError(`the job was not created: ${error.reason ?? error.message}`);
          }
          throw error;
        }
        if (options.json) return void console.log(JSON.stringify(job, null, 2));
        console.log(
          `${job.name}: created — ${job.service} ${job.method} ${job.path}, ${job.schedule ?? `at ${job.at}`} ${job.timezone}; next run ${job.paused ? 'PAUSED' : when(job.nextRunAt)}`,
        );
      }),
    );

  jobs
    .command('remove')
    .description(
      'delete a job created with `jobs add` or the API (a config file job: remove it from the file)',
    )
    .argument('<name>', 'job name')
    .action(
      cliAction(async (client, options, args) => {
        const name = args[0] as string;
        await client.call('DELETE', `/api/jobs/${encodeURIComponent(name)}`);
        if (options.json) return void console.log(JSON.stringify({ removed: name }));
        console.log(`${name}: removed (its runs stay in the history)`);
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
