/**
 * The PROXY protocol end to end (SPEC §7 "Several nodes"): a raw TCP client plays the balancer
 * (127.0.0.5, listed in proxyProtocol), writes a header, then a real ssh2 client logs in over the
 * same socket. The header's client is what logs, bans and per-address caps see; LOCAL and UNKNOWN
 * are served as direct connections; a missing, malformed or slow header from the balancer, and any
 * header from an unlisted address, close that connection with `proxy.refused`.
 */
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import ssh2, { type ConnectConfig } from 'ssh2';
import { defaultRouter } from '../../src/server/routes.js';
import { connect, type SshClient } from '../support/ssh-clients.js';
import { startTestServer, type TestServer } from '../support/test-server.js';
import { once, waitFor } from '../support/wait.js';
import { v1Header, v2Header } from '../support/proxy-headers.js';

const PW = 'proxy-protocol-pw';
const BALANCER = '127.0.0.5';
const OTHER = '127.0.0.6';

/** A TCP connection from `localAddress`, connected. */
async function rawSocket(port: number, localAddress: string): Promise<Socket> {
  const socket = netConnect({ host: '127.0.0.1', port, localAddress });
  socket.on('error', () => {});
  await once(socket, 'connect');
  return socket;
}

/** Everything the server sends until it closes the connection. */
function received(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve) => socket.once('close', () => resolve(Buffer.concat(chunks))));
}

/**
 * 'ok' after a login, else the error's message, or 'closed': ssh2's client reports no error when
 * the server closes after its banner (it "saw the header"), only a close.
 */
function tryLogin(port: number, config: ConnectConfig & { localAddress?: string }): Promise<string> {
  return new Promise((resolve) => {
    const client = new ssh2.Client();
    client.on('ready', () => {
      client.end();
      resolve('ok');
    });
    client.on('error', (err) => resolve(err.message));
    client.on('close', () => resolve('closed'));
    client.connect({ host: '127.0.0.1', port, readyTimeout: 10_000, ...config });
  });
}

/** Logs in as alice over a socket from `from` that first carries `header` (if any); 'ok' or the error. */
async function loginVia(ts: TestServer, from: string, header: Buffer | null, password = PW): Promise<string> {
  const sock = await rawSocket(ts.port, from);
  if (header) sock.write(header);
  return tryLogin(ts.port, { sock, username: 'alice', password });
}

/** Like loginVia, but keeps the client open. */
async function openVia(ts: TestServer, from: string, header: Buffer): Promise<SshClient> {
  const sock = await rawSocket(ts.port, from);
  sock.write(header);
  return connect(ts.port, { sock, username: 'alice', password: PW });
}

