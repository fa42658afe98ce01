// The chat thread hears each step once: one converge that covered several transitions of a window (its start
// retried after a crash, and its end) is one "done"; the same execution reported again (another server, a
// redelivered event) is the same outbox key. Replies name one reader / one task in the singular.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CapacityWindow, Transition } from '../../../src/capabilities/capacity/model.ts';
import { ProgressReporter } from '../../../src/capabilities/capacity/progress.ts';
import { planReply } from '../../../src/capabilities/capacity/render.ts';
import type { ChatStore, OutboxMessage } from '../../../src/chat/chat-store.ts';
import { EventBus } from '../../../src/kernel/events.ts';
import { createLogger } from '../../../src/kernel/logger.ts';
import { testConfig } from '../../support/harness.ts';

const config = testConfig();
const window: CapacityWindow = {
  id: 'w1',
  name: 'launch',
  holds: [
    {
      resource: 'shop-db',
      kind: 'aurora',
      amount: 1,
      from: new Date('2026-12-07T01:00:00Z'),
      until: new Date('2026-12-07T02:00:00Z'),
    },
  ] as CapacityWindow['holds'],
  dryRun: false,
  status: 'active',
  createdBy: 'U1',
  createdAt: new Date('2026-12-07T00:00:00Z'),
  origin: {
    chat: {
      platform: 'slack',
      channel: 'C1',
      threadTs: '1.2',
      eventKey: 'slack:event:Ev1',
      user: { id: 'U1' },
    },
  },
};

function transition(id: string, kind: 'start' | 'end'): Transition {
  return {
    id,
    windowId: 'w1',
    resource: 'shop-db',
    kind,
    dueAt: new Date('2026-12-07T01:00:00Z'),
    status: 'done',
    dryRun: false,
  };
}

describe('capacity progress in the thread', () => {
  it('one converge covering a window’s start and end is one "done"; reported again, the same key', async () => {
    // Prepare
    const queued: OutboxMessage[] = [];
    const events = new EventBus();
    const reporter = new ProgressReporter({
      events,
      store: { enqueue: async (m: OutboxMessage[]) => void queued.push(...m) } as unknown as ChatStore,
      config,
      getWindow: async () => window,
      platforms: ['slack'],
      logger: createLogger({ level: 'silent' }),
    });
    reporter.start();
    const outcome = { from: '4 readers (3 chronops)', to: '1 reader (0 chronops)', changed: true };
    // Act: the execution finished the start (retried) and the end; then the same report once more
    for (const t of [
      transition('t-start', 'start'),
      transition('t-end', 'end'),
      transition('t-start', 'start'),
    ])
      events.emit('transition.done', {
        transition: t,
        target: null,
        executionId: 'e1',
        outcome,
        durationMs: 5,
      });
    events.emit('transition.done', {
      transition: transition('t-end', 'end'),
      target: null,
      executionId: 'e2',
      outcome,
      durationMs: 5,
    });
    await reporter.stop();
    // Assess: distinct keys = distinct messages the outbox sends (it drops a key it has)
    const keys = new Set(queued.map((m) => m.key));
    assert.deepEqual([...keys].sort(), ['progress:e1:w1:done', 'progress:e2:w1:done']);
    assert.ok(queued.every((m) => m.threadTs === '1.2' && m.channel === 'C1'));
  });

  it('"+1 reader", not "+1 readers"', () => {
    const plan = planReply(window, config);
    assert.match(plan.text, /Aurora shop-db \+1 reader from/);
    assert.doesNotMatch(plan.text, /\+1 readers/);
  });
});
