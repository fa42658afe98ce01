// Test-only hook for child-process servers (loaded with `node --import`, never by chronops itself):
//
// - AWS that outlives the process: every simulated AWS call that changed something is appended to a journal
//   file (CHRONOPS_TEST_AWS_JOURNAL) shared by every server of a test; before each call a server's simulator
//   replays what the others (or its own killed predecessor) sent, so all of them see one AWS account, and the
//   test counts the calls actually sent, across processes.
// - Fault injection (CHRONOPS_TEST_KILL_AT): the process SIGKILLs itself at one point of a converge:
//     after-call:<Command>:<n>   right after its n-th successful <Command> (e.g. after-call:CreateDBInstance:1)
//     before-record:<n>          before recording its n-th execution outcome
//     following-reader:<n>       at its n-th look at a new reader
//     after-commit:<event>:<n>   when it is about to emit its n-th <event> (transition.done, reader.available):
//                                the record is committed, nothing after the commit has run (the moment a
//                                report made after the commit would be lost)
//   A marker file (CHRONOPS_TEST_KILL_MARK) is written first, so only one process of a test is killed (a
//   benchmark removes it to arm the next kill; CHRONOPS_TEST_KILL_REARM=1 lets a point fire again).
// - A pause (CHRONOPS_TEST_PAUSE_AT=after-call:<Command>:<n>): the first process of a test to get there writes
//   CHRONOPS_TEST_PAUSE_MARK (its pid) and its converge waits there a minute — a slow AWS call, for a test to
//   stop that server (SIGTERM) while its converge is under way.
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { AwsSimulator } from '../../src/aws/simulator.ts';
import { CapacityConverger } from '../../src/capabilities/capacity/converge.ts';
import { Store } from '../../src/capabilities/capacity/store.ts';
import { EventBus } from '../../src/kernel/events.ts';

const journal = process.env.CHRONOPS_TEST_AWS_JOURNAL;
const killAt = process.env.CHRONOPS_TEST_KILL_AT ?? '';
const killMark = process.env.CHRONOPS_TEST_KILL_MARK;
const [point, arg1, arg2] = killAt.split(':');
const counts = new Map<string, number>();

const rearm = process.env.CHRONOPS_TEST_KILL_REARM === '1';
const [pausePoint, pause1, pause2] = (process.env.CHRONOPS_TEST_PAUSE_AT ?? '').split(':');
const pauseMark = process.env.CHRONOPS_TEST_PAUSE_MARK;

async function pauseHere(): Promise<void> {
  if (!pauseMark || existsSync(pauseMark)) return;
  writeFileSync(pauseMark, `${process.pid} ${Date.now()}\n`);
  await new Promise((resolve) => setTimeout(resolve, 60_000).unref());
}

/** The n-th time here; with CHRONOPS_TEST_KILL_REARM=1, every time from the n-th on (the mark decides). */
function reached(what: string, n: number): boolean {
  const c = (counts.get(what) ?? 0) + 1;
  counts.set(what, c);
  return rearm ? c >= n : c === n;
}

function die(where: string): void {
  if (killMark) {
    if (existsSync(killMark)) return;
    writeFileSync(killMark, `${process.pid} ${where} ${Date.now()}\n`);
  }
  process.kill(process.pid, 'SIGKILL');
}

/** The calls in a journal (for tests to count). */
export function readJournal(path: string): JournalEntry[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.endsWith('}'))
    .map((l) => JSON.parse(l) as JournalEntry);
}

export interface JournalEntry {
  id: string;
  pid: number;
  at: number;
  service: string;
  command: string;
  input: Record<string, unknown>;
}

const mutating = (command: string) => !/^(Describe|List|Get)/.test(command);

if (journal) {
  const original = AwsSimulator.prototype.send;
  const applied = new WeakMap<AwsSimulator, Set<string>>();
  let seq = 0;
  const replay = async (sim: AwsSimulator, done: Set<string>) => {
    if (!existsSync(journal)) return;
    for (const line of readFileSync(journal, 'utf8').split('\n')) {
      if (!line.endsWith('}')) continue;
      const e = JSON.parse(line) as JournalEntry;
      if (done.has(e.id)) continue;
      done.add(e.id);
      await original.call(sim, e.service, e.command, e.input).catch(() => {});
    }
  };
  AwsSimulator.prototype.send = async function (this: AwsSimulator, service, command, input) {
    let done = applied.get(this);
    if (!done) {
      done = new Set();
      applied.set(this, done);
    }
    await replay(this, done);
    const output = await original.call(this, service, command, input);
    if (mutating(command)) {
      const entry: JournalEntry = {
        id: `${process.pid}-${seq++}`,
        pid: process.pid,
        at: Date.now(),
        service,
        command,
        input,
      };
      done.add(entry.id);
      appendFileSync(journal, `${JSON.stringify(entry)}\n`);
    }
    if (point === 'after-call' && command === arg1 && reached(`call:${command}`, Number(arg2))) {
      die(killAt);
    }
    if (pausePoint === 'after-call' && command === pause1 && reached(`pause:${command}`, Number(pause2))) {
      await pauseHere();
    }
    return output;
  };
}

if (point === 'before-record') {
  const original = Store.prototype.recordExecutions;
  Store.prototype.recordExecutions = function (this: Store, items) {
    if (items.some((i) => i.result.status === 'done') && reached('record', Number(arg1))) die(killAt);
    return original.call(this, items);
  };
}

if (point === 'following-reader') {
  const original = CapacityConverger.prototype.followReader;
  CapacityConverger.prototype.followReader = function (this: CapacityConverger, job, ctx) {
    if (reached('reader', Number(arg1))) die(killAt);
    return original.call(this, job, ctx);
  };
}

if (point === 'after-commit') {
  const original = EventBus.prototype.emit;
  EventBus.prototype.emit = function (this: EventBus, name, payload) {
    if (name === arg1 && reached(`event:${name}`, Number(arg2))) die(killAt);
    return original.call(this, name, payload);
  } as typeof original;
}
