import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  findProduct,
  type ParsedThread,
  ProductNotFoundError,
  parseProductThread,
} from '../../../src/capabilities/capacity/thread-parser.ts';
import { ValidationError } from '../../../src/kernel/errors.ts';

const SEOUL = 'Asia/Seoul';
const EXAMPLE = [
  '[오늘 오픈 예정 인기 상품] 2026-11-23',
  '1. (12345) 나이키 덩크 로우 - 16:00 오픈 (조회수 15,234)',
  '2. (12377) 아이폰 18 Pro 사전예약 - 오후 6시 오픈 (조회수 9,876)',
  '3. (12401) 콘서트 티켓 — 2026-11-24 20:00 오픈',
].join('\n');
const now = new Date('2026-11-23T00:30:00Z');

/** Open instants (ISO, UTC) by product number. */
function opens(parsed: ParsedThread): Record<number, string> {
  return Object.fromEntries(parsed.products.map((p) => [p.number, p.openAt.toISOString()]));
}

/** Parse one product line under a dated header; its open instant. */
function openOf(line: string, zone = SEOUL): string | undefined {
  const parsed = parseProductThread(`[상품] 2026-11-23\n${line}`, { zone, now });
  return parsed.products[0]?.openAt.toISOString();
}

describe('parseProductThread: the daily alert', () => {
  it('reads the example in Asia/Seoul with exact instants', () => {
    // Act
    const parsed = parseProductThread(EXAMPLE, { zone: SEOUL, now });
    // Assess
    assert.equal(parsed.date, '2026-11-23');
    assert.deepEqual(parsed.products, [
      {
        number: 1,
        productId: '12345',
        name: '나이키 덩크 로우',
        openAt: new Date('2026-11-23T07:00:00Z'),
        openText: '16:00',
      },
      {
        number: 2,
        productId: '12377',
        name: '아이폰 18 Pro 사전예약',
        openAt: new Date('2026-11-23T09:00:00Z'),
        openText: '오후 6시',
      },
      {
        number: 3,
        productId: '12401',
        name: '콘서트 티켓',
        openAt: new Date('2026-11-24T11:00:00Z'),
        openText: '2026-11-24 20:00',
      },
    ]);
    assert.deepEqual(parsed.ignored, []);
  });

  it('reads every time form', () => {
    assert.equal(openOf('1. (1) A - 16:00 오픈'), '2026-11-23T07:00:00.000Z');
    assert.equal(openOf('1. (1) A - 16시 오픈'), '2026-11-23T07:00:00.000Z');
    assert.equal(openOf('1. (1) A - 16시 30분 오픈'), '2026-11-23T07:30:00.000Z');
    assert.equal(openOf('1. (1) A - 오후 6시 오픈'), '2026-11-23T09:00:00.000Z');
    assert.equal(openOf('1. (1) A - 오후 6시 30분 오픈'), '2026-11-23T09:30:00.000Z');
    assert.equal(openOf('1. (1) A - 오후 6시 반 오픈'), '2026-11-23T09:30:00.000Z');
    assert.equal(openOf('1. (1) A - 오전 10:30 오픈'), '2026-11-23T01:30:00.000Z');
    assert.equal(openOf('1. (1) A - 오후 12시 오픈'), '2026-11-23T03:00:00.000Z'); // noon KST
    assert.equal(openOf('1. (1) A - 오전 12시 오픈'), '2026-11-22T15:00:00.000Z'); // midnight KST
    assert.equal(openOf('1. (1) A - 6:00 PM'), '2026-11-23T09:00:00.000Z');
    assert.equal(openOf('1. (1) A - 2026.11.25 09:00 오픈'), '2026-11-25T00:00:00.000Z');
    assert.equal(openOf('1. (1) A - 2026/11/25 (수) 오후 2시'), '2026-11-25T05:00:00.000Z');
    assert.equal(openOf('1. (1) A - 내일 10:00'), '2026-11-24T01:00:00.000Z');
    assert.equal(openOf('1. 16:00 나이키 덩크 로우 오픈'), '2026-11-23T07:00:00.000Z');
  });

  it('accepts N) numbering, lines without a product id, and a header date with dots or slashes', () => {
    // Prepare
    const text = '*인기 상품 (2026.11.23)*\n1) 나이키 덩크 로우 - 16:00\n2) (A-77) 에어맥스 - 17시';
    // Act
    const parsed = parseProductThread(text, { zone: SEOUL, now });
    // Assess
    assert.equal(parsed.date, '2026-11-23');
    assert.deepEqual(
      parsed.products.map((p) => [p.number, p.productId, p.name]),
      [
        [1, '#1', '나이키 덩크 로우'],
        [2, 'A-77', '에어맥스'],
      ],
    );
    assert.equal(
      parseProductThread('상품 2026/11/25\n1. A - 10:00', { zone: SEOUL, now }).date,
      '2026-11-25',
    );
    assert.equal(
      parseProductThread('2026년 11월 26일 상품\n1. A - 10:00', { zone: SEOUL, now }).date,
      '2026-11-26',
    );
  });

  it('tolerates Slack formatting: bold, links, entities, bullets, non-breaking spaces', () => {
    // Prepare
    const text = [
      '*[오늘 오픈 예정 인기 상품]* 2026-11-23',
      '• *1. (12345) <https://shop.test/p/12345|나이키 덩크 로우>* - 16:00 오픈',
      '2.\u00a0(12377) 아이폰 &amp; 에어팟 &lt;세트&gt; - _오후 6시_ 오픈',
    ].join('\n');
    // Act
    const parsed = parseProductThread(text, { zone: SEOUL, now });
    // Assess
    assert.deepEqual(
      parsed.products.map((p) => [p.number, p.productId, p.name, p.openAt.toISOString()]),
      [
        [1, '12345', '나이키 덩크 로우', '2026-11-23T07:00:00.000Z'],
        [2, '12377', '아이폰 & 에어팟 <세트>', '2026-11-23T09:00:00.000Z'],
      ],
    );
  });

  it('ignores lines that are not products', () => {
    // Prepare
    const text = `${EXAMPLE}\n\n자세한 내용은 <https://shop.test|쇼핑몰>에서 확인하세요. 2026-12-01 업데이트\n총 3개 상품`;
    // Act
    const parsed = parseProductThread(text, { zone: SEOUL, now });
    // Assess
    assert.equal(parsed.products.length, 3);
    assert.equal(parsed.date, '2026-11-23');
  });

  it('keeps numbered lines without a readable time aside, with the reason', () => {
    // Prepare
    const text = '상품 2026-11-23\n1. (1) A - 16:00\n2. (2) B - 시간 미정\n3. (3) C - 25:00';
    // Act
    const parsed = parseProductThread(text, { zone: SEOUL, now });
    // Assess
    assert.deepEqual(
      parsed.products.map((p) => p.number),
      [1],
    );
    assert.deepEqual(
      parsed.ignored.map((i) => [i.number, i.reason]),
      [
        [2, 'no open time found'],
        [3, '"25:00": 25 is not an hour'],
      ],
    );
  });
});

