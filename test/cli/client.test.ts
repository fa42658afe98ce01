// Where the CLI finds the server: --server, CHRONOPS_URL, the config file's server.host/port (--config or
// CHRONOPS_CONFIG), PORT — in that order; a config file it cannot use is a clear message.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CliError, serverUrl } from '../../src/cli/client.ts';
import { writeConfig } from '../support/process.ts';

describe('CLI: the server URL', () => {
  const config = writeConfig({ server: { host: '127.0.0.2', port: 4567 } });

  it('reads server.host and server.port of --config, or of CHRONOPS_CONFIG', () => {
    assert.equal(serverUrl({ config }, {}), 'http://127.0.0.2:4567');
    assert.equal(serverUrl({}, { CHRONOPS_CONFIG: config }), 'http://127.0.0.2:4567');
    assert.equal(serverUrl({}, { CHRONOPS_CONFIG: config, PORT: '9' }), 'http://127.0.0.2:4567');
  });

  it('--server and CHRONOPS_URL come first; PORT last', () => {
    assert.equal(serverUrl({ server: 'http://a:1', config }, { CHRONOPS_URL: 'http://b:2' }), 'http://a:1');
    assert.equal(serverUrl({ config }, { CHRONOPS_URL: 'http://b:2' }), 'http://b:2');
    assert.equal(serverUrl({}, { PORT: '3100' }), 'http://127.0.0.1:3100');
    assert.equal(serverUrl({}, {}), 'http://127.0.0.1:3000');
  });

  it('a server on every address is reached on loopback; defaults when server: is absent', () => {
    assert.equal(
      serverUrl({ config: writeConfig({ server: { host: '0.0.0.0', port: 8080 } }) }, {}),
      'http://127.0.0.1:8080',
    );
    assert.equal(serverUrl({ config: writeConfig({ timezone: 'UTC' }) }, {}), 'http://127.0.0.1:3000');
    assert.equal(
      serverUrl({ config: writeConfig({ server: { host: '::1', port: 81 } }) }, {}),
      'http://[::1]:81',
    );
  });

  it('a missing file or a bad port is a clear error', () => {
    assert.throws(
      () => serverUrl({ config: '/nonexistent/chronops.yaml' }, {}),
      (e: Error) =>
        e instanceof CliError && /cannot read the config file \/nonexistent\/chronops.yaml/.test(e.message),
    );
    assert.throws(
      () => serverUrl({ config: writeConfig({ server: { port: 'x' } }) }, {}),
      /server.port must be a port number/,
    );
  });
});
