#!/usr/bin/env node
// chronops is written in TypeScript and run by Node's own type stripping (Node 22.18+ and 24 do it by default;
// Node 22.12–22.17 need the flag, so this shim starts a child with it there).
import { spawnSync } from 'node:child_process';

if (process.features.typescript) {
  await import('../src/cli/main.ts');
} else {
  const result = spawnSync(
    process.execPath,
    [
      '--experimental-strip-types',
      '--no-warnings=ExperimentalWarning',
      new URL(import.meta.url).pathname,
      ...process.argv.slice(2),
    ],
    { stdio: 'inherit' },
  );
  process.exit(result.status ?? 1);
}