describe('parseProductThread: the date', () => {
  const noHeader = '[오늘 오픈 예정 인기 상품]\n1. (12345) 나이키 덩크 로우 - 16:00 오픈';

  it('without a date in the header, uses today in the zone', () => {
    // Act
    const parsed = parseProductThread(noHeader, { zone: SEOUL, now: new Date('2026-11-23T05:00:00Z') });
    // Assess
    assert.equal(parsed.date, '2026-11-23');
    assert.deepEqual(opens(parsed), { 1: '2026-11-23T07:00:00.000Z' });
  });

  it('uses the zone’s date when UTC is still on the day before', () => {
    // Prepare: 2026-11-22 16:30 UTC is 2026-11-23 01:30 in Seoul
    const at = new Date('2026-11-22T16:30:00Z');
    // Act
    const seoul = parseProductThread(noHeader, { zone: SEOUL, now: at });
    const utc = parseProductThread(noHeader, { zone: 'UTC', now: at });
    // Assess
    assert.equal(seoul.date, '2026-11-23');
    assert.deepEqual(opens(seoul), { 1: '2026-11-23T07:00:00.000Z' });
    assert.equal(utc.date, '2026-11-22');
    assert.deepEqual(opens(utc), { 1: '2026-11-22T16:00:00.000Z' });
  });

  it('follows DST in zones that have it', () => {
    // 2026-03-08 is the day New York springs forward; 16:00 is then UTC-4
    assert.equal(
      parseProductThread('상품 2026-03-08\n1. A - 16:00', {
        zone: 'America/New_York',
        now,
      }).products[0]?.openAt.toISOString(),
      '2026-03-08T20:00:00.000Z',
    );
  });

  it('sets aside a time skipped by DST, and reads a repeated one as the earlier instant', () => {
    // Act
    const spring = parseProductThread('상품 2026-03-08\n1. A - 02:30\n2. B - 03:30', {
      zone: 'America/New_York',
      now,
    });
    const fall = parseProductThread('상품 2026-11-01\n1. A - 01:30', { zone: 'America/New_York', now });
    // Assess
    assert.deepEqual(opens(spring), { 2: '2026-03-08T07:30:00.000Z' });
    assert.equal(spring.ignored[0]?.number, 1);
    assert.match(spring.ignored[0]?.reason ?? '', /"02:30": .*does not exist in America\/New_York/);
    assert.deepEqual(opens(fall), { 1: '2026-11-01T05:30:00.000Z' });
  });

  it('refuses an impossible header date and an unknown zone', () => {
    assert.throws(
      () => parseProductThread('상품 2026-02-30\n1. A - 16:00', { zone: SEOUL, now }),
      (error: unknown) =>
        error instanceof ValidationError &&
        error.issues[0]?.field === 'date' &&
        /2026-02-30/.test(error.message),
    );
    assert.throws(
      () => parseProductThread(EXAMPLE, { zone: 'Mars/Olympus', now }),
      (error: unknown) => error instanceof ValidationError && error.issues[0]?.field === 'zone',
    );
  });
});

