// `chronops notify …`: the configured destinations, a test message to one (to check a webhook right after setting
// it up), and what happened to the latest notifications. Talks to a running chronops.
import { Command } from 'commander';
import { CONFIG_OPTION_HELP, cliAction } from '../cli/client.ts';

interface DestinationJson {
  name: string;
  kind: string;
  channel?: string;
  minIntervalMs: number;
  onUncertain: string;
}
interface MessageJson {
  key: string;
  destination: string;
  kind: string;
  status: string;
  attempts: number;
  error: string | null;
  text: string;
  createdAt: string;
}

export function notifyCommand(): Command {
  const notify = new Command('notify')
    .description('notification destinations: Teams, Slack and JANDI webhooks, Slack channels, the console')
    .option(
      '--server <url>',
      'chronops server URL (default $CHRONOPS_URL, else the config file, else http://127.0.0.1:$PORT)',
    )
    .option('-c, --config <path>', CONFIG_OPTION_HELP)
    .option('--token <token>', 'bearer token, when the server requires one (default $CHRONOPS_TOKEN)')
    .option('--json', 'print JSON');

  notify
    .command('destinations')
    .description('list the destinations of the config (their URLs stay on the server)')
    .action(
      cliAction(async (client, options) => {
        const { destinations } = await client.call<{ destinations: DestinationJson[] }>(
          'GET',
          '/api/notify/destinations',
        );
        if (options.json) return void console.log(JSON.stringify(destinations, null, 2));
        if (destinations.length === 0)
          return void console.log('no destinations (notify.destinations in the config)');
        for (const d of destinations) {
          console.log(
            `${d.name.padEnd(20)} ${d.kind.padEnd(14)} ${d.channel ?? ''}${d.channel ? ' ' : ''}every ${d.minIntervalMs} ms, uncertain: ${d.onUncertain}`,
          );
        }
      }),
    );

  notify
    .command('test')
    .description('send a test message to a destination and wait for its outcome')
    .argument('<name>', 'destination name')
    .option('--text <text>', 'the message text')
    .option('--wait <seconds>', 'how long to wait for the outcome', '15')
    .action(
      cliAction(async (client, options, args) => {
        const name = args[0] as string;
        const o = options as typeof options & { text?: string; wait: string };
        const sent = await client.call<{ key: string }>(
          'POST',
          `/api/notify/destinations/${encodeURIComponent(name)}/test`,
          o.text ? { text: o.text } : {},
        );
        const deadline = Date.now() + Number(o.wait) * 1000;
        let last: MessageJson | undefined;
        while (Date.now() < deadline) {
          const { messages } = await client.call<{ messages: MessageJson[] }>(
            'GET',
            `/api/notify/messages?destination=${encodeURIComponent(name)}&limit=50`,
          );
          last = messages.find((m) => m.key === sent.key);
          if (last && last.status !== 'pending' && last.status !== 'held') break;
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
        if (options.json) return void console.log(JSON.stringify(last ?? sent, null, 2));
        const status = last?.status ?? 'pending';
        console.log(`${name}: ${status}${last?.error ? ` (${last.error})` : ''}`);
        if (status !== 'posted') process.exitCode = 1;
      }),
    );

  notify
    .command('messages')
    .description('the latest notifications and what happened to them')
    .option('--destination <name>', 'only this destination')
    .option('--status <status>', 'pending, posted, failed, unknown')
    .action(
      cliAction(async (client, options) => {
        const o = options as typeof options & { destination?: string; status?: string };
        const query = new URLSearchParams({
          ...(o.destination ? { destination: o.destination } : {}),
          ...(o.status ? { status: o.status } : {}),
        });
        const { messages } = await client.call<{ messages: MessageJson[] }>(
          'GET',
          `/api/notify/messages?${query}`,
        );
        if (options.json) return void console.log(JSON.stringify(messages, null, 2));
        for (const m of messages) {
          const first = m.text.split('\n')[0]!.slice(0, 60);
          console.log(
            `${m.createdAt.slice(0, 19)}  ${m.destination.padEnd(16)} ${m.status.padEnd(8)} ${first}${m.error ? `  — ${m.error}` : ''}`,
          );
        }
      }),
    );
  notify
    .command('resend')
    .description('send again a failed message, or one whose outcome is unknown (check the room first)')
    .argument('<key>', 'the message key (see `chronops notify messages --json`)')
    .action(
      cliAction(async (client, options, args) => {
        const key = args[0] as string;
        const r = await client.call<{ status: string }>(
          'POST',
          `/api/notify/messages/${encodeURIComponent(key)}/resend`,
          {},
        );
        if (options.json) return void console.log(JSON.stringify(r, null, 2));
        console.log(`${key}: ${r.status}`);
      }),
    );
  return notify;
}
