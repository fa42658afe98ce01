import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/kernel/logger.ts';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { lines, destination };
}

describe('logger redaction', () => {
  it('scrubs configured secret values wherever they appear, and secret fields by name', () => {
    // Prepare
    const { lines, destination } = capture();
    const logger = createLogger({ level: 'info', secrets: ['s3cr3t-db-password'], destination });
    // Act
    logger.info(
      { request: { headers: { authorization: 'Bearer abc' } }, db: { password: 'x' } },
      'connecting',
    );
    logger.error(
      { err: new Error('auth failed for postgres://u:s3cr3t-db-password@db/chronops') },
      'db down',
    );
    // Assess
    const out = lines.join('');
    assert.doesNotMatch(out, /s3cr3t-db-password/);
    assert.doesNotMatch(out, /Bearer abc/);
    assert.match(out, /postgres:\/\/u:\[redacted\]@db/);
    assert.equal(JSON.parse(lines[0]!).db.password, '[redacted]');
  });
});
