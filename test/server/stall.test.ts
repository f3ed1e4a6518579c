/**
 * Slow-loris: 200 sockets that stall before key exchange are dropped after loginGraceSeconds, while
 * a real user still logs in meanwhile; and an authenticated connection that stays idle is ended,
 * but not one whose exec sha512sum is hashing a large file (it sends nothing meanwhile).
 */
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { connect as netConnect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { closed, connect, tryLogin } from '../support/ssh-clients.js';
import { startTestServer, type TestServer } from '../support/test-server.js';
import { homeDir } from '../../src/config/paths.js';
import { defaultRouter } from '../../src/server/routes.js';
import { waitFor } from '../support/wait.js';

const PW = 'stall-test-password';
const STALLED = 200;
const GRACE_S = 2;

describe('stalled and idle connections', () => {
  let ts: TestServer;
  before(async () => {
    // Caps raised so all 200 from one address stay until the grace timer (hardening-auth tests the caps).
    ts = await startTestServer({
      settings: { loginGraceSeconds: GRACE_S, idleTimeoutSeconds: 1, maxConnections: 500, maxConnectionsPerIp: 500, maxStartups: 500, maxStartupsPerIp: 500, logLevel: 'info' },
      router: defaultRouter(),
    });
    await ts.addUser('alice', { password: PW });
  });
  after(() => ts.close());

  it(`drops ${STALLED} sockets stalled before key exchange after the grace time; a real user still logs in`, async () => {
    const started = Date.now();
    const closedAt: number[] = [];
    const sockets = await Promise.all(
      Array.from({ length: STALLED }, (_, i) =>
        stalledSocket(ts.port, i % 2 === 0 ? '' : 'SSH-2.0-slowloris\r\n').then((s) => {
          s.once('close', () => closedAt.push(Date.now() - started));
          return s;
        }),
      ),
    );
    // While they hang, a real user gets in (from another address than the flood, as in life).
    const t0 = Date.now();
    assert.equal(await tryLogin(ts.port, { username: 'alice', password: PW, localAddress: '127.0.0.9' }), 'ok');
    assert.ok(Date.now() - t0 < GRACE_S * 1000, 'the login did not wait for the stalled sockets');
    await waitFor(() => closedAt.length === STALLED, (GRACE_S + 5) * 1000, 'every stalled socket to be dropped');
    const first = Math.min(...closedAt);
    const last = Math.max(...closedAt);
    assert.ok(first >= GRACE_S * 1000 - 300, `none dropped before the grace time (first at ${first} ms)`);
    assert.ok(last <= GRACE_S * 1000 + 3000, `all dropped soon after it (last at ${last} ms)`);
    assert.ok(ts.logs.events('connection.timeout').length >= STALLED);
    for (const s of sockets) s.destroy();
  });

  it('ends an authenticated connection that stays idle for idleTimeoutSeconds', async () => {
    const client = await connect(ts.port, { username: 'alice', password: PW });
    const t0 = Date.now();
    await closed(client);
    const after = Date.now() - t0;
    assert.ok(after >= 900 && after < 4000, `closed after ${after} ms, idleTimeoutSeconds is 1`);
    await ts.logs.waitFor('session.idle', { user: 'alice' });
  });

  it('keeps a connection whose exec sha512sum hashes a file for longer than idleTimeoutSeconds', async (t) => {
    // 1 GiB of holes: nothing on disk, 1.5-4 s of sha512 on the server's hash worker, during which
    // the channel carries nothing. Before, the watchdog took that for idleness and cut it.
    const big = await open(join(homeDir(ts.config.paths, 'alice'), 'big.sparse'), 'w');
    await big.truncate(1024 ** 3);
    await big.close();
    const client = await connect(ts.port, { username: 'alice', password: PW });
    try {
      const t0 = Date.now();
      const out = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
        client.exec('sha512sum big.sparse', (err, ch) => {
          if (err) return reject(err);
          let stdout = '';
          let code: number | null = null;
          ch.on('data', (d: Buffer) => (stdout += d));
          ch.stderr.resume();
          ch.on('exit', (c: number | null) => (code = c));
          ch.on('close', () => resolve({ code, stdout }));
        });
        client.once('close', () => reject(new Error('the connection was closed during the hash')));
      });
      const took = Date.now() - t0;
      assert.equal(out.code, 0);
      assert.match(out.stdout, /^[0-9a-f]{128} {2}big\.sparse\n$/);
      // Shorter than the idle timeout plus a watchdog tick, it proves nothing (a fast machine).
      if (took < 1600) t.skip(`the hash took only ${took} ms`);
    } finally {
      client.end();
    }
  });
});

function stalledSocket(port: number, sendFirst: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = netConnect({ host: '127.0.0.1', port }, () => {
      if (sendFirst) sock.write(sendFirst);
      resolve(sock);
    });
    sock.on('error', reject);
    sock.on('data', () => {});
  });
}
