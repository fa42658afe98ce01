// Rendering one notification per destination, cutting it to size, and reading chat replies back for doors that
// do not speak Block Kit.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { textReply } from '../../src/chat/reply.ts';
import type { Notification } from '../../src/notify/notification.ts';
import {
  fitToSize,
  jsonBytes,
  mrkdwnToPlain,
  replyToNotification,
  toJandi,
  toSlack,
  toTeams,
} from '../../src/notify/render.ts';

describe('fitToSize', () => {
  const trace = `에러: 연결 실패\n${'\tat Service.call(Service.java:1)\n'.repeat(500)}`;
  const n: Notification = {
    title: 'big',
    sections: [
      { title: 'Failed', items: Array.from({ length: 400 }, (_, i) => `tenant-${i}`) },
      { title: 'trace a', text: trace, code: true },
      { title: 'trace b', text: trace, code: true },
    ],
  };

  it('fits every renderer under its bound, traces first, the same way each time', () => {
    for (const [render, max] of [
      [toTeams, 28_000],
      [toJandi, 16_000],
      [toSlack, 40_000],
    ] as const) {
      // Act
      const a = fitToSize<unknown>(n, render, max);
      const b = fitToSize<unknown>(n, render, max);
      // Assess
      assert.ok(jsonBytes(a.rendered) <= max, `${jsonBytes(a.rendered)} > ${max}`);
      // Slack's blocks hold 3,000 characters each: cut there already, the message stays under its bound.
      if (render !== toSlack) assert.equal(a.cut, true);
      assert.deepEqual(a.rendered, b.rendered);
      assert.match(JSON.stringify(a.rendered), /characters cut to fit/);
    }
  });

  it('leaves what fits alone', () => {
    const small: Notification = { title: 'ok', text: 'fine' };
    const fitted = fitToSize(small, toTeams, 28_000);
    assert.equal(fitted.cut, false);
    assert.deepEqual(fitted.notification, small);
  });

  it('cuts a long list to its head and says how many more', () => {
    const list: Notification = {
      title: 'list',
      sections: [{ title: 'Failed', items: Array.from({ length: 2000 }, (_, i) => `tenant-${i}`) }],
    };
    const fitted = fitToSize(list, toTeams, 8_000);
    const items = fitted.notification.sections![0]!.items!;
    assert.equal(items[0], 'tenant-0');
    const more = /^… and (\d+) more$/.exec(items.at(-1)!);
    assert.ok(more, String(items.at(-1)));
    assert.equal(items.length - 1 + Number(more[1]), 2000);
  });
});

describe('renderers', () => {
  it('Slack escapes text and keeps to 50 blocks', () => {
    const many: Notification = {
      title: 'a <b> & c',
      sections: Array.from({ length: 60 }, (_, i) => ({ title: `s${i}`, text: 'x' })),
    };
    const { blocks, text } = toSlack(many);
    assert.equal(blocks.length, 50);
    assert.match(text, /a &lt;b&gt; &amp; c/);
    assert.match(JSON.stringify(blocks.at(-1)), /more blocks cut to fit/);
  });

  it('Teams shows markdown characters as typed, code as monospace', () => {
    const card = toTeams({ title: '*not bold*', sections: [{ title: 't', text: '*raw*', code: true }] });
    // biome-ignore lint/suspicious/noExplicitAny: a card is read loosely
    const body = card.attachments[0]!.content.body as any[];
    assert.equal(body[0].items[0].text, '\\*not bold\\*');
    assert.equal(body[1].items[1].text, '*raw*');
    assert.equal(body[1].items[1].fontType, 'Monospace');
  });

  it('JANDI gets a body even for a notification without a title', () => {
    assert.deepEqual(toJandi({ fields: [{ title: 'a', value: 'b' }] }), {
      body: 'chronops',
      connectColor: '#2F80ED',
      connectInfo: [{ title: 'a', description: 'b' }],
    });
  });
});

describe('chat replies for doors without Block Kit', () => {
  it('reads Slack mrkdwn as plain text', () => {
    assert.equal(
      mrkdwnToPlain(':warning: *Plan* for <@U1> &lt;12345&gt; see <https://x.test/a|the docs> `w_1`'),
      '⚠️ Plan for @U1 <12345> see the docs (https://x.test/a) `w_1`',
    );
  });

  it('turns a plan-like reply into title, facts, sections and a footer', () => {
    const n = replyToNotification({
      text: 'Plan for 12345',
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: 'Plan · 12345 Dunk' } },
        {
          type: 'section',
          fields: [
            { type: 'mrkdwn', text: '*Product*\n#1 · 12345 Dunk' },
            { type: 'mrkdwn', text: '*Scale-in*\n19:00' },
          ],
        },
        { type: 'section', text: { type: 'mrkdwn', text: '*Resources*\n• ECS web: baseline → 12 tasks' } },
        { type: 'context', elements: [{ type: 'mrkdwn', text: 'Window `w_1` · by <@U1>' }] },
        { type: 'actions', elements: [] },
      ],
    });
    assert.deepEqual(n, {
      title: 'Plan · 12345 Dunk',
      fields: [
        { title: 'Product', value: '#1 · 12345 Dunk' },
        { title: 'Scale-in', value: '19:00' },
      ],
      sections: [{ title: 'Resources', text: '• ECS web: baseline → 12 tasks' }],
      footer: 'Window `w_1` · by @U1',
    });
  });

  it('a short answer keeps its text and its warning colour; the usage code fence is dropped', () => {
    const n = replyToNotification(textReply(':warning: unknown command', 'help [command]'));
    assert.deepEqual(n, { text: '⚠️ unknown command\nhelp [command]', severity: 'warning' });
  });
});
