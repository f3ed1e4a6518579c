/**
 * Slow-loris: 200 sockets that stall before key exchange are dropped after loginGraceSeconds, while
 * a real user still logs in meanwhile; and an authenticated connection that stays idle is ended.
 */
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { closed, connect, tryLogin } from '../support/ssh-clients.js';
import { startTestServer, type TestServer } from '../support/test-server.js';
import { waitFor } from '../support/wait.js';

const PW = 'stall-test-password';
const STALLED = 200;
const GRACE_S = 2;

describe('stalled and idle connections', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer({
      settings: { loginGraceSeconds: GRACE_S, idleTimeoutSeconds: 1, maxConnections: 500, maxConnectionsPerIp: 500, logLevel: 'info' },
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
