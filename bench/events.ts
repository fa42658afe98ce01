// npm run bench:events — SNS notifications: how many a second chronops verifies, and verifies and stores through the
// gateway's SNS source, side by side with the verifier library called alone.
//
// 10,000 distinct notifications are signed for real (RSA 2048, SignatureVersion 2 = SHA256withRSA; a run with
// version 1 = SHA1 too) with a key and certificate made by openssl for sns.us-east-1.amazonaws.com; the
// certificate is served by a local HTTPS server, fetched once, then cached — as in production after the first
// message. Each variant checks every message once per round; rounds alternate the variants so that the machine's
// noise falls on both; the report gives the median of BENCH_ROUNDS (3) rounds and the ratio.
//
//   library   the registry's sns-payload-validator, validate(payload) alone (signature, certificate URL, cache of the
//             certificate's PEM text, parsed again at every message)
//   chronops  SnsVerifier.verify(body, headers): JSON parse, type header, topic allow-list, message age, certificate
//             URL, signature with the certificate's public key parsed once — what the SNS source runs before storing
//   stored    what `POST /sns/price-list` runs once the body is read: Gateway.handle with the SNS source
//             (src/gateway/sources/sns.ts: the same verification), each message stored in the gateway's inbox
//             (gateway_inbox, key `price-list:<MessageId>`) on the embedded database (PGlite, file-backed, in a
//             temporary directory) through the gateway's group commit with its settings, then answered; 200
//             messages in flight at once, as concurrent requests would be; a message counts once it is answered 200
//             (after its row is committed). The rows are counted after each round, then deleted.
//
// Each rate is also given per CPU-second of this process (`perCpuSecond`: the database runs in it too), which the
// load of others on a shared machine does not move as much as wall time.
//
// Environment: BENCH_MESSAGES (10000), BENCH_ROUNDS (3), BENCH_IN_FLIGHT (200).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import SnsPayloadValidator from 'sns-payload-validator';
import { Gateway } from '../src/gateway/gateway.ts';
import { type InboxItem, InboxStore } from '../src/gateway/inbox-store.ts';
import { SnsVerifier } from '../src/gateway/sns.ts';
import { SnsSource } from '../src/gateway/sources/sns.ts';
import { migrationModules } from '../src/hosts/modules.ts';
import { createLogger } from '../src/kernel/logger.ts';
import { GroupCommit } from '../src/store/group-commit.ts';
import { migrate } from '../src/store/migrations.ts';
import { PgliteDb } from '../src/store/pglite-db.ts';
import { signedNotification, snsFixture } from '../test/support/sns.ts';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 200);
const TOPIC = 'arn:aws:sns:us-east-1:278350005181:price-list-api';

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Messages per CPU-second of this process, per variant (the machine is shared: wall time counts others' load). */
const cpuRates: Record<string, number[]> = { library: [], chronops: [], stored: [] };

async function timed(run: () => Promise<void>, variant: string): Promise<number> {
  const start = performance.now();
  const cpu = process.cpuUsage();
  await run();
  const used = process.cpuUsage(cpu);
  cpuRates[variant]!.push((MESSAGES / ((used.user + used.system) / 1000)) * 1000);
  return (MESSAGES / (performance.now() - start)) * 1000;
}

/** Every body through the gateway's SNS source, IN_FLIGHT at a time; resolves when the last one is answered. */
async function verifyAndStore(
  bodies: string[],
  gateway: Gateway,
  source: SnsSource,
  header: (name: string) => string | undefined,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < bodies.length) {
      const body = bodies[next++]!;
      const answer = await gateway.handle(source, { body, header });
      if (answer.status !== 200) throw new Error(`answered ${answer.status}: ${JSON.stringify(answer.json)}`);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'chronops-bench-events-'));
  const db = await PgliteDb.open(dir);
  await migrate(db, 'chronops', migrationModules);
  const inbox = new InboxStore(db, 'chronops');
  // The gateway's own settings (src/gateway/wiring.ts).
  const commit = new GroupCommit<InboxItem, undefined>(
    async (items) => {
      await inbox.accept(items);
      return items.map(() => undefined);
    },
    { maxBatch: 500, gather: 'io', gatherTurns: 4 },
  );
  const fixture = await snsFixture();
  try {
    for (const version of ['2', '1'] as const) {
      const bodies = Array.from({ length: MESSAGES }, (_, i) =>
        JSON.stringify(
          signedNotification(fixture, {
            topicArn: TOPIC,
            version,
            subject: 'Price List Update',
            message: JSON.stringify({ formatVersion: 'v1.0', offerCode: `Offer${i}`, currencyCode: 'USD' }),
          }),
        ),
      );
      const library = new SnsPayloadValidator({ useCache: true, requestAgent: fixture.agent });
      const verifier = new SnsVerifier({ topics: [TOPIC], requestAgent: fixture.agent });
      const source = new SnsSource({
        name: 'price-list',
        topics: [TOPIC],
        maxAgeSeconds: 3600,
        maxBodyBytes: 256 * 1024,
        requestAgent: fixture.agent,
      });
      const gateway = new Gateway({
        sources: [source],
        store: (item) => commit.submit(item),
        logger: createLogger({ level: 'silent' }),
      });
      const header = (name: string) => (name === 'x-amz-sns-message-type' ? 'Notification' : undefined);
      // Warm-up: the certificate fetched and cached by each, the code paths compiled.
      for (const body of bodies.slice(0, 200)) {
        await library.validate(JSON.parse(body));
        await verifier.verify(body, header);
      }
      await verifyAndStore(bodies.slice(0, 1000), gateway, source, header);
      await db.query(`DELETE FROM chronops.gateway_inbox`);
      const rates: Record<'library' | 'chronops' | 'stored', number[]> = {
        library: [],
        chronops: [],
        stored: [],
      };
      let rows = 0;
      for (const list of Object.values(cpuRates)) list.length = 0;
      for (let round = 0; round < ROUNDS; round++) {
        rates.library.push(
          await timed(async () => {
            // The library is handed the parsed payload, as its README shows; chronops parses the raw body itself.
            for (const body of bodies) await library.validate(JSON.parse(body));
          }, 'library'),
        );
        rates.chronops.push(
          await timed(async () => {
            for (const body of bodies) await verifier.verify(body, header);
          }, 'chronops'),
        );
        rates.stored.push(await timed(() => verifyAndStore(bodies, gateway, source, header), 'stored'));
        const [{ n } = { n: 0 }] = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM chronops.gateway_inbox WHERE source = 'price-list'`,
        );
        rows += n;
        // The same messages come again next round: as new deliveries, not redeliveries.
        await db.query(`DELETE FROM chronops.gateway_inbox`);
      }
      const lib = median(rates.library);
      const ours = median(rates.chronops);
      const stored = median(rates.stored);
      console.log(
        JSON.stringify({
          signatureVersion: version,
          messages: MESSAGES,
          rounds: ROUNDS,
          certificateFetches: fixture.fetches(),
          libraryPerSecond: Math.round(lib),
          chronopsVerifyPerSecond: Math.round(ours),
          ratio: Number((ours / lib).toFixed(2)),
          verifiedAndStoredPerSecond: Math.round(stored),
          storedVsLibraryAlone: Number((stored / lib).toFixed(2)),
          rowsStored: rows,
          // Per CPU-second of this process (PGlite runs in it): what the code costs, whatever the others' load.
          perCpuSecond: {
            library: Math.round(median(cpuRates.library!)),
            chronops: Math.round(median(cpuRates.chronops!)),
            stored: Math.round(median(cpuRates.stored!)),
          },
          allRounds: {
            library: rates.library.map(Math.round),
            chronops: rates.chronops.map(Math.round),
            stored: rates.stored.map(Math.round),
          },
        }),
      );
    }
  } finally {
    await fixture.close();
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
