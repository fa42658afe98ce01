// LISTEN/NOTIFY between the servers that share one PostgreSQL database: what one server publishes on a channel,
// the others hear. The live page relays its events this way (src/web/live.ts); a front server tells the servers
// running the work that deliveries are waiting (src/hosts/server.ts).

import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Logger } from '../kernel/logger.ts';

/**
 * One channel: a dedicated connection listens on it; each message is published with pg_notify. A server does not
 * hear its own messages (skipped by this channel's id, not the node name: two servers may run in one process, as in
 * tests). The connection is re-opened after a failure (messages in between are lost: use it for hints and
 * summaries, never for the only copy of anything).
 */
export class PgNotifyChannel<T> {
  private readonly options: {
    connectionString: string;
    /** Cut to PostgreSQL's 63 characters. */
    channel: string;
    logger: Logger;
    /** What the other servers publish (none: this server only publishes, and opens no listening connection). */
    onMessage?: (message: T) => void;
    /** Makes a message fit NOTIFY's 8000 bytes before it is sent (none: sent as it is). */
    fit?: (message: T) => T;
  };
  /** This channel's id: its own notifications come back to it and are skipped. */
  private readonly id = randomUUID();
  private client?: pg.Client;
  private publisher?: pg.Pool;
  private stopped = false;
  private retry?: NodeJS.Timeout;
  readonly channel: string;

  constructor(options: PgNotifyChannel<T>['options']) {
    this.options = options;
    this.channel = options.channel.slice(0, 63);
  }

  async start(): Promise<void> {
    this.publisher = new pg.Pool({
      connectionString: this.options.connectionString,
      max: 1,
      idleTimeoutMillis: 10_000,
      application_name: 'chronops-notify',
    });
    this.publisher.on('error', () => {});
    if (!this.options.onMessage) return;
    await this.listen().catch((error) => {
      this.options.logger.warn(
        { err: error, channel: this.channel },
        'notify: cannot listen yet; trying again',
      );
      this.listenLater();
    });
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.options.connectionString,
      application_name: 'chronops-notify',
    });
    client.on('notification', (message) => {
      if (message.channel !== this.channel || !message.payload) return;
      try {
        const { from, item } = JSON.parse(message.payload) as { from: string; item: T };
        if (from !== this.id) this.options.onMessage?.(item);
      } catch {
        // Not one of ours.
      }
    });
    client.on('error', (error) => {
      this.options.logger.warn(
        { err: error, channel: this.channel },
        'notify: connection lost; reconnecting',
      );
      this.lost(client);
    });
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN "${this.channel.replace(/"/g, '""')}"`);
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    if (this.stopped) await client.end();
    else this.client = client;
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    client.end().catch(() => {});
    this.listenLater();
  }

  private listenLater(): void {
    if (this.stopped || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.listen().catch((error) => {
        this.options.logger.warn(
          { err: error, channel: this.channel },
          'notify: could not reconnect; trying again',
        );
        this.listenLater();
      });
    }, 1000);
  }

  publish(message: T): void {
    if (this.stopped || !this.publisher) return;
    const item = this.options.fit ? this.options.fit(message) : message;
    const payload = JSON.stringify({ from: this.id, item });
    this.publisher.query('SELECT pg_notify($1, $2)', [this.channel, payload]).catch((error: unknown) => {
      this.options.logger.warn({ err: error, channel: this.channel }, 'notify: could not publish');
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
    await this.publisher?.end().catch(() => {});
  }
}