describe('PROXY protocol from a listed balancer', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer({ settings: { proxyProtocol: `${BALANCER}, 10.0.0.0/8` }, router: defaultRouter() });
    await ts.addUser('alice', { password: PW });
  });
  after(() => ts.close());

  it('v2: the login is logged with the client of the header, and the balancer as `via`', async () => {
    assert.equal(await loginVia(ts, BALANCER, v2Header({ source: '203.0.113.7', sourcePort: 40001 })), 'ok');
    const conn = await ts.logs.waitFor('connection', { address: '203.0.113.7' });
    assert.equal(conn.port, 40001);
    assert.equal(conn.via, BALANCER);
    const auth = await ts.logs.waitFor('auth.success', { address: '203.0.113.7' });
    assert.equal(auth.port, 40001);
    assert.equal(auth.conn, conn.conn);
  });

  it('v1: likewise', async () => {
    assert.equal(await loginVia(ts, BALANCER, v1Header('TCP4', '198.51.100.20', '192.0.2.1', 40002, 2222)), 'ok');
    const auth = await ts.logs.waitFor('auth.success', { address: '198.51.100.20' });
    assert.equal(auth.port, 40002);
    assert.equal(auth.via, BALANCER);
  });

  it('an IPv6 client, and an IPv4 client written as ::ffff:a.b.c.d (HAProxy does so on TCP6)', async () => {
    assert.equal(await loginVia(ts, BALANCER, v2Header({ fam: 0x21, source: '2001:db8::42', destination: '2001:db8::1' })), 'ok');
    await ts.logs.waitFor('auth.success', { address: '2001:db8::42' });
    assert.equal(await loginVia(ts, BALANCER, v1Header('TCP6', '::ffff:203.0.113.8', '::ffff:192.0.2.1', 40003, 2222)), 'ok');
    await ts.logs.waitFor('auth.success', { address: '203.0.113.8' });
  });

  it('bytes that came with the header reach ssh2 (the client ident in the same write)', async () => {
    const sock = await rawSocket(ts.port, BALANCER);
    const got = received(sock);
    sock.write(Buffer.concat([v2Header({ source: '203.0.113.9' }), Buffer.from('SSH-2.0-SameSegment_1.0\r\n')]));
    const line = await ts.logs.waitFor('connection', { address: '203.0.113.9' });
    assert.equal(line.client, 'SSH-2.0-SameSegment_1.0');
    sock.destroy();
    assert.match((await got).toString('latin1'), /^SSH-2\.0-Coffer/);
  });

  it('LOCAL (v2) and UNKNOWN (v1) are served as direct connections from the balancer', async () => {
    assert.equal(await loginVia(ts, BALANCER, v2Header({ verCmd: 0x20, fam: 0x00 })), 'ok');
    assert.equal(await loginVia(ts, BALANCER, Buffer.from('PROXY UNKNOWN\r\n')), 'ok');
    assert.equal(ts.logs.events('auth.success', { address: BALANCER }).length, 2);
  });

  it('a missing header (plain SSH) is refused before the server says anything', async () => {
    const sock = await rawSocket(ts.port, BALANCER);
    const got = received(sock);
    sock.write('SSH-2.0-OpenSSH_9.2\r\n');
    assert.equal((await got).length, 0, 'the server sent nothing: ssh2 never saw the socket');
    const refused = await ts.logs.waitFor('proxy.refused', { address: BALANCER, reason: 'not-proxy' });
    assert.equal(refused.level, 40);
    assert.notEqual(await loginVia(ts, BALANCER, null), 'ok');
  });

  it('malformed and oversized headers close only that connection, each with its reason', async () => {
    const bad: Array<[Buffer, string]> = [
      [v2Header({ verCmd: 0x31 }), 'bad-version'],
      [v2Header({ fam: 0x13 }), 'bad-family'],
      [Buffer.concat([v2Header({ length: 60_000, block: Buffer.alloc(0) }), Buffer.alloc(5000)]), 'too-long'],
      [Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.1 040000 22\r\n'), 'bad-port'],
      [Buffer.from(`PROXY UNKNOWN ${'x'.repeat(120)}\r\n`), 'too-long'],
    ];
    const alive = await openVia(ts, BALANCER, v2Header({ source: '203.0.113.50' }));
    for (const [header, reason] of bad) {
      const sock = await rawSocket(ts.port, BALANCER);
      const got = received(sock);
      sock.write(header);
      assert.equal((await got).length, 0);
      await ts.logs.waitFor('proxy.refused', { address: BALANCER, reason });
    }
    const sftp = await new Promise<unknown>((resolve, reject) => alive.sftp((err, s) => (err ? reject(err) : resolve(s))));
    assert.ok(sftp, 'an established proxied session is not affected');
    alive.end();
  });

  it('a header that ends early (FIN) is refused as truncated; a connect-and-close as no-header', async () => {
    const sock = await rawSocket(ts.port, BALANCER);
    const got = received(sock);
    sock.end(v2Header().subarray(0, 20));
    await got;
    await ts.logs.waitFor('proxy.refused', { address: BALANCER, reason: 'truncated' });
    const empty = await rawSocket(ts.port, BALANCER);
    const done = received(empty);
    empty.end();
    await done;
    const line = await ts.logs.waitFor('proxy.refused', { address: BALANCER, reason: 'no-header' });
    assert.equal(line.level, 30, 'a bare connect-and-close (a TCP check) is info, not a warning');
  });
});

describe('PROXY headers from an unlisted address', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer({ settings: { proxyProtocol: BALANCER } });
    await ts.addUser('alice', { password: PW });
  });
  after(() => ts.close());

  it('v2 and v1 headers are refused with proxy.refused; the address is not taken from them', async () => {
    for (const header of [v2Header({ source: '203.0.113.77' }), v1Header('TCP4', '203.0.113.77', '192.0.2.1', 1, 2)]) {
      const before = ts.logs.events('proxy.refused', { address: OTHER, reason: 'untrusted-source' }).length;
      assert.notEqual(await loginVia(ts, OTHER, header), 'ok');
      await waitFor(() => ts.logs.events('proxy.refused', { address: OTHER, reason: 'untrusted-source' }).length > before, 5000, 'proxy.refused');
    }
    assert.equal(ts.logs.events('connection', { address: '203.0.113.77' }).length, 0);
  });

  it('a header trickled byte by byte is refused once its signature is complete', async () => {
    const sock = await rawSocket(ts.port, OTHER);
    const got = received(sock);
    const header = v2Header();
    const before = ts.logs.events('proxy.refused', { reason: 'untrusted-source' }).length;
    for (let i = 0; i < 12 && !sock.destroyed; i++) {
      sock.write(header.subarray(i, i + 1));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await got;
    await waitFor(() => ts.logs.events('proxy.refused', { reason: 'untrusted-source' }).length > before, 5000, 'proxy.refused');
  });

  it('plain SSH from an unlisted address is served, and the banner is not held back', async () => {
    const sock = await rawSocket(ts.port, OTHER);
    const [banner] = await Promise.all([once<Buffer>(sock, 'data')]);
    assert.match(banner.toString('latin1'), /^SSH-2\.0-Coffer/, 'the server spoke first, before the client sent a byte');
    sock.destroy();
    assert.equal(await loginVia(ts, OTHER, null), 'ok');
    assert.equal(await tryLogin(ts.port, { username: 'alice', password: PW, localAddress: '127.0.0.7' }), 'ok');
  });
});

