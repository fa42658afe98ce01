// On a Node.js too old to run TypeScript, `chronops` (and so `npm start`) says in one line which Node it needs
// and how to get it, instead of Node's "bad option: --experimental-strip-types".
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';

const bin = new URL('../../bin/chronops.js', import.meta.url).pathname;
// The machine's own Node (20 on the team's machines); the suite itself runs on 24.
const oldNode = ['/usr/bin/node', '/usr/local/bin/node'].find((p) => {
  if (!existsSync(p)) return false;
  const v = spawnSync(p, ['--version'], { encoding: 'utf8' }).stdout.trim();
  return /^v(1\d|20|21)\./.test(v);
});

describe('bin/chronops.js on an old Node', () => {
  it('prints one line naming the Node it needs and how to get it, exit 1', { skip: !oldNode }, () => {
    const r = spawnSync(oldNode!, [bin, 'serve', '--config', 'examples/chronops.yaml'], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    assert.equal(r.status, 1);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^chronops needs Node\.js 22\.22\+ or 24\.6\+ \(this is v\d+\.\d+\.\d+\)/);
    assert.match(lines[0]!, /nodejs\.org|nvm install 24/);
    assert.doesNotMatch(r.stderr, /bad option/);
  });
});
