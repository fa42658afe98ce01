// Runs `chronops serve` as a real child process (the README's way), for crash and multi-server tests.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';

const bin = new URL('../../bin/chronops.js', import.meta.url).pathname;
const fault = new URL('./fault.ts', import.meta.url).href;

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
  /** Resolves when the process has exited (e.g. killed itself at a fault point). */
  exited: Promise<void>;
  /** SIGKILL: no shutdown, no cleanup, like a crashed VM. */
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

export function writeConfig(config: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'chronops-test-'));
  const path = join(dir, 'chronops.yaml');
  writeFileSync(path, stringify(config));
  return path;
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'chronops-data-'));
}

/** Starts `chronops serve --config path` and resolves once it listens (or rejects with its output). */
export function startServer(
  configPath: string,
  env: Record<string, string> = {},
  timeoutMs = 120_000,
  options: { faults?: boolean } = {},
): Promise<ServerProcess> {
  // `faults`: load the test-only hook (test/support/fault.ts: shared simulated AWS, kill points).
  const pre = options.faults ? ['--import', fault] : [];
  const child = spawn(process.execPath, [...pre, bin, 'serve', '--config', configPath], {
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const server = (url: string): ServerProcess => ({
    child,
    url,
    exited,
    output: () => out,
    kill9: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`chronops did not start within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const onData = () => {
      const m = /chronops listening on (http:\/\/[^"\s]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(server(m[1]!));
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(
        Object.assign(new Error(`chronops exited (${code ?? signal}) before listening:\n${out}`), {
          output: out,
          code,
        }),
      );
    });
  });
}

// biome-ignore lint/suspicious/noExplicitAny: tests read JSON answers loosely
export async function api<T = any>(
  url: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', 'x-chronops-actor': 'tester' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as T };
}
