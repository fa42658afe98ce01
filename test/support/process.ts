// Runs `chronops serve` as a real child process (the README's way), for crash and multi-server tests.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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

const pgliteVersion = (
  JSON.parse(
    readFileSync(new URL('../../node_modules/@electric-sql/pglite/package.json', import.meta.url), 'utf8'),
  ) as { version: string }
).version;

/**
 * A new data directory holding a just-created embedded database (no tables yet): a copy of one made once by the
 * same step chronops takes on a first start (`pglite-thread.ts --initdb`), kept in the temp folder per PGlite
 * version. Creating it takes seconds and 1.1 GB for a moment (up to 50 s on a loaded 2-core machine); copying it
 * well under a second. For tests whose subject is not the first start; chronops still migrates it when it starts.
 */
export function preparedDataDir(): string {
  const template = join(tmpdir(), `chronops-test-initdb-${pgliteVersion}`);
  if (!existsSync(join(template, 'pglite', 'PG_VERSION'))) {
    const building = mkdtempSync(join(tmpdir(), 'chronops-test-initdb-building-'));
    const script = new URL('../../src/store/pglite-thread.ts', import.meta.url).pathname;
    execFileSync(process.execPath, [...process.execArgv, script, '--initdb', join(building, 'pglite')], {
      stdio: 'ignore',
      timeout: 180_000,
    });
    try {
      renameSync(building, template); // atomic: another test process may have made it meanwhile
    } catch {
      rmSync(building, { recursive: true, force: true });
    }
  }
  const dir = tempDir();
  cpSync(join(template, 'pglite'), join(dir, 'pglite'), { recursive: true });
  return dir;
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
