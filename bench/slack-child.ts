// The stand-in Slack of bench:gateway (test/support/fake-slack.ts) in a process of its own, as Slack is not in the
// load generator's: its work (each reply's thread looked up, every call kept) and its garbage collection then do
// not make the load generator send late, and each server measured gets a new one (the messages and calls of the
// servers before it are not kept and looked through). Line protocol (bench/child.ts): prints `READY <url>`; reads
// `seed <channel> <ts>` lines (a mention the load generator is about to send: chronops' reply goes in its thread),
// `count` (answers `COUNT {"accepted":…,"posts":…}`: chat.postMessage calls Slack took, and all of them) and
// `exit`.
import { createInterface } from 'node:readline';
import { FakeSlack } from '../test/support/fake-slack.ts';

const slack = await new FakeSlack().start();
createInterface({ input: process.stdin }).on('line', (line) => {
  const [word, channel, ts] = line.split(' ');
  if (word === 'seed') slack.seed(channel!, '<@U0BENCHBOT> list', { ts, user: 'U0ALICE' });
  else if (word === 'count') {
    const posts = slack.calls.filter((c) => c.method === 'chat.postMessage');
    const accepted = posts.filter((c) => c.status === 200 && c.error === undefined).length;
    process.stdout.write(`COUNT ${JSON.stringify({ accepted, posts: posts.length })}\n`);
  } else if (word === 'exit') void slack.stop().then(() => process.exit(0));
});
process.stdout.write(`READY ${slack.url}\n`);
