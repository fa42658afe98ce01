// The gateway's inbox: storing deliveries (a batch, its duplicates, redeliveries, any body), and claiming them
// fairly by source.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { InboxStore } from '../../src/gateway/inbox-store.ts';
import { migrationModules } from '../../src/hosts/modules.ts';
import { migrate } from '../../src/store/migrations.ts';
import { type Backend, backends } from '../support/harness.ts';
import { memoryPglite } from '../support/pglite.ts';

for (const backend of backends)
  describe(`InboxStore.accept: ${backend.name}`, () => {
    let opened: Awaited<ReturnType<Backend['open']>>;
    let store: InboxStore;
    let copied = 0;

    before(async () => {
      opened = await backend.open();
      await migrate(opened.db, opened.schema, migrationModules);
      // Count the batches the embedded database took by COPY (its cheaper way in)
      const copy = opened.db.copyCsv?.bind(opened.db);
      if (copy) {
        opened.db.copyCsv = async (...args) => {
          await copy(...args);
          copied++;
        };
      }
      store = new InboxStore(opened.db, opened.schema);
    });
    after(async () => {
      await opened.drop();
    });

    const item = (key: string, body: string, retryNum: number | null = null) => ({
      key,
      source: 'slack',
      kind: 'slack',
      type: 'event_callback',
      subtype: null,
      body,
      retryNum,
      partitionKey: null,
      topics: null,
    });
    async function stored(): Promise<Array<[string, string, number | null]>> {
      return (await store.list(1000))
        .map((r): [string, string, number | null] => [r.key, r.body, r.retryNum])
        .sort(([a], [b]) => a.localeCompare(b));
    }

    it('stores a batch exactly as given, whatever the bodies hold', async () => {
      // Prepare: quotes, commas, line breaks, backslashes, tabs, Korean, emoji, a CSV-looking line, `\.`
      const bodies = [
        '{"text":"say \\"hi\\", then leave"}',
        'a,b,c\n"quoted",,\r\nnext',
        'back\\slash\ttab \\N null-looking',
        '[오늘 오픈 예정 인기 상품] 🚀 — 16:00',
        '\\.\nafter the end marker',
      ];
      // Act
      await store.accept(bodies.map((body, i) => item(`k${i}`, body, i === 1 ? 2 : null)));
      // Assess
      assert.deepEqual(
        await stored(),
        bodies.map((body, i) => [`k${i}`, body, i === 1 ? 2 : null]),
      );
      assert.equal(copied, backend.name === 'pglite' ? 1 : 0);
    });

    it('drops duplicates within a batch and redeliveries of stored keys, storing the rest of the batch', async () => {
      // Prepare: k0 and k1 are stored already (previous test)
      const before = await stored();
      // Act: a batch with its own duplicate (new1 twice) and two redeliveries, with other bodies
      await store.accept([
        item('new1', 'first'),
        item('k0', 'redelivered'),
        item('new1', 'again'),
        item('new2', 'second', 1),
        item('k1', 'redelivered', 3),
      ]);
      // Assess: the first of each key wins; stored rows are untouched
      const after = await stored();
      assert.deepEqual(
        after.filter(([key]) => key.startsWith('new')),
        [
          ['new1', 'first', null],
          ['new2', 'second', 1],
        ],
      );
      assert.deepEqual(
        after.filter(([key]) => key.startsWith('k')),
        before,
      );
    });
  });

