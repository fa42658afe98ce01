// `chronops schedules …`: office-hours schedules of a running chronops (its HTTP API, /api/power).
//   chronops schedules list
//   chronops schedules show NAME [--date YYYY-MM-DD]
//   chronops schedules exception set NAME DATE start|stop H:M
//   chronops schedules exception del NAME DATE start|stop
//   chronops schedules force-start NAME | force-stop NAME
import { Command } from 'commander';
import { CliError, cliAction } from '../../cli/client.ts';

interface ScheduleJson {
  name: string;
  description?: string;
  timezone: string;
  periods: string[];
  enforced: boolean;
  retainRunning: boolean;
  hibernate: boolean;
  resources: Array<{ name: string; kind: string; region: string }>;
}
interface StatusJson {
  resource: string;
  kind: string;
  observed: string;
  observedStatus: string;
  desired: string;
  reason: string;
  windows: string[];
  next: { at: string; state: string } | null;
  lastError: string | null;
}
interface DayJson {
  date: string;
  timezone: string;
  periods: Array<{ from: string; until: string }>;
  exception: { date: string; start?: number; stop?: number } | null;
  running: Array<{ from: string; until: string }>;
}

const hm = (minutes: number) =>
  `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;

function local(iso: string, zone: string): string {
  return new Intl.DateTimeFormat('sv-SE', {
    timeZone: zone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).format(new Date(iso));
}

function exceptionText(e: { start?: number; stop?: number }): string {
  return [
    ...(e.start === undefined ? [] : [`start ${hm(e.start)}`]),
    ...(e.stop === undefined ? [] : [`stop ${hm(e.stop)}`]),
  ].join(', ');
}

function printDay(day: DayJson): void {
  console.log(`${day.date} (${day.timezone})`);
  console.log(`  periods:   ${day.periods.map((p) => `${p.from}–${p.until}`).join(', ') || 'none'}`);
  console.log(`  exception: ${day.exception ? exceptionText(day.exception) : 'none'}`);
  console.log(
    `  runs:      ${day.running.map((r) => `${local(r.from, day.timezone)}–${local(r.until, day.timezone).slice(11)}`).join(', ') || 'not at all'}`,
  );
}

function check(value: string, allowed: readonly string[], what: string): void {
  if (!allowed.includes(value)) throw new CliError(`${what} must be ${allowed.join(' or ')}, not "${value}"`);
}

export function schedulesCommand(): Command {
  const schedules = new Command('schedules')
    .description('office-hours power schedules: when EC2, RDS, Aurora and ECS resources run')
    .option('--server <url>', 'chronops server URL (default $CHRONOPS_URL or http://127.0.0.1:$PORT)')
    .option('--token <token>', 'bearer token, when the server requires one (default $CHRONOPS_TOKEN)')
    .option('--json', 'print JSON');

  schedules
    .command('list')
    .description('the schedules of the config, their periods and resources')
    .action(
      cliAction(async (client, options) => {
        const data = await client.call<{ schedules: ScheduleJson[] }>('GET', '/api/power/schedules');
        if (options.json) return void console.log(JSON.stringify(data, null, 2));
        if (data.schedules.length === 0) return void console.log('no schedules (schedules: in the config)');
        for (const s of data.schedules) {
          const flags = [
            s.enforced ? 'enforced' : '',
            s.retainRunning ? 'retainRunning' : '',
            s.hibernate ? 'hibernate' : '',
          ]
            .filter(Boolean)
            .join(', ');
          console.log(`${s.name}  (${s.timezone})${flags ? `  [${flags}]` : ''}`);
          for (const p of s.periods) console.log(`  ${p}`);
          console.log(`  resources: ${s.resources.map((r) => `${r.name} (${r.kind})`).join(', ') || 'none'}`);
        }
      }),
    );

  schedules
    .command('show')
    .description('each resource: its state on AWS, the state wanted now, the next change; and a day')
    .argument('<name>', 'schedule name')
    .option('--date <date>', 'the day to show (YYYY-MM-DD, default today)')
    .action(
      cliAction(async (client, options, args) => {
        const [name, own] = args as [string, { date?: string }];
        const q = own.date ? `?date=${encodeURIComponent(own.date)}` : '';
        const data = await client.call<{ schedule: ScheduleJson; resources: StatusJson[]; day: DayJson }>(
          'GET',
          `/api/power/schedules/${encodeURIComponent(name)}${q}`,
        );
        if (options.json) return void console.log(JSON.stringify(data, null, 2));
        const zone = data.schedule.timezone;
        console.log(`${data.schedule.name}  (${zone})`);
        for (const r of data.resources) {
          const next = r.next ? `next: ${r.next.state} at ${local(r.next.at, zone)}` : 'no change ahead';
          const why = r.windows.length > 0 ? `${r.reason}: ${r.windows.join(', ')}` : r.reason;
          console.log(
            `  ${r.resource.padEnd(20)} ${r.kind.padEnd(6)} AWS ${r.observed} (${r.observedStatus})  wanted ${r.desired} (${why})  ${next}`,
          );
          if (r.lastError) console.log(`    last error: ${r.lastError}`);
        }
        printDay(data.day);
      }),
    );

  const exception = schedules.command('exception').description('dated exceptions of a schedule');
  exception
    .command('set')
    .description('on DATE, start or stop at H:M instead of the schedule’s time')
    .argument('<name>', 'schedule name')
    .argument('<date>', 'YYYY-MM-DD, in the schedule’s time zone')
    .argument('<what>', 'start or stop')
    .argument('<time>', 'H:M')
    .action(
      cliAction(async (client, options, args) => {
        const [name, date, what, time] = args as [string, string, string, string];
        check(what, ['start', 'stop'], 'what');
        const data = await client.call<{ exception: unknown; day: DayJson }>(
          'PUT',
          `/api/power/schedules/${encodeURIComponent(name)}/exceptions/${encodeURIComponent(date)}/${what}`,
          { time },
        );
        if (options.json) return void console.log(JSON.stringify(data, null, 2));
        console.log(`exception set: ${name} ${date} ${what} ${time}`);
        printDay(data.day);
      }),
    );
  exception
    .command('del')
    .description('remove the start or stop of a day’s exception')
    .argument('<name>', 'schedule name')
    .argument('<date>', 'YYYY-MM-DD')
    .argument('<what>', 'start or stop')
    .action(
      cliAction(async (client, options, args) => {
        const [name, date, what] = args as [string, string, string];
        check(what, ['start', 'stop'], 'what');
        const data = await client.call<{ day: DayJson }>(
          'DELETE',
          `/api/power/schedules/${encodeURIComponent(name)}/exceptions/${encodeURIComponent(date)}/${what}`,
        );
        if (options.json) return void console.log(JSON.stringify(data, null, 2));
        console.log(`exception removed: ${name} ${date} ${what}`);
        printDay(data.day);
      }),
    );

  for (const [command, state] of [
    ['force-start', 'running'],
    ['force-stop', 'stopped'],
  ] as const) {
    schedules
      .command(command)
      .description(
        state === 'running'
          ? 'start the schedule’s resources now, until its next change'
          : 'stop the schedule’s resources now, until its next change (refused while a capacity window holds one)',
      )
      .argument('<name>', 'schedule name')
      .action(
        cliAction(async (client, options, args) => {
          const [name] = args as [string];
          const data = await client.call<{ force: { until: string | null }; resources: string[] }>(
            'POST',
            `/api/power/schedules/${encodeURIComponent(name)}/force`,
            { state },
          );
          if (options.json) return void console.log(JSON.stringify(data, null, 2));
          console.log(
            `${command} ${name}: ${data.resources.join(', ') || 'no resources'}; held until ${data.force.until ?? 'changed again'}`,
          );
        }),
      );
  }
  return schedules;
}
