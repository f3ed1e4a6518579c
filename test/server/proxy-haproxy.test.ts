/**
 * HAProxy 2.6 in front of Coffer (optional: skipped with a message when `haproxy` is not
 * installed). One frontend per PROXY version (send-proxy-v2, send-proxy), each with a health check
 * that waits for the SSH banner; HAProxy 2.6 sends a LOCAL header with it (v2), or a PROXY line
 * naming itself (v1: its own getsockname/getpeername, as the spec recommends). A client behind
 * HAProxy logs in and is logged under its own address; the checks never cause a refusal. (A bare
 * `check` connects and resets at once: the socket then has no peer address left when Node accepts
 * it, so it is handled as an unlisted one that closed; quiet, nothing to assert.) The full deployment test
 * (several nodes, PostgreSQL) lives elsewhere.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect } from '../support/ssh-clients.js';
import { startTestServer, type TestServer } from '../support/test-server.js';
import { waitFor } from '../support/wait.js';
import { accepts } from '../support/cluster.js';
import { freePort } from '../support/ports.js';

const PW = 'haproxy-pw';
const CLIENT = '127.0.0.9';
const haveHaproxy = spawnSync('haproxy', ['-v'], { stdio: 'ignore' }).status === 0;
if (!haveHaproxy) console.log('# proxy-haproxy: skipped: no `haproxy` on PATH (Debian: apt-get install haproxy)');

describe('behind HAProxy', { skip: haveHaproxy ? false : 'haproxy is not installed' }, () => {
  let ts: TestServer;
  let haproxy: ChildProcess;
  let stderr = '';
  const ports = { v2: 0, v1: 0 };
  before(async () => {
    ts = await startTestServer({ settings: { proxyProtocol: '127.0.0.1' } });
    await ts.addUser('alice', { password: PW });
    ports.v2 = await freePort();
    ports.v1 = await freePort();
    const backend = `127.0.0.1:${ts.port}`;
    const cfg = [
      'global',
      '  maxconn 100',
      'defaults',
      '  mode tcp',
      '  timeout connect 5s',
      '  timeout client 30s',
      '  timeout server 30s',
      `frontend v2`,
      `  bind 127.0.0.1:${ports.v2}`,
      '  default_backend coffer_v2',
      'backend coffer_v2',
      '  option tcp-check',
      '  tcp-check expect rstring ^SSH-2\\.0-',
      `  server node1 ${backend} send-proxy-v2 check inter 300ms source 127.0.0.1`,
      `frontend v1`,
      `  bind 127.0.0.1:${ports.v1}`,
      '  default_backend coffer_v1',
      'backend coffer_v1',
      '  option tcp-check',
      '  tcp-check expect rstring ^SSH-2\\.0-',
      `  server node1 ${backend} send-proxy check inter 300ms source 127.0.0.1`,
      '',
    ].join('\n');
    const file = join(ts.root, 'haproxy.cfg');
    await writeFile(file, cfg);
    haproxy = spawn('haproxy', ['-f', file, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] });
    haproxy.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    await waitFor(async () => (await accepts(ports.v2)) && (await accepts(ports.v1)), 10_000, `haproxy to listen (stderr: ${stderr})`);
  });
  after(async () => {
    if (haproxy && haproxy.exitCode === null) {
      const exited = new Promise((resolve) => haproxy.once('exit', resolve));
      haproxy.kill('SIGTERM');
      await exited;
    }
    await ts?.close();
  });

  for (const version of ['v2', 'v1'] as const) {
    it(`send-proxy${version === 'v2' ? '-v2' : ''}: the client's own address is logged, with HAProxy as via`, async () => {
      const client = await connect(ports[version], { username: 'alice', password: PW, localAddress: CLIENT });
      client.end();
      const auth = await ts.logs.waitFor('auth.success', { address: CLIENT, via: '127.0.0.1' });
      assert.ok(Number(auth.port) > 0);
    });
  }

  it('health checks get the banner and are never refused', async () => {
    await waitFor(() => ts.logs.events('proxy.header', { address: '127.0.0.1', command: 'LOCAL', version: 2 }).length >= 2, 10_000, 'v2 health checks');
    await waitFor(() => ts.logs.events('proxy.header', { address: '127.0.0.1', version: 1 }).length >= 2, 10_000, 'v1 health checks');
    const refused = ts.logs.events('proxy.refused');
    assert.deepEqual(refused, [], `refusals: ${JSON.stringify(refused)}`);
  });
});
