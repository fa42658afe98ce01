#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=16
// The first line bounds the server's memory where only the start can (docs/gateway.md, "Bounded heaps"): the main
// thread's young generation, which V8 otherwise sizes from the machine's memory (up to 128 MB), and glibc's malloc
// arenas (one per thread by default; two keep ~25 MB less resident under a storm). A server started as
// `chronops serve` or `npx chronops serve` has both; `node bin/chronops.js` needs them given (npm start gives the
// node option).
// chronops is written in TypeScript and run by Node's own type stripping (Node 22.18+ and 24 do it by default;
// Node 22.12–22.17 need the flag, so this shim starts a child with it there).
import { spawnSync } from 'node:child_process';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12) || major === 23 || (major === 24 && minor < 6)) {
  // Older Nodes cannot run TypeScript at all ("bad option: --experimental-strip-types"): say what to do instead.
  console.error(
    `chronops needs Node.js 22.22+ or 24.6+ (this is ${process.version}): install it from https://nodejs.org or with \`nvm install 24\`, then run chronops with it.`,
  );
  process.exit(1);
}
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
