/**
 * Abuse cases: maxAuthTries, bans (and their expiry, per address), connection caps, garbage instead
 * of an SSH banner, malformed packets, and channels with a max packet size of 0.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { authDriver } from '../support/auth-driver.js';
import { closed, connect, tryLogin, type SshClient } from '../support/ssh-clients.js';
import { startTestServer, type TestServer } from '../support/test-server.js';
import { once, waitFor } from '../support/wait.js';

const PW = 'pw-for-abuse-tests';

describe('failed logins: maxAuthTries and bans', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer({ settings: { maxAuthTries: 2, banThreshold: 3, banWindowSeconds: 60, banSeconds: 2 } });
    await ts.addUser('alice', { password: PW });
  });
  after(() => ts.close());

  it('disconnects after maxAuthTries failures on one connection', async () => {
    const d = await authDriver(ts.port, { username: 'alice', localAddress: '127.0.0.4' });
    const first = await d.attempt({ type: 'password', username: 'alice', password: 'bad1' });
    assert.equal(first.outcome, 'failure');
    await d.attempt({ type: 'password', username: 'alice', password: 'bad2' });
    await closed(d.client);
    await ts.logs.waitFor('auth.too-many-failures', { address: '127.0.0.4' });
    assert.equal(ts.logs.events('auth.failure', { address: '127.0.0.4' }).length, 2);
  });

  it('does not count `none` or successful logins as failures', async () => {
    for (let i = 0; i < 5; i++) {
      assert.equal(await tryLogin(ts.port, { username: 'alice', password: PW, localAddress: '127.0.0.3' }), 'ok');
    }
    assert.equal(ts.logs.events('ban', { address: '127.0.0.3' }).length, 0);
  });

  it('bans an address after banThreshold failures, lets others in, and lifts the ban', async () => {
    for (let i = 0; i < 3; i++) {
      assert.match(await tryLogin(ts.port, { username: 'alice', password: 'wrong', localAddress: '127.0.0.2' }), /authentication methods failed/);
    }
    const ban = await ts.logs.waitFor('ban', { address: '127.0.0.2' });
    const bannedAt = Date.parse(String(ban.time));
    assert.notEqual(await tryLogin(ts.port, { username: 'alice', password: PW, localAddress: '127.0.0.2' }), 'ok', 'banned address refused');
    await ts.logs.waitFor('connection.refused', { address: '127.0.0.2', reason: 'banned' });
    assert.equal(await tryLogin(ts.port, { username: 'alice', password: PW, localAddress: '127.0.0.1' }), 'ok', 'another address still gets in');
    await waitFor(async () => (await tryLogin(ts.port, { username: 'alice', password: PW, localAddress: '127.0.0.2' })) === 'ok', 8000, 'the ban to expire');
    const liftedAfter = Date.now() - bannedAt;
    assert.ok(liftedAfter >= 1500, `ban lasted ${liftedAfter} ms, banSeconds is 2`);
  });
});

describe('connection caps', () => {
  let ts: TestServer;
  const open: SshClient[] = [];
  before(async () => {
    ts = await startTestServer({ settings: { maxConnections: 4, maxConnectionsPerIp: 2, maxSessionsPerUser: 2 } });
    await ts.addUser('alice', { password: PW });
    await ts.addUser('bob', { password: PW });
  });
  after(async () => {
    for (const c of open) c.end();
    await ts.close();
  });
  const login = async (username: string, localAddress: string) => {
    const c = await connect(ts.port, { username, password: PW, localAddress });
    open.push(c);
    return c;
  };

  it('enforces maxConnectionsPerIp, maxSessionsPerUser and maxConnections', async () => {
    const a1 = await login('alice', '127.0.0.1');
    await login('alice', '127.0.0.1');
    assert.notEqual(await tryLogin(ts.port, { username: 'bob', password: PW, localAddress: '127.0.0.1' }), 'ok');
    await ts.logs.waitFor('connection.refused', { address: '127.0.0.1', reason: 'max-connections-per-ip' });

    assert.notEqual(await tryLogin(ts.port, { username: 'alice', password: PW, localAddress: '127.0.0.2' }), 'ok');
    await ts.logs.waitFor('auth.refused', { user: 'alice', reason: 'max-sessions-per-user' });

    await login('bob', '127.0.0.2');
    await login('bob', '127.0.0.3');
    assert.notEqual(await tryLogin(ts.port, { username: 'alice', password: PW, localAddress: '127.0.0.5' }), 'ok');
    await ts.logs.waitFor('connection.refused', { address: '127.0.0.5', reason: 'max-connections' });

    a1.end();
    await closed(a1);
    await waitFor(() => ts.server.state.table.size === 3, 3000, 'the server to see the close');
    assert.equal(await tryLogin(ts.port, { username: 'alice', password: PW, localAddress: '127.0.0.5' }), 'ok', 'room again after a close');
  });
});

describe('malformed input', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer();
    await ts.addUser('alice', { password: PW });
  });
  after(() => ts.close());

  it('drops a client that sends garbage instead of an SSH banner', async () => {
    const sock = await rawSocket(ts.port);
    sock.write(randomBytes(64 * 1024));
    await once(sock, 'close', 5000);
    assert.equal(await tryLogin(ts.port, { username: 'alice', password: PW }), 'ok');
  });

  it('drops a client whose first packet has an absurd length', async () => {
    const sock = await rawSocket(ts.port);
    sock.write('SSH-2.0-evil\r\n');
    sock.write(Buffer.from([0xff, 0xff, 0xff, 0xf0, 0x05, 0x14, 0, 0, 0, 0]));
    await once(sock, 'close', 5000);
    assert.equal(await tryLogin(ts.port, { username: 'alice', password: PW }), 'ok');
  });

  it('closes a session channel whose max packet size is 0 (ssh2 would loop forever writing to it)', async () => {
    const client = await connect(ts.port, { username: 'alice', password: PW });
    const internals = client as unknown as {
      _chanMgr: { add(cb: (err?: Error) => void): number };
      _protocol: { session(chan: number, window: number, maxPacket: number): void };
    };
    const id = internals._chanMgr.add(() => {});
    internals._protocol.session(id, 2 * 1024 * 1024, 0);
    await closed(client);
    await ts.logs.waitFor('channel.refused', { reason: 'bad max packet size' });
    assert.equal(await tryLogin(ts.port, { username: 'alice', password: PW }), 'ok', 'the event loop is not stuck');
  });
});

function rawSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = netConnect({ host: '127.0.0.1', port }, () => resolve(sock));
    sock.on('error', reject);
    sock.on('data', () => {});
  });
}