describe('a slow header from a listed balancer', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer({ settings: { proxyProtocol: BALANCER, loginGraceSeconds: 1 } });
  });
  after(() => ts.close());

  it('is cut off after loginGraceSeconds', async () => {
    const sock = await rawSocket(ts.port, BALANCER);
    const got = received(sock);
    const header = v2Header();
    let sent = 0;
    const started = Date.now();
    // One byte every 150 ms: the 28-byte header would take 4 s; the deadline is 1 s.
    const trickle = setInterval(() => {
      if (sent < header.length && !sock.destroyed) sock.write(header.subarray(sent, ++sent));
    }, 150);
    await got;
    clearInterval(trickle);
    const elapsed = Date.now() - started;
    assert.ok(sent < header.length, `the whole header went out (${sent} bytes) before the cut`);
    assert.ok(elapsed >= 900 && elapsed < 3000, `closed after ${elapsed} ms`);
    const line = await ts.logs.waitFor('proxy.refused', { address: BALANCER, reason: 'timeout' });
    assert.ok(Number(line.bytes) > 0 && Number(line.bytes) < header.length);
  });
});

describe('bans and per-address caps see the header address', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer({ settings: { proxyProtocol: BALANCER, banThreshold: 3, banWindowSeconds: 60, banSeconds: 60, maxConnectionsPerIp: 2 } });
    await ts.addUser('alice', { password: PW });
  });
  after(() => ts.close());

  it('failed logins ban the client of the header, not the balancer nor another client', async () => {
    const attacker = (port: number) => v2Header({ source: '203.0.113.66', sourcePort: port });
    for (let i = 0; i < 3; i++) assert.notEqual(await loginVia(ts, BALANCER, attacker(41000 + i), 'wrong'), 'ok');
    await ts.logs.waitFor('ban', { address: '203.0.113.66' });
    assert.notEqual(await loginVia(ts, BALANCER, attacker(41010)), 'ok', 'the banned client is refused, even with the right password');
    await ts.logs.waitFor('connection.refused', { address: '203.0.113.66', reason: 'banned' });
    assert.equal(await loginVia(ts, BALANCER, v2Header({ source: '203.0.113.67' })), 'ok', 'another client behind the same balancer');
    assert.equal(await loginVia(ts, BALANCER, v2Header({ verCmd: 0x20, fam: 0x00 })), 'ok', "the balancer's own (LOCAL) connections");
    assert.equal(await loginVia(ts, '127.0.0.8', null), 'ok', 'a direct client');
    assert.equal(ts.logs.events('ban', { address: BALANCER }).length, 0);
  });

  it('maxConnectionsPerIp counts the client of the header', async () => {
    const open = [
      await openVia(ts, BALANCER, v2Header({ source: '198.51.100.1', sourcePort: 1001 })),
      await openVia(ts, BALANCER, v2Header({ source: '198.51.100.1', sourcePort: 1002 })),
    ];
    assert.notEqual(await loginVia(ts, BALANCER, v2Header({ source: '198.51.100.1', sourcePort: 1003 })), 'ok');
    await ts.logs.waitFor('connection.refused', { address: '198.51.100.1', reason: 'max-connections-per-ip' });
    open.push(await openVia(ts, BALANCER, v2Header({ source: '198.51.100.2', sourcePort: 1001 })));
    open.push(await openVia(ts, BALANCER, v2Header({ verCmd: 0x20, fam: 0x00 })));
    for (const c of open) c.end();
  });

  it('a second connection claiming the same client address and port is refused', async () => {
    const first = await openVia(ts, BALANCER, v2Header({ source: '198.51.100.9', sourcePort: 5555 }));
    assert.notEqual(await loginVia(ts, BALANCER, v2Header({ source: '198.51.100.9', sourcePort: 5555 })), 'ok');
    await ts.logs.waitFor('proxy.refused', { address: BALANCER, reason: 'duplicate-peer' });
    first.end();
  });
});

describe('shutdown with a header still awaited', () => {
  it('does not wait for the header deadline: the socket is closed at once', async () => {
    const ts = await startTestServer({ settings: { proxyProtocol: BALANCER, shutdownGraceSeconds: 0 } });
    try {
      const sock = await rawSocket(ts.port, BALANCER);
      const got = received(sock);
      sock.write(v2Header().subarray(0, 10));
      // A whole login from elsewhere: by its end the server has long accepted the balancer's socket.
      await ts.addUser('alice', { password: PW });
      assert.equal(await tryLogin(ts.port, { username: 'alice', password: PW, localAddress: '127.0.0.8' }), 'ok');
      const started = Date.now();
      await ts.server.close();
      await got;
      assert.ok(Date.now() - started < 5000, `close took ${Date.now() - started} ms (loginGraceSeconds is 60)`);
      assert.equal(ts.logs.events('proxy.refused').length, 0, 'a shutdown is not a refusal');
    } finally {
      await ts.close();
    }
  });
});
