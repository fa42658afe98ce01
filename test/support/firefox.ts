// Firefox driven over WebDriver BiDi (its built-in remote protocol) with Node's own WebSocket. playwright-core
// cannot drive a stock Firefox (it needs its own patched build, and its BiDi mode asks this ESR for commands it
// does not have), so the few things the Firefox test needs are done here: navigate, evaluate, screenshot, and
// collect JavaScript errors. Debian's `firefox-esr` is used when installed (FIREFOX_PATH overrides).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const FIREFOX = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';

export function firefoxMissing(): string | false {
  return existsSync(FIREFOX) ? false : `no Firefox at ${FIREFOX} (apt-get install -y firefox-esr)`;
}

export interface Firefox {
  /** Errors the page threw or logged. */
  errors: string[];
  navigate(url: string): Promise<void>;
  /** Evaluates an expression (or `async () => …` body called) in the page and returns its JSON value. */
  evaluate<T>(expression: string): Promise<T>;
  /** Polls `expression` until it is truthy. */
  waitFor(expression: string, timeoutMs?: number, what?: string): Promise<void>;
  screenshot(path: string): Promise<void>;
  close(): Promise<void>;
}

interface BidiResult {
  id?: number;
  type?: string;
  method?: string;
  result?: Record<string, unknown>;
  error?: string;
  message?: string;
  params?: Record<string, unknown>;
}

export async function openFirefox(viewport = { width: 1440, height: 1000 }): Promise<Firefox> {
  const profile = mkdtempSync(join(tmpdir(), 'chronops-firefox-'));
  // No first-run pages, no updates, no telemetry: a quiet browser that only talks to the page under test.
  writeFileSync(
    join(profile, 'user.js'),
    [
      'user_pref("browser.shell.checkDefaultBrowser", false);',
      'user_pref("app.update.disabledForTesting", true);',
      'user_pref("datareporting.policy.dataSubmissionEnabled", false);',
      'user_pref("toolkit.telemetry.reportingpolicy.firstRun", false);',
      'user_pref("browser.startup.homepage_override.mstone", "ignore");',
      'user_pref("network.captive-portal-service.enabled", false);',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(
    FIREFOX,
    ['--headless', '--no-remote', '--profile', profile, '--remote-debugging-port', '0', 'about:blank'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`Firefox did not start:\n${out}`)), 30_000);
    const read = (chunk: Buffer) => {
      out += chunk.toString();
      const m = /WebDriver BiDi listening on (ws:\/\/[^\s]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout?.on('data', read);
    child.stderr?.on('data', read);
    child.once('exit', (code) => reject(new Error(`Firefox exited (${code}):\n${out}`)));
  });

  const ws = new WebSocket(`${url.replace(/\/$/, '')}/session`);
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener('open', () => resolve(), { once: true });
    ws.addEventListener('error', () => reject(new Error(`cannot connect to ${url}`)), { once: true });
  });
  let nextId = 1;
  const waiting = new Map<number, { resolve: (r: BidiResult) => void; reject: (e: Error) => void }>();
  const errors: string[] = [];
  ws.addEventListener('message', (message) => {
    const data = JSON.parse(String(message.data)) as BidiResult;
    if (data.id !== undefined && waiting.has(data.id)) {
      const w = waiting.get(data.id)!;
      waiting.delete(data.id);
      if (data.type === 'error') w.reject(new Error(`${data.error}: ${data.message}`));
      else w.resolve(data);
      return;
    }
    if (data.method === 'log.entryAdded') {
      const entry = data.params as { level?: string; text?: string; type?: string };
      if (entry.level === 'error') errors.push(`${entry.type}: ${entry.text}`);
    }
  });
  const send = (method: string, params: Record<string, unknown>) =>
    new Promise<BidiResult>((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });

  await send('session.new', { capabilities: {} });
  await send('session.subscribe', { events: ['log.entryAdded'] });
  const tree = await send('browsingContext.getTree', {});
  const contexts = (tree.result?.contexts ?? []) as Array<{ context: string }>;
  const context = contexts[0]!.context;
  await send('browsingContext.setViewport', { context, viewport });

  const evaluate = async <T>(expression: string): Promise<T> => {
    const r = await send('script.evaluate', {
      expression: `(async () => JSON.stringify(await (${expression})))()`,
      target: { context },
      awaitPromise: true,
    });
    const result = r.result as {
      type: string;
      result?: { value?: string };
      exceptionDetails?: { text?: string };
    };
    if (result.type === 'exception') throw new Error(`in the page: ${result.exceptionDetails?.text}`);
    const value = result.result?.value;
    return (value === undefined ? undefined : JSON.parse(value)) as T;
  };

  return {
    errors,
    navigate: async (target) => {
      await send('browsingContext.navigate', { context, url: target, wait: 'complete' });
    },
    evaluate,
    waitFor: async (expression, timeoutMs = 10_000, what = expression) => {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (await evaluate<boolean>(`Boolean(${expression})`)) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`Firefox: timed out waiting for ${what}`);
    },
    screenshot: async (path) => {
      const r = await send('browsingContext.captureScreenshot', { context });
      writeFileSync(path, Buffer.from(String(r.result?.data), 'base64'));
    },
    close: async () => {
      await send('session.end', {}).catch(() => {});
      ws.close();
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