for (const backend of backends)
  describe(`InboxStore.claim: fair by source (${backend.name})`, () => {
    let opened: Awaited<ReturnType<Backend['open']>>;
    let store: InboxStore;

    before(async () => {
      opened = await backend.open();
      await migrate(opened.db, opened.schema, migrationModules);
      store = new InboxStore(opened.db, opened.schema);
    });
    after(async () => {
      await opened.drop();
    });

    const item = (source: string, n: number) => ({
      key: `${source}:${n}`,
      source,
      kind: source === 'storm' ? 'slack' : 'jandi',
      type: 'message',
      subtype: null,
      body: String(n),
      retryNum: null,
      partitionKey: null,
      topics: null,
    });

    it('takes at most its share from each source, the quiet one first in turn, and never a row twice', async () => {
      // Prepare: a storm of 200 from one source, then 2 from another.
      await store.accept(Array.from({ length: 200 }, (_, i) => item('storm', i)));
      await store.accept([item('quiet', 0), item('quiet', 1)]);
      // Act
      const first = await store.claim('n1', 60_000, ['storm', 'quiet'], 8);
      const second = await store.claim('n2', 60_000, ['storm', 'quiet'], 8);
      // Assess: the quiet source's two are in the first claim, taking turns with the storm's oldest.
      assert.deepEqual(
        first.map((d) => d.key),
        [
          'storm:0',
          'quiet:0',
          'storm:1',
          'quiet:1',
          'storm:2',
          'storm:3',
          'storm:4',
          'storm:5',
          'storm:6',
          'storm:7',
        ],
      );
      assert.deepEqual(
        second.map((d) => d.key),
        Array.from({ length: 8 }, (_, i) => `storm:${i + 8}`),
      );
      assert.ok(first.every((d) => d.attempts === 1));
      assert.deepEqual(await store.backlog(), { storm: 184 });
    });

    it('claims from the listed sources only, and one key on demand', async () => {
      await store.accept([item('other', 0), item('other', 1)]);
      assert.deepEqual(await store.claim('n1', 60_000, ['nobody'], 8), []);
      const one = await store.claimKey('n1', 60_000, 'other:1');
      assert.equal(one?.key, 'other:1');
      assert.equal(await store.claimKey('n2', 60_000, 'other:1'), undefined, 'claimed already');
    });

    it('leaves a held delivery (its request waits for the reply) to the key claim until the hold ends', async () => {
      // Prepare: two commands whose requests wait 60 s and 300 ms, and one that does not wait
      await store.accept([
        { ...item('held', 0), heldMs: 60_000 },
        { ...item('held', 1), heldMs: 300 },
        item('held', 2),
      ]);
      // Act + Assess: the queue takes only the one not held
      const queued = await store.claim('queue', 60_000, ['held'], 8);
      assert.deepEqual(
        queued.map((d) => d.key),
        ['held:2'],
      );
      // the server holding the request takes its own at once
      assert.equal((await store.claimKey('front', 60_000, 'held:0'))?.key, 'held:0');
      // a hold that ran out (the server holding it did not take it): the queue takes it
      await new Promise((resolve) => setTimeout(resolve, 400));
      assert.deepEqual(
        (await store.claim('queue', 60_000, ['held'], 8)).map((d) => d.key),
        ['held:1'],
      );
    });

    it('gives back the claims of a dead worker when their lease ran out', async () => {
      // Prepare: a claim with a lease already over
      await store.accept([item('lease', 0)]);
      const [claimed] = await store.claim('dead', -1, ['lease'], 1);
      assert.equal(claimed?.key, 'lease:0');
      // Act
      const expired = await store.expireLeases();
      const again = await store.claim('alive', 60_000, ['lease'], 1);
      // Assess
      assert.equal(expired, 1);
      assert.equal(again[0]?.key, 'lease:0');
      assert.equal(again[0]?.attempts, 2);
    });
  });

describe('the gateway migration', () => {
  it('makes the chat inbox every source’s, keeping what it held', async () => {
    // Prepare: a database with the chat inbox as it was, holding a Slack event and a command.
    const { capacityMigrations } = await import('../../src/capabilities/capacity/migrations.ts');
    const { chatMigrations } = await import('../../src/chat/migrations.ts');
    const db = await memoryPglite();
    try {
      await migrate(db, 'old', [capacityMigrations, chatMigrations]);
      await db.query(
        `INSERT INTO old.chat_inbox (key, platform, kind, body) VALUES
           ('slack:event:Ev1', 'slack', 'event', '{"a":1}'), ('slack:command:t1', 'slack', 'command', 'x=1')`,
      );
      // Act
      await migrate(db, 'old', migrationModules);
      // Assess
      const rows = await new InboxStore(db, 'old').list();
      assert.deepEqual(rows.map((r) => [r.key, r.source, r.kind, r.type, r.body, r.status]).sort(), [
        ['slack:command:t1', 'slack', 'slack', 'command', 'x=1', 'pending'],
        ['slack:event:Ev1', 'slack', 'slack', 'event_callback', '{"a":1}', 'pending'],
      ]);
    } finally {
      await db.close();
    }
  });
});