describe('parseProductThread: a team’s own pattern', () => {
  it('reads lines with named groups, date included', () => {
    // Prepare
    const text = [
      '오픈 일정',
      '#1 [P-100] 운동화 @ 16:00 / 2026-11-23',
      '#2 [P-200] 티셔츠 @ 오후 6시 / 2026-11-24',
    ].join('\n');
    const pattern = String.raw`^#(?<number>\d+)\s+\[(?<id>[^\]]+)\]\s+(?<name>.+?)\s+@\s+(?<time>.+?)\s+/\s+(?<date>\S+)$`;
    // Act
    const parsed = parseProductThread(text, { zone: SEOUL, now, pattern });
    // Assess
    assert.deepEqual(
      parsed.products.map((p) => [p.number, p.productId, p.name, p.openAt.toISOString(), p.openText]),
      [
        [1, 'P-100', '운동화', '2026-11-23T07:00:00.000Z', '16:00'],
        [2, 'P-200', '티셔츠', '2026-11-24T09:00:00.000Z', '오후 6시'],
      ],
    );
  });

  it('uses the header date (or today) when the pattern has no date, and #N when id did not participate', () => {
    // Prepare
    const text = '오픈 일정 2026-11-25\nNo.4 :: 모자 :: 10:30';
    const pattern = '/^no\\.(?<number>\\d+)(?:\\s+id=(?<id>\\w+))? :: (?<name>.+?) :: (?<time>.+)$/i';
    // Act
    const parsed = parseProductThread(text, { zone: SEOUL, now, pattern });
    // Assess
    assert.deepEqual(parsed.products, [
      {
        number: 4,
        productId: '#4',
        name: '모자',
        openAt: new Date('2026-11-25T01:30:00Z'),
        openText: '10:30',
      },
    ]);
  });

  it('refuses a pattern that is not a regex, or that lacks a required group', () => {
    assert.throws(
      () => parseProductThread(EXAMPLE, { zone: SEOUL, now, pattern: '(?<number>\\d+' }),
      (error: unknown) =>
        error instanceof ValidationError &&
        error.issues[0]?.field === 'pattern' &&
        /not a valid regular expression/.test(error.message),
    );
    assert.throws(
      () => parseProductThread(EXAMPLE, { zone: SEOUL, now, pattern: '(?<number>\\d+)\\. (?<name>.+)' }),
      (error: unknown) =>
        error instanceof ValidationError &&
        /missing: id, time/.test(error.message) &&
        error.issues[0]?.field === 'pattern',
    );
  });
});

describe('parseProductThread: messages it must refuse', () => {
  it('finds no products without numbered lines', () => {
    // Prepare
    const text = '[오늘 오픈 예정 인기 상품] 2026-11-23\n나이키 덩크 로우 - 16:00 오픈\n아이폰 - 오후 6시';
    // Act
    const parsed = parseProductThread(text, { zone: SEOUL, now });
    // Assess
    assert.deepEqual(parsed.products, []);
    assert.throws(
      () => findProduct(parsed, 1),
      (error: unknown) =>
        error instanceof ProductNotFoundError &&
        error.status === 404 &&
        /product #1 is not in this message; no products were found in it/.test(error.message),
    );
  });

  it('finds no products in garbage', () => {
    for (const text of [
      '',
      'ㅋㅋㅋㅋ',
      '2026.11.23 12:00 점검 공지',
      '{"json": true}',
      '1.5 버전 배포 완료',
    ]) {
      const parsed = parseProductThread(text, { zone: SEOUL, now });
      assert.deepEqual(parsed.products, [], JSON.stringify(text));
    }
  });
});

describe('findProduct', () => {
  it('returns the product with that number', () => {
    const parsed = parseProductThread(EXAMPLE, { zone: SEOUL, now });
    assert.equal(findProduct(parsed, 2).productId, '12377');
  });

  it('lists the products that were found when the number is not there', () => {
    // Prepare
    const parsed = parseProductThread(EXAMPLE, { zone: SEOUL, now });
    // Act / Assess
    assert.throws(
      () => findProduct(parsed, 7),
      (error: unknown) => {
        assert.ok(error instanceof ProductNotFoundError);
        assert.equal(error.status, 404);
        assert.equal(error.number, 7);
        assert.equal(error.found.length, 3);
        assert.equal(
          error.message,
          'product #7 is not in this message; found: 1 (12345) 나이키 덩크 로우 16:00, ' +
            '2 (12377) 아이폰 18 Pro 사전예약 오후 6시, 3 (12401) 콘서트 티켓 2026-11-24 20:00',
        );
        return true;
      },
    );
  });

  it('says why when the line is there but its time could not be read', () => {
    const parsed = parseProductThread('상품 2026-11-23\n1. (1) A - 16:00\n2. (2) B - 미정', {
      zone: SEOUL,
      now,
    });
    assert.throws(
      () => findProduct(parsed, 2),
      /product #2 is in this message but could not be read \(no open time found: "2\. \(2\) B - 미정"\); found: 1 \(1\) A 16:00/,
    );
  });
});
