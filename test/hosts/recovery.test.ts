// A server killed (SIGKILL, a real child process) at each point of an Aurora converge started from a Slack thread:
// the interrupted work resumes within seconds — on the embedded database when the server is restarted (≤ 5 s),
// on PostgreSQL when another of three servers takes it over (≤ 15 s: lease 8 s) — with no AWS call repeated
// beyond what idempotency absorbs (counted in the calls the simulated AWS received, across processes), one
// execution recorded per step, and each step's message in the thread exactly once (the stand-in Slack counts
// them): the scale-out "done", every "replica … available" (readers created before the crash included), the
// scale-in "done" — and the page's history (GET /api/board) says the same.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Store } from '../../src/capabilities/capacity/store.ts';
import { ChatStore } from '../../src/chat/chat-store.ts';
import { formatDuration } from '../../src/kernel/time.ts';
import type { Db } from '../../src/store/db.ts';
import { PgliteDb } from '../../src/store/pglite-db.ts';
import { PostgresDb } from '../../src/store/postgres-db.ts';
import { FakeSlack } from '../support/fake-slack.ts';
import { readJournal } from '../support/fault.ts';
import { dropSchemas, freshSchema, POSTGRES_URL } from '../support/harness.ts';
import {
  api,
  preparedDataDir,
  type ServerProcess,
  startServer,
  tempDir,
  writeConfig,
} from '../support/process.ts';
import { ALERT, deliver, mentionBody, slackEnv } from '../support/slack.ts';

export function recoveryConfig(extra: Record<string, unknown> = {}) {
  return {
    timezone: 'Asia/Seoul',
    dryRun: false,
    graceMinutes: 15,
    resources: {
      ecs: [{ name: 'web', cluster: 'shop', service: 'web', region: 'ap-northeast-2', maxTasks: 20 }],
      aurora: [
        {
          name: 'shop-db',
          clusterId: 'shop-aurora',
          region: 'ap-northeast-2',
          instanceClass: 'db.r6g.large',
          maxExtraReplicas: 3,
        },
      ],
    },
    replicas: { pollSeconds: 1, timeoutMinutes: 5 },
    server: { host: '127.0.0.1', port: 0 },
    slack: { postIntervalMs: 0 },
    aws: {
      simulate: {
        ecs: { web: { cluster: 'shop', service: 'web', desiredCount: 2 } },
        aurora: {
          'shop-aurora': {
            engine: 'aurora-mysql',
            writer: 'shop-aurora-1',
            readySeconds: 2,
            deleteSeconds: 1,
          },
        },
      },
    },
    ...extra,
  };
}

export const KILL_POINTS = [
  'after-call:CreateDBInstance:1',
  'after-call:CreateDBInstance:3',
  'before-record:1',
  // The execution (and its thread message) committed, nothing after the commit run yet.
  'after-commit:transition.done:1',
  'following-reader:1',
  // A reader's "available" committed, nothing after the commit run yet.
  'after-commit:reader.available:1',
] as const;

