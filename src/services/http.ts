// One HTTP request of the service caller, on undici (Node's own HTTP client, the one under fetch): keep-alive
// connections per origin, one undici Client each, and the request dispatched with a plain handler — no
// ClientRequest, no stream objects per call. A burst of a thousand job calls costs the client about 2.5× less CPU
// than it did on node:http with a keep-alive agent (docs/benchmarks.md, "HTTP jobs").
//
// Not undici's Pool: it looks through all its clients for a free one on every request (a burst of 1,000 calls
// over 1,000 connections: half a million looks, ~30 ms of the burst), and it connects a client only once a
// request waits for it — so a burst's first requests waited for hundreds of connects at their second. Here the
// free clients are a stack, and `warm` connects them ahead of a burst.
import { buildConnector, Client, type Dispatcher } from 'undici';
import { whenAborted } from './abort.ts';

export interface WireAnswer {
  status: number;
  /** The body, cut to `maxChars`. */
  text: string;
}

export class WireTimeout extends Error {
  override readonly name = 'WireTimeout';
}
export class WireAborted extends Error {
  override readonly name = 'WireAborted';
}

/** Most of a body read (the rest is drained and dropped). */
const MAX_READ_BYTES = 1024 * 1024;

/**
 * Connects an undici Client before any request: the Client's own connect step, which undici runs when a request
 * waits and exposes under a symbol only (a public one is asked for in nodejs/undici#317). Undefined if a version of
 * undici has it no more: `warm` then makes the clients without connecting them (the burst connects them; slower,
 * not wrong), and test/services/caller.test.ts' "prepare" test fails to say so.
 */
const connectAhead: ((client: Client) => Promise<void>) | undefined = (() => {
  const symbol = Object.getOwnPropertySymbols(Client.prototype).find((s) => s.description === 'connect');
  const method = symbol ? (Client.prototype as unknown as Record<symbol, unknown>)[symbol] : undefined;
  if (typeof method !== 'function') return undefined;
  return (client: Client) =>
    new Promise<void>((resolve) => {
      const done = () => {
        client.off('connect', done);
        client.off('connectionError', done);
        resolve();
      };
      client.on('connect', done);
      client.on('connectionError', done);
      (method as (this: Client, cb: () => void) => void).call(client, () => {});
    });
})();

type Queued = [Dispatcher.DispatchOptions, Dispatcher.DispatchHandler];

/** An origin's clients (at most `max`, one connection each): the free ones on a stack, the waiting requests in a queue. */
class OriginPool {
  readonly #origin: string;
  readonly #max: number;
  readonly #connect = buildConnector({ allowH2: false });
  readonly #clients: Client[] = [];
  readonly #free: Client[] = [];
  readonly #waiting: Queued[] = [];

  constructor(url: URL, max: number) {
    this.#origin = url.origin;
    this.#max = Math.max(1, max);
  }

  #client(): Client {
    const client = new Client(this.#origin, {
      pipelining: 1,
      allowH2: false,
      // The caller's own timer is the request's time limit (a job's timeout may be longer than undici's 300 s).
      headersTimeout: 0,
      bodyTimeout: 0,
      keepAliveTimeout: 60_000,
      connect: this.#connect,
    });
    this.#clients.push(client);
    return client;
  }

  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): void {
    const client = this.#free.pop() ?? (this.#clients.length < this.#max ? this.#client() : undefined);
    if (client) this.#run(client, options, handler);
    else this.#waiting.push([options, handler]);
  }

  /** Sends on `client`; when the answer is over (or failed), the client takes the next waiting request or is free. */
  #run(client: Client, options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): void {
    let over = false;
    const release = () => {
      if (over) return;
      over = true;
      const next = this.#waiting.shift();
      if (next) this.#run(client, next[0], next[1]);
      else this.#free.push(client);
    };
    try {
      client.dispatch(options, {
        onRequestStart: (c, context) => handler.onRequestStart?.(c, context),
        onRequestSent: () => handler.onRequestSent?.(),
        onResponseStart: (c, status, headers, text) => handler.onResponseStart?.(c, status, headers, text),
        onResponseData: (c, chunk) => handler.onResponseData?.(c, chunk),
        onResponseEnd: (c, trailers) => {
          release();
          handler.onResponseEnd?.(c, trailers);
        },
        onResponseError: (c, error) => {
          release();
          handler.onResponseError?.(c, error);
        },
      });
    } catch (error) {
      release();
      throw error;
    }
  }

  /** Makes and connects clients until `n` (at most the limit) exist; resolves when they are connected. */
  async warm(n: number): Promise<void> {
    const made: Client[] = [];
    while (this.#clients.length < Math.min(n, this.#max)) {
      const client = this.#client();
      made.push(client);
      this.#free.push(client);
    }
    if (connectAhead) await Promise.all(made.map((c) => connectAhead(c)));
  }

  close(): void {
    for (const client of this.#clients.splice(0)) void client.destroy().catch(() => {});
    this.#free.length = 0;
    for (const [, handler] of this.#waiting.splice(0)) {
      handler.onResponseError?.(
        undefined as unknown as Dispatcher.DispatchController,
        new WireAborted('the HTTP client was closed'),
      );
    }
  }
}

