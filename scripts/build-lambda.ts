// npm run build:lambda — bundles the webhook gateway's Lambda handler (src/hosts/lambda-gateway.ts) with esbuild
// into dist/lambda-gateway/ (index.mjs and its chunks) and zips it (dist/lambda-gateway.zip, the handler `index.handler`): one file,
// every dependency inside (the AWS SDK client for SQS too, so the bundle does not depend on the runtime's copy).
// Put the config file beside index.mjs in the zip (CHRONOPS_CONFIG) when deploying.

import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'lambda-gateway');
const zip = join(root, 'dist', 'lambda-gateway.zip');
rmSync(out, { recursive: true, force: true });
rmSync(zip, { force: true });
mkdirSync(out, { recursive: true });

// @platformatic/kafka compiles the JSON-schema validators of every client (admin, consumer, producer, the schema
// registries) when it is loaded — about 0.5 s of CPU on the first delivery. Its modules have no other effect at
// load, so they are marked side-effect free: the validators of the clients the handler does not use are dropped.
const kafkaWithoutUnusedValidators: Plugin = {
  name: 'kafka-without-unused-validators',
  setup(b) {
    b.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === 'resolving' || !args.importer.includes('/@platformatic/kafka/'))
        return undefined;
      const resolved = await b.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: 'resolving',
      });
      if (resolved.errors.length > 0 || !resolved.path.includes('/@platformatic/kafka/dist/'))
        return undefined;
      return { path: resolved.path, sideEffects: false };
    });
  },
};

const result = await build({
  entryPoints: [join(root, 'src', 'hosts', 'lambda-gateway.ts')],
  outdir: out,
  entryNames: 'index',
  chunkNames: 'chunk-[hash]',
  outExtension: { '.js': '.mjs' },
  // The Kafka client and the SQS client in chunks of their own: a Lambda loads only the one it sends to, at its
  // first delivery.
  splitting: true,
  // ES module builds where a package has one (the AWS SDK): tree-shaken, and named exports across chunks.
  mainFields: ['module', 'main'],
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  minify: true,
  legalComments: 'none',
  metafile: true,
  // CommonJS dependencies call require() for Node's own modules: give the ES module one.
  banner: {
    js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  },
  logLevel: 'warning',
  // The Kafka client's CRC/varint helpers load a .wasm file beside their module; their `bundled` entry carries it
  // inline, which is what a one-file bundle needs.
  alias: { '@platformatic/wasm-utils': '@platformatic/wasm-utils/bundled' },
  plugins: [kafkaWithoutUnusedValidators],
});
execFileSync('zip', ['-q', '-9', '-r', zip, '.'], { cwd: out });
// Which chunk holds each sink's client (npm run bench:lambda times their load, what a first delivery adds).
const chunkOf = (needle: string) =>
  Object.entries(result.metafile.outputs)
    .find(([, o]) => Object.keys(o.inputs).some((path) => path.includes(needle)))?.[0]
    ?.split('/')
    .at(-1);
writeFileSync(
  join(root, 'dist', 'lambda-gateway.chunks.json'),
  `${JSON.stringify({ kafka: chunkOf('/@platformatic/kafka/'), sqs: chunkOf('@aws-sdk/client-sqs/') })}\n`,
);
const bundled = readdirSync(out).reduce((n, f) => n + statSync(join(out, f)).size, 0);
const zipped = statSync(zip).size;
const inputs = Object.values(result.metafile.outputs)
  .flatMap((o) => Object.entries(o.inputs))
  .map(
    ([path, i]) =>
      [
        path
          .replace(/^.*node_modules\//, '')
          .split('/')
          .slice(0, 2)
          .join('/'),
        i.bytesInOutput,
      ] as const,
  )
  .reduce((m, [pkg, n]) => m.set(pkg, (m.get(pkg) ?? 0) + n), new Map<string, number>());
const biggest = [...inputs.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8);
console.log(
  JSON.stringify(
    {
      bundle: `dist/lambda-gateway/ ${(bundled / 1024).toFixed(0)} KiB (${readdirSync(out).length} files)`,
      zip: `dist/lambda-gateway.zip ${(zipped / 1024).toFixed(0)} KiB (${zipped} bytes)`,
      largest: Object.fromEntries(biggest.map(([k, v]) => [k, `${(v / 1024).toFixed(0)} KiB`])),
    },
    null,
    2,
  ),
);