const CHANNEL = 'C0OPS';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined | false>,
  detail: () => string = () => '',
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail()}`);
    await sleep(100);
  }
}

/** `promise`, or a failure after `ms` (the timer is cleared either way: nothing is left pending). */
async function within<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(what())), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

interface BoardExecution {
  resource: string;
  status: string;
  from: string | null;
  to: string | null;
  changed: boolean | null;
  transition: { id: string; kind: string; windowId: string } | null;
  replicas: Array<{ instanceId: string; status: string; timeToReadyMs: number | null }>;
}

async function boardExecutions(url: string, windowId: string): Promise<BoardExecution[]> {
  const { body } = await api(url, 'GET', '/api/board?range=24h');
  return (body.executions as BoardExecution[]).filter(
    (e) => e.resource === 'shop-db' && e.transition?.windowId === windowId,
  );
}

/** The page's history: the start done and every reader it asked for available. */
async function scaledOut(url: string, windowId: string): Promise<boolean> {
  const executions = await boardExecutions(url, windowId);
  const start = executions.find((e) => e.status === 'done' && e.transition?.kind === 'start');
  return start?.replicas.filter((r) => r.status === 'available').length === 3;
}

/** Text of the thread's messages chronops posted. */
function thread(slack: FakeSlack, parent: string): string[] {
  return slack.posted(CHANNEL, parent).map((m) => m.text);
}

// A converge resumed after every reader was created (by the killed process) finds them there, and still reports
// the change from the state the first attempt saw, not "already …".
const SCALE_OUT_DONE = /0 readers \(0 chronops\) → 3 readers \(3 chronops\) done/;
const SCALE_IN_DONE = /3 readers \(3 chronops\) → 0 readers \(0 chronops\) done/;
const available = (id: string) => new RegExp(`replica ${id} available after`);

/** A window from a Slack thread: +3 readers now, for 30 minutes (ended by Cancel once scaled out). */
async function windowFromSlack(slack: FakeSlack, url: string): Promise<string> {
  const parent = slack.seed(CHANNEL, ALERT);
  const answer = await deliver(
    url,
    'events',
    mentionBody({ text: 'now --rds 3 --for 30m', channel: CHANNEL, threadTs: parent }),
  );
  assert.equal(answer.status, 200);
  return parent;
}

async function onlyWindow(url: () => string): Promise<string> {
  let last = '';
  return waitFor(
    'the window',
    20_000,
    async () => {
      const at = url();
      const answer = await api(at, 'GET', '/api/windows').catch((error: Error) => ({
        status: 0,
        body: { error: error.message },
      }));
      last = `${at}: ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`;
      return answer.body.windows?.length === 1 ? (answer.body.windows[0].id as string) : undefined;
    },
    () => `; last answer ${last}`,
  );
}

/**
 * Once scaled out: the thread has the scale-out "done" and each reader's "available"; then the window is
 * cancelled (the restart's own time under load is unbounded, so its end is not left to the clock) and the thread
 * gets the scale-in "done". Returns the page's history of the window's executions.
 */
async function scaleOutThenIn(
  slack: FakeSlack,
  url: () => string,
  parent: string,
  windowId: string,
  readerIds: () => string[],
): Promise<BoardExecution[]> {
  await waitFor(
    'the scale-out reported in the thread',
    20_000,
    async () => {
      const texts = thread(slack, parent);
      const ids = readerIds();
      return (
        ids.length === 3 &&
        texts.some((t) => SCALE_OUT_DONE.test(t)) &&
        ids.every((id) => texts.some((t) => available(id).test(t)))
      );
    },
    () => `; readers ${readerIds().join(', ')}; the thread:\n${thread(slack, parent).join('\n')}`,
  );
  const cancelled = await api(url(), 'POST', `/api/windows/${windowId}/cancel`);
  assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
  await waitFor(
    'the scale-in reported in the thread',
    30_000,
    async () => thread(slack, parent).some((t) => SCALE_IN_DONE.test(t)),
    () => `; the thread:\n${thread(slack, parent).join('\n')}`,
  );
  return waitFor('the scale-in in the page’s history', 10_000, async () => {
    const executions = await boardExecutions(url(), windowId);
    return executions.filter((e) => e.status === 'done').length === 2 && executions;
  });
}

/** What every scenario asserts once the work is done and the servers are stopped. */
async function assertOnce(
  db: Db,
  schema: string | undefined,
  windowId: string,
  journal: string,
  point: string,
) {
  const calls = readJournal(journal);
  const creates = calls.filter((c) => c.command === 'CreateDBInstance');
  const ids = creates.map((c) => String(c.input.DBInstanceIdentifier));
  assert.equal(new Set(ids).size, 3, `three readers created (${point})`);
  // Sent once each: a create answered before the kill is not sent again (the resumed converge sees the reader).
  assert.equal(
    creates.length,
    3,
    `CreateDBInstance sent ${creates.length} times (${point}): ${ids.join(', ')}`,
  );
  const deletes = calls.filter((c) => c.command === 'DeleteDBInstance');
  assert.deepEqual(
    deletes.map((c) => String(c.input.DBInstanceIdentifier)).sort(),
    [...ids].sort(),
    `each reader deleted once at the scale-in (${point})`,
  );
  const store = new Store(db, schema);
  const ts = await store.listTransitions({ windowId });
  const start = ts.find((t) => t.kind === 'start')!;
  const executions = (await store.listExecutions({ limit: 100 })).filter((e) => e.resource === 'shop-db');
  const done = executions.filter((e) => e.status === 'done' && e.transitionId === start.id);
  assert.equal(done.length, 1, `one execution recorded (${point}): ${JSON.stringify(executions)}`);
  const readers = (await store.listReaders()).filter((r) => r.windowId === windowId);
  assert.deepEqual(
    readers.map((r) => r.instanceId).sort(),
    [...new Set(ids)].sort(),
    'each reader followed once',
  );
  // Every message of the thread was sent: none waits, none failed or has an unknown outcome.
  const outbox = await new ChatStore(db, schema).listOutbox({ windowId });
  assert.deepEqual(
    outbox.filter((m) => m.status !== 'posted').map((m) => `${m.key} ${m.status}`),
    [],
    `every thread message sent (${point})`,
  );
  return ids;
}

/**
 * The thread as the stand-in Slack received it: each step once — the plan, the scale-out "done", each reader's
 * "available" (with the page's time-to-ready), the scale-in "done" (the page's from → to of each execution) —
 * no failure, no message twice.
 */
function assertThread(
  slack: FakeSlack,
  parent: string,
  ids: string[],
  history: BoardExecution[],
  point: string,
) {
  const texts = thread(slack, parent);
  const all = `(${point}):\n${texts.join('\n')}`;
  const count = (re: RegExp) => texts.filter((t) => re.test(t)).length;
  assert.equal(new Set(texts).size, texts.length, `no message twice ${all}`);
  assert.equal(count(/^Cancelled: plan for /), 1, `the plan once, updated by the cancel ${all}`);
  assert.equal(count(SCALE_OUT_DONE), 1, `the scale-out "done" once ${all}`);
  assert.equal(count(SCALE_IN_DONE), 1, `the scale-in "done" once ${all}`);
  assert.equal(count(/ done/), 2, `two "done" ${all}`);
  for (const id of ids) assert.equal(count(available(id)), 1, `${id} available once ${all}`);
  assert.equal(count(/available after/), 3, `three "available" ${all}`);
  assert.equal(count(/:x:|failed|missed/), 0, `no failure reported ${all}`);
  // The page's history agrees: one execution per "done", with the same from → to; the readers and their times.
  const done = history.filter((e) => e.status === 'done');
  assert.equal(done.length, 2, `two executions done on the page ${JSON.stringify(history)}`);
  for (const e of done) {
    assert.ok(e.changed, `the page says the step changed something ${JSON.stringify(e)}`);
    const change = `${e.from} → ${e.to}`;
    assert.equal(count(new RegExp(`${literal(change)} done`)), 1, `${change} ${all}`);
  }
  const replicas = done.flatMap((e) => e.replicas);
  assert.deepEqual(replicas.map((r) => r.instanceId).sort(), [...ids].sort(), 'the page’s readers');
  for (const r of replicas) {
    assert.equal(r.status, 'available');
    const after = formatDuration(r.timeToReadyMs!);
    assert.equal(count(new RegExp(`replica ${r.instanceId} available after ${literal(after)}`)), 1, all);
  }
}

const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function createdReaders(journal: string): string[] {
  return readJournal(journal)
    .filter((c) => c.command === 'CreateDBInstance')
    .map((c) => String(c.input.DBInstanceIdentifier));
}

function killedAt(mark: string): number {
  return Number(readFileSync(mark, 'utf8').trim().split(' ').at(-1));
}

let slack: FakeSlack;
before(async () => {
  slack = await new FakeSlack().start();
});
after(async () => {
  await slack.stop();
});

const running = (s: ServerProcess) => s.child.exitCode === null && s.child.signalCode === null;

/**
 * A scenario's set-up, the same on either database: a folder of its own for its AWS journal and its kill mark (so
 * no scenario sees another's calls, and one server of it is killed at most), the config written once (`config`:
 * what the database adds to it), and its servers started from them with the fault hook and the stand-in Slack
 * (`env`: what the database adds; `faults`, per server: where it kills or pauses itself).
 */
function setUp(config: Record<string, unknown>, env: Record<string, string>) {
  const dir = tempDir();
  const journal = join(dir, 'aws.jsonl');
  const mark = join(dir, 'killed');
  const path = writeConfig(recoveryConfig(config));
  const common = {
    ...slackEnv(slack),
    ...env,
    CHRONOPS_TEST_AWS_JOURNAL: journal,
    CHRONOPS_TEST_KILL_MARK: mark,
  };
  return {
    dir,
    journal,
    mark,
    start: (faults: Record<string, string> = {}) =>
      startServer(path, { ...common, ...faults }, 180_000, { faults: true }),
    /** The readers created so far, by any of its servers. */
    readers: () => createdReaders(journal),
  };
}

// One scenario at a time: what each measures (resumed within 5 s of the restart) is the restarted server's own
// work, on the CPU; three at a time under a shared load, it took 5.1-8.4 s.
describe('recovery after kill -9 mid-converge: embedded database, restarted', () => {
  for (const point of KILL_POINTS) {
    it(`killed at ${point}: resumed within 5 s of the restart, AWS calls and thread messages once`, async () => {
      // Prepare
      const dataDir = preparedDataDir();
      const scenario = setUp({ database: { dataDir } }, {});
      const first = await scenario.start({ CHRONOPS_TEST_KILL_AT: point });
      let parent: string;
      try {
        parent = await windowFromSlack(slack, first.url);
        // Act: the server kills itself at the point
        await within(first.exited, 30_000, () => `not killed at ${point}:\n${first.output()}`);
      } finally {
        await first.kill9();
      }
      assert.ok(existsSync(scenario.mark), 'killed by the fault hook');
      const second = await scenario.start();
      const listening = Date.now();
      let resumedMs: number;
      let windowId: string;
      let history: BoardExecution[];
      try {
        // Assess: the interrupted converge completes, and its three readers are followed until available
        windowId = await onlyWindow(() => second.url);
        await waitFor('the start done', 20_000, async () => {
          const { body } = await api(second.url, 'GET', `/api/windows/${windowId}`);
          return body.transitions.find((t: { kind: string }) => t.kind === 'start')?.status === 'done';
        });
        resumedMs = Date.now() - listening;
        await waitFor('three readers available', 20_000, () => scaledOut(second.url, windowId));
        history = await scaleOutThenIn(slack, () => second.url, parent, windowId, scenario.readers);
      } finally {
        await second.stop();
      }
      const db = await PgliteDb.open(dataDir);
      try {
        const ids = await assertOnce(db, undefined, windowId, scenario.journal, point);
        assertThread(slack, parent, ids, history, point);
        assert.ok(resumedMs <= 5000, `resumed ${resumedMs} ms after the restart listened (${point})`);
      } finally {
        await db.close();
      }
    });
  }
});

// Three scenarios at a time: each spends most of its time waiting for a lease to run out (8 s) and for the
// simulated readers, and has its own schema, AWS journal, kill mark and Slack thread, so none sees another's
// servers, calls or messages.
describe('recovery after kill -9 mid-converge: PostgreSQL, three servers, another takes over', {
  concurrency: 3,
}, () => {
  const schemas: string[] = [];
  after(async () => {
    for (const s of schemas) await dropSchemas(s);
  });
  /** The set-up on PostgreSQL: its servers share a schema of its own (dropped after the suite). */
  const onPostgres = () => {
    const schema = freshSchema();
    schemas.push(schema);
    return { schema, ...setUp({}, { DATABASE_URL: POSTGRES_URL, CHRONOPS_SCHEMA: schema }) };
  };
  for (const point of KILL_POINTS) {
    it(`killed at ${point}: taken over within 15 s, AWS calls and thread messages once`, async () => {
      const { schema, journal, mark, start, readers } = onPostgres();
      const kill = { CHRONOPS_TEST_KILL_AT: point };
      const servers: ServerProcess[] = [await start(kill)];
      servers.push(...(await Promise.all([start(kill), start(kill)])));
      const live = () => servers.find(running)!.url;
      const db = new PostgresDb(POSTGRES_URL, { max: 2 });
      try {
        const parent = await windowFromSlack(slack, servers[0]!.url);
        await waitFor(`a server killed at ${point}`, 30_000, async () => existsSync(mark));
        const windowId = await onlyWindow(live);
        await waitFor('the converge carried on', 30_000, () => scaledOut(live(), windowId));
        const tookMs = Date.now() - killedAt(mark);
        assert.ok(
          servers.some((s) => !running(s)),
          'one server died',
        );
        const history = await scaleOutThenIn(slack, live, parent, windowId, readers);
        await Promise.all(servers.map((s) => s.stop()));
        const ids = await assertOnce(db, schema, windowId, journal, point);
        assertThread(slack, parent, ids, history, point);
        assert.ok(tookMs <= 15_000 + 4000, `carried on ${tookMs} ms after the kill (${point})`);
      } finally {
        await db.close();
        await Promise.all(servers.map((s) => s.stop()));
      }
    });
  }

  it('stopped with SIGTERM during a converge: it hands the work back and exits; another server carries on, thread messages once', async () => {
    // Prepare: three servers; the one that runs the converge waits after its first CreateDBInstance (a slow call)
    const { schema, dir, journal, start, readers } = onPostgres();
    const paused = join(dir, 'paused');
    const pause = {
      CHRONOPS_TEST_PAUSE_AT: 'after-call:CreateDBInstance:1',
      CHRONOPS_TEST_PAUSE_MARK: paused,
    };
    const servers = await Promise.all([0, 1, 2].map(() => start(pause)));
    const live = () => servers.find(running)!.url;
    const db = new PostgresDb(POSTGRES_URL, { max: 2 });
    try {
      const parent = await windowFromSlack(slack, servers[0]!.url);
      await waitFor('a converge under way', 30_000, async () => existsSync(paused));
      const pid = Number(readFileSync(paused, 'utf8').split(' ')[0]);
      const busy = servers.find((s) => s.child.pid === pid)!;
      // Act: SIGTERM to the server whose converge is under way
      const stopped = Date.now();
      await within(busy.stop(), 30_000, () => `not stopped:\n${busy.output()}`);
      const exitMs = Date.now() - stopped;
      // Assess: it exited within its bound (5 s for runs under way, then hand-back), having handed its run back
      // (not left to its lease), and another server carried the converge on at once
      assert.equal(busy.child.exitCode, 0, busy.output());
      assert.ok(exitMs <= 20_000, `exited ${exitMs} ms after SIGTERM`);
      assert.match(busy.output(), /handed back to the other servers/);
      const windowId = await onlyWindow(live);
      await waitFor('the converge carried on', 30_000, () => scaledOut(live(), windowId));
      const history = await scaleOutThenIn(slack, live, parent, windowId, readers);
      await Promise.all(servers.map((s) => s.stop()));
      const ids = await assertOnce(db, schema, windowId, journal, 'SIGTERM');
      assertThread(slack, parent, ids, history, 'SIGTERM');
      const keys = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}.nodes`);
      assert.equal(keys[0]!.n, 0, 'every stopped server gave up its lease');
    } finally {
      await db.close();
      await Promise.all(servers.map((s) => s.stop()));
    }
  });
});