export class HttpSender {
  readonly #pools = new Map<string, OriginPool>();

  #pool(url: URL, maxSockets: number): OriginPool {
    let pool = this.#pools.get(url.origin);
    if (!pool) {
      pool = new OriginPool(url, maxSockets);
      this.#pools.set(url.origin, pool);
    }
    return pool;
  }

  /** Opens up to `n` connections to `url`'s origin ahead of a burst (at most `maxSockets` in all). */
  async warm(url: URL, n: number, maxSockets: number): Promise<void> {
    await this.#pool(url, maxSockets).warm(n);
  }

  /**
   * Sends the request; resolves with the answer, rejects with WireTimeout (no answer within `timeoutMs`),
   * WireAborted (`signal`), or the connection's error (its `code`: ECONNREFUSED, UND_ERR_SOCKET…). `onSent` is
   * called once the request is written to its connection (not when it is handed to the pool: it may wait there for
   * a connection), so that a job's lateness is the time its request left.
   */
  send(
    url: URL,
    o: {
      method: string;
      headers: Readonly<Record<string, string>>;
      body: string;
      timeoutMs: number;
      maxSockets: number;
      signal?: AbortSignal;
      onSent?: () => void;
    },
  ): Promise<WireAnswer> {
    return new Promise<WireAnswer>((resolve, reject) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      let controller: Dispatcher.DispatchController | undefined;
      let forget: (() => void) | undefined;
      let stop: Error | undefined;
      const done = (error: Error | undefined, answer?: WireAnswer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        forget?.();
        if (error) reject(error);
        else resolve(answer!);
      };
      // Ends the request (its connection is closed) and settles the call with `error`.
      const end = (error: Error) => {
        stop = error;
        done(error);
        if (controller && !controller.aborted) controller.abort(error);
      };
      if (o.signal?.aborted) return done(new WireAborted('aborted'));
      timer = setTimeout(() => end(new WireTimeout(`no answer within ${o.timeoutMs} ms`)), o.timeoutMs);
      if (o.signal) forget = whenAborted(o.signal, () => end(new WireAborted('aborted')));
      let status = 0;
      const chunks: Buffer[] = [];
      let size = 0;
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart(c) {
          controller = c;
          // Timed out or aborted while it waited for a connection: it is not sent.
          if (stop) c.abort(stop);
        },
        onRequestSent() {
          o.onSent?.();
        },
        onResponseStart(_c, statusCode) {
          status = statusCode;
        },
        onResponseData(_c, chunk) {
          if (size < MAX_READ_BYTES) chunks.push(chunk);
          size += chunk.length;
        },
        onResponseEnd() {
          done(undefined, { status, text: Buffer.concat(chunks).toString('utf8') });
        },
        onResponseError(_c, error) {
          done(error);
        },
      };
      try {
        this.#pool(url, o.maxSockets).dispatch(
          {
            path: url.pathname + url.search,
            method: o.method,
            headers: o.headers as Record<string, string>,
            body: o.body || null,
          },
          handler,
        );
      } catch (error) {
        // Refused before it was sent (a header value undici does not accept).
        end(error as Error);
      }
    });
  }

  close(): void {
    for (const pool of this.#pools.values()) pool.close();
    this.#pools.clear();
  }
}
