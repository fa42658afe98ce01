// One HTTP request of the service caller, on undici (Node's own HTTP client, the one under fetch): a pool of
// keep-alive connections per origin, and the request dispatched with a plain handler — no ClientRequest, no
// stream objects per call. A burst of a thousand job calls costs the client about 2.5× less CPU than it did on
// node:http with a keep-alive agent (docs/benchmarks.md, "HTTP jobs").
import net from 'node:net';
import { buildConnector, type Dispatcher, Pool } from 'undici';
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
 * An origin's pool, and connections opened ahead of a burst (`warm`, http: only): the pool's connector hands them
 * out before it opens any, so that a burst of calls due at one second does not open hundreds at that second.
 */
class OriginPool {
  readonly pool: Pool;
  readonly #url: URL;
  readonly #connections: number;
  readonly #ready: net.Socket[] = [];
  /** Connections the pool holds (opened or taken from `#ready`, not closed yet). */
  #open = 0;

  constructor(url: URL, connections: number) {
    this.#url = url;
    this.#connections = connections;
    const connect = buildConnector({ allowH2: false });
    this.pool = new Pool(url.origin, {
      connections,
      pipelining: 1,
      allowH2: false,
      // The caller's own timer is the request's time limit (a job's timeout may be longer than undici's 300 s).
      headersTimeout: 0,
      bodyTimeout: 0,
      keepAliveTimeout: 60_000,
      connect: (options, callback) => {
        const counted = (socket: net.Socket) => {
          this.#open += 1;
          socket.once('close', () => {
            this.#open -= 1;
          });
          return socket;
        };
        for (let socket = this.#ready.pop(); socket; socket = this.#ready.pop()) {
          if (!socket.destroyed && socket.readyState === 'open') {
            socket.removeAllListeners('close');
            socket.removeAllListeners('error');
            // Not at once: undici ignores a connection given back inside its own call of the connector.
            process.nextTick(callback, null, counted(socket));
            return;
          }
        }
        connect(options, (error, socket) => {
          if (error) callback(error, null);
          else callback(null, counted(socket!));
        });
      },
    });
  }

  /** Opens up to `n` connections beside the ones the pool has; resolves when they are open. */
  async warm(n: number): Promise<void> {
    if (this.#url.protocol !== 'http:') return;
    const count = Math.min(n, this.#connections) - this.#open - this.#ready.length;
    const port = Number(this.#url.port || 80);
    const host = this.#url.hostname.replace(/^\[|\]$/g, '');
    await Promise.all(
      Array.from(
        { length: Math.max(0, count) },
        () =>
          new Promise<void>((resolve) => {
            const socket = net.connect({ port, host });
            socket.setNoDelay(true);
            socket.setKeepAlive(true, 60_000);
            const drop = () => {
              const i = this.#ready.indexOf(socket);
              if (i >= 0) this.#ready.splice(i, 1);
              socket.destroy();
              resolve();
            };
            socket.once('connect', () => {
              socket.off('error', drop);
              // An idle one the service closes is dropped.
              socket.once('close', drop);
              socket.on('error', () => {});
              this.#ready.push(socket);
              resolve();
            });
            socket.once('error', drop);
          }),
      ),
    );
  }

  close(): void {
    for (const socket of this.#ready.splice(0)) socket.destroy();
    void this.pool.destroy().catch(() => {});
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
   * called once the request is handed to the connection pool.
   */
  send(
    url: URL,
    o: {
      method: string;
      headers: Record<string, string>;
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
        this.#pool(url, o.maxSockets).pool.dispatch(
          {
            path: url.pathname + url.search,
            method: o.method,
            headers: o.headers,
            body: o.body || null,
          },
          handler,
        );
      } catch (error) {
        // Refused before it was sent (a header value undici does not accept).
        end(error as Error);
        return;
      }
      o.onSent?.();
    });
  }

  close(): void {
    for (const pool of this.#pools.values()) pool.close();
    this.#pools.clear();
  }
}
