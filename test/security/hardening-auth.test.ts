/**
 * Issue 23 (hardening), items 3 and 4 and the probes around them, reproduced against the real
 * server: a flood of password attempts abandoned before their answer, silent and slow sockets
 * holding every connection slot, IPv6 clients counted by /64, floods of authentication requests
 * on one connection, and client-supplied text in the logs.
 */
import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import ssh2 from 'ssh2';
import { admitSocket } from '../../src/server/connection.js';
import { countBanFailure } from '../../src/server/login.js';
import { hashPassword, type ScryptParams } from '../../src/users/password.js';
import { closed, tryLogin } from '../support/ssh-clients.js';
import { cpuPercentOver, hangupFlood, loopbackRange, silentSockets } from '../support/preauth-clients.js';
import { startTestServer, type TestServer } from '../support/test-server.js';
import { waitFor } from '../support/wait.js';

const PW = 'the right password';
/** Costly enough (~140 ms here, 32 MiB) that checks pile up as they do at N=2^17 under a flood. */
const SLOW: ScryptParams = { ln: 15, r: 8, p: 1 };

async function addSlowUser(ts: TestServer, name: string): Promise<void> {
  const passwordHash = await hashPassword(PW, SLOW);
  ts.admin.add({ name, passwordHash, quotaBytes: null, disabled: false, keys: [] });
}

async function timedLogin(ts: TestServer, username: string, localAddress: string): Promise<{ result: string; ms: number }> {
  const t0 = Date.now();
  const result = await tryLogin(ts.port, { username, password: PW, localAddress, readyTimeout: 15_000 });
  return { result, ms: Date.now() - t0 };
}

const inRange = (addresses: string[]) => (l: Record<string, unknown>) => addresses.includes(String(l.address));

describe('client text before login (probes)', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer({ settings: { banThreshold: 0 } });
    await ts.addUser('alice', { password: PW });
  });
  after(() => ts.close());

  it('answers keyboard-interactive with thousands of responses or a huge one as one failure each', async () => {
    for (const answers of [Array.from({ length: 5000 }, () => 'x'), ['y'.repeat(30_000)]]) {
      const result = await new Promise<string>((resolve) => {
        const c = new ssh2.Client();
        c.on('keyboard-interactive', (_n, _i, _l, _p, finish) => finish(answers));
        c.on('ready', () => resolve('logged in?!'));
        c.on('error', (e) => resolve(e.message));
        c.connect({ host: '127.0.0.1', port: ts.port, username: 'alice', tryKeyboard: true, authHandler: ['keyboard-interactive'] as never });
      });
      assert.match(result, /All configured authentication methods failed/);
    }
    assert.ok(ts.logs.events('auth.failure', { method: 'keyboard-interactive', reason: 'malformed password request' }).length >= 1);
    assert.ok(ts.logs.events('auth.failure', { method: 'keyboard-interactive', reason: 'password too long' }).length >= 1);
    assert.equal(await tryLogin(ts.port, { username: 'alice', password: PW }), 'ok');
  });

  it('logs a 30 KB user name short, and control characters in user names escaped', async () => {
    const names = ['u'.repeat(30_000), 'evil\nfrom 9.9.9.9 \u001b[31mred\u202etxt.exe\u0085'];
    for (const username of names) {
      assert.match(await tryLogin(ts.port, { username, password: 'nope' }), /All configured authentication methods failed/);
    }
    const lines = ts.logs.events('auth.failure').filter((l) => String(l.user).startsWith('u') || String(l.user).startsWith('evil'));
    assert.equal(lines.length, 2);
    for (const l of lines) {
      for (const text of [String(l.user), String(l.msg)]) {
        assert.ok(text.length < 200, `${text.length} characters logged`);
                assert.doesNotMatch(text, /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/, `raw control character in ${JSON.stringify(text)}`);
      }
    }
    assert.match(String(lines[1]!.user), /^evil\\nfrom 9\.9\.9\.9 \\x1b\[31mred\\u202etxt\.exe\\x85$/);
  });
});

/** A socket the server takes for one from `address` (no network: admission is all that runs). */
function socketFrom(address: string): Socket {
  const sock = new Socket();
  Object.defineProperty(sock, 'remoteAddress', { value: address });
  Object.defineProperty(sock, 'remotePort', { value: 40_000 + Math.floor(Math.random() * 20_000) });
  return sock;
}

describe('IPv6 clients are counted by /64 (item 4)', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer({ settings: { maxConnectionsPerIp: 3, banThreshold: 2, banSeconds: 60 } });
  });
  after(() => ts.close());

  it('limits and bans one /64 as one address; IPv4-mapped addresses count as IPv4', () => {
    const state = ts.server.state;
    const admitted = ['2001:db8:1:2::a', '2001:db8:1:2:ffff::b', '2001:db8:1:2:1:2:3:4'].map((a) => admitSocket(state, socketFrom(a)));
    assert.ok(admitted.every((r) => r !== null));
    assert.equal(admitSocket(state, socketFrom('2001:0db8:0001:0002::99')), null, 'a 4th connection from the same /64');
    assert.ok(admitSocket(state, socketFrom('2001:db8:1:3::1')), 'the next /64 is another address');
    const v4 = admitSocket(state, socketFrom('::ffff:192.0.2.7'));
    assert.equal(v4?.address, '192.0.2.7');
    countBanFailure(state, admitted[0]!);
    countBanFailure(state, admitted[1]!);
    const ban = ts.logs.events('ban')[0];
    assert.ok(ban, 'two failures from one /64 ban it');
    assert.equal(ban.key, '2001:db8:1:2::/64');
    for (const rec of state.table.all()) rec.socket.destroy();
    assert.equal(admitSocket(state, socketFrom('2001:db8:1:2:dead::1')), null, 'the whole /64 is banned');
    assert.ok(admitSocket(state, socketFrom('2001:db8:1:3::1')), 'the next /64 is not');
    for (const rec of state.table.all()) rec.socket.destroy();
  });
});

describe('silent and slow sockets before login (item 4)', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer();
    await ts.addUser('alice', { password: PW });
  });
  after(() => ts.close());

  // SPEC §5: a client that logs in within 2 s is never kept out. On this shared machine a login
  // alone took 0.1-1 s; under attack the bound is 2 s, or 3 logins-alone when the machine is slower.
  let limitMs = 2000;
  before(async () => {
    const alone = await timedLogin(ts, 'alice', '127.0.0.1');
    assert.equal(alone.result, 'ok');
    limitMs = Math.max(2000, 3 * alone.ms);
  });

  it('20 silent sockets from each of 13 addresses do not keep a login out', async (t) => {
    const silent = loopbackRange(2, 14);
    const attack = await silentSockets({ port: ts.port, localAddresses: silent, perAddress: 20, reopen: false });
    try {
      const login = await timedLogin(ts, 'alice', '127.0.0.1');
      t.diagnostic(`${attack.stats.opened} silent sockets; login ${login.ms} ms (${login.result}); ${attack.stats.open} still open, server holds ${ts.server.state.table.size}`);
      assert.equal(login.result, 'ok');
      await waitFor(() => ts.server.state.table.size <= 64, 5000, 'at most maxStartups connections held');
      assert.ok(login.ms < limitMs, `login took ${login.ms} ms (limit ${limitMs})`);
      assert.ok(attack.stats.open <= 64, `${attack.stats.open} silent sockets still open`);
    } finally {
      await attack.stop();
    }
    assert.equal(ts.logs.lines.filter(inRange(silent)).filter((l) => l.event === 'auth.failure' || l.event === 'ban').length, 0, 'silence is never a failure');
  });

  it('slow clients from 50 addresses that reopen every closed socket never keep a login out', async (t) => {
    const slow = loopbackRange(2, 51);
    const attack = await silentSockets({ port: ts.port, localAddresses: slow, perAddress: 8, sendIdent: true, reopen: true });
    const times: number[] = [];
    try {
      // Past the first burst (400 connects at once, 336 of them evicted); the churn goes on.
      await waitFor(() => attack.stats.closedByServer >= slow.length * 8 - 64, 10_000, 'the first burst to be served');
      for (let i = 0; i < 3; i++) {
        const login = await timedLogin(ts, 'alice', '127.0.0.1');
        if (login.result !== 'ok') t.diagnostic(`login ${i + 1} after ${login.ms} ms: ${login.result}; ${attack.stats.open} slow sockets open`);
        assert.equal(login.result, 'ok', `login ${i + 1}: ${login.result}`);
        times.push(login.ms);
      }
    } finally {
      await attack.stop();
    }
    t.diagnostic(`logins took ${times.join(', ')} ms; ${attack.stats.opened} slow sockets opened, ${attack.stats.closedByServer} closed by the server`);
    for (const ms of times) assert.ok(ms < limitMs, `a login took ${ms} ms (limit ${limitMs})`);
    assert.equal(ts.logs.lines.filter(inRange(slow)).filter((l) => l.event === 'auth.failure' || l.event === 'ban').length, 0, 'slowness is never a failure');
  });
});

describe('a flood of password attempts abandoned before their answer (item 3)', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer({ settings: { banThreshold: 0 }, server: { scrypt: SLOW } });
    await addSlowUser(ts, 'alice');
    await addSlowUser(ts, 'bob');
  });
  after(() => ts.close());

  it('lets a correct login in within seconds, stops the work with the flood, and logs each abandoned attempt', async (t) => {
    // What one login costs right now (key exchange and one check) on this shared machine.
    const alone = await timedLogin(ts, 'bob', '127.0.0.1');
    assert.equal(alone.result, 'ok');
    const flooders = loopbackRange(2, 7);
    const floods = flooders.map((localAddress) => hangupFlood({ port: ts.port, localAddress, username: 'alice', password: 'wrong', hangupMs: 150, parallel: 2 }));
    const sent = () => floods.reduce((n, f) => n + f.stats.sent, 0);
    await waitFor(() => sent() >= 60, 30_000, 'the flood to send 60 passwords');
    const during = await timedLogin(ts, 'bob', '127.0.0.1');
    await Promise.all(floods.map((f) => f.stop()));
    const stats = floods.map((f) => f.stats);
    await waitFor(() => ts.server.state.table.size === 0, 10_000, 'the flood connections to close');
    const afterFlood = await timedLogin(ts, 'bob', '127.0.0.1');
    await waitFor(() => ts.server.state.table.size === 0, 10_000, 'the login to close');
    const cpu = await cpuPercentOver(1000);
    const failures = ts.logs.events('auth.failure').filter(inRange(flooders));
    const abandoned = stats.reduce((n, s) => n + s.abandoned, 0);
    const answered = stats.reduce((n, s) => n + s.answered, 0);
    t.diagnostic(
      `flood: ${sent()} passwords sent, ${abandoned} abandoned, ${answered} answered; login alone ${alone.ms} ms, during the flood ${during.ms} ms (${during.result}), ` +
        `after it ${afterFlood.ms} ms (${afterFlood.result}); CPU in the second after the flood ${cpu.toFixed(0)}%; auth.failure lines ${failures.length}`,
    );
    // The login waits for the checks ahead of it to be dropped (at their hang-up, 150 ms) or to
    // finish, then for its own: a few checks, however long the flood. A check took 0.15-1.5 s on
    // this shared 2-core machine, hence a bound in logins-alone. Before the fix the queue held
    // every attempt of the flood and the login never got in (15 s timeouts).
    assert.equal(during.result, 'ok');
    assert.ok(during.ms < 2000 + 4 * alone.ms, `a correct login during the flood took ${during.ms} ms (${alone.ms} ms alone)`);
    assert.equal(afterFlood.result, 'ok');
    assert.ok(afterFlood.ms < 1000 + 2 * alone.ms, `a correct login right after the flood took ${afterFlood.ms} ms (${alone.ms} ms alone)`);
    assert.ok(cpu < 40, `the server kept working after the flood: ${cpu.toFixed(0)}% CPU`);
    assert.ok(failures.length >= abandoned + answered, `${failures.length} auth.failure lines for ${abandoned + answered} attempts`);
    assert.ok(failures.some((l) => l.reason === 'abandoned' && l.user === 'alice' && l.method === 'password'), 'abandoned attempts are logged as such');
  });
});

describe('abandoned password attempts count toward a ban (item 3)', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer({ settings: { banThreshold: 4, banWindowSeconds: 60, banSeconds: 60 }, server: { scrypt: SLOW } });
    await addSlowUser(ts, 'alice');
  });
  after(() => ts.close());

  it('bans an address that only ever hangs up before the answer', async (t) => {
    const flood = hangupFlood({ port: ts.port, localAddress: '127.0.0.8', username: 'alice', password: 'guess', hangupMs: 20 });
    await waitFor(() => ts.logs.events('ban', { address: '127.0.0.8' }).length > 0 || flood.stats.sent >= 16, 30_000, 'a ban or 16 attempts');
    await flood.stop();
    await waitFor(() => ts.server.state.table.size === 0, 10_000, 'the connections to close');
    const failures = ts.logs.events('auth.failure', { address: '127.0.0.8' });
    const abandoned = failures.filter((l) => l.reason === 'abandoned');
    t.diagnostic(
      `${flood.stats.sent} passwords sent (${flood.stats.abandoned} abandoned, ${flood.stats.answered} answered at once); ` +
        `auth.failure lines: ${failures.map((l) => l.reason).join(', ')}; bans ${ts.logs.events('ban').length}`,
    );
    // Each attempt is one failure line: `abandoned` while a check of this address could wait or
    // run, `password check queue full` while its two slots held checks of connections already gone.
    assert.ok(failures.length >= flood.stats.sent, `${failures.length} failure lines for ${flood.stats.sent} attempts`);
    assert.ok(abandoned.length >= 1 && abandoned.every((l) => l.counted === true && l.user === 'alice' && l.method === 'password'));
    await ts.logs.waitFor('ban', { address: '127.0.0.8' }, 100);
    assert.ok(flood.stats.sent <= 8, `banned only after ${flood.stats.sent} attempts (banThreshold 4)`);
    assert.notEqual(await tryLogin(ts.port, { username: 'alice', password: PW, localAddress: '127.0.0.8' }), 'ok', 'the address is banned');
    assert.equal(await tryLogin(ts.port, { username: 'alice', password: PW, localAddress: '127.0.0.9' }), 'ok', 'others are not');
  });
});

/** An ssh2 client past key exchange whose protocol object the test drives directly. */
function rawAuthClient(ts: TestServer, username: string): Promise<{ client: ssh2.Client; proto: RawProto }> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    client.on('error', reject);
    client.connect({
      host: '127.0.0.1',
      port: ts.port,
      username,
      authHandler: (() => resolve({ client, proto: (client as unknown as { _protocol: RawProto })._protocol })) as never,
    });
  });
}
interface RawProto {
  authNone(user: string): void;
  authKeyboard(user: string): void;
  authPassword(user: string, password: string): void;
  _handlers: Record<string, (...a: unknown[]) => void>;
}

describe('authentication requests on one connection (probes)', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer({ settings: { banThreshold: 0 } });
    await ts.addUser('alice', { password: PW });
  });
  after(() => ts.close());

  it('ends a connection that sends `none` requests forever', async () => {
    const { client, proto } = await rawAuthClient(ts, 'alice');
    let answers = 0;
    let wake: (() => void) | undefined;
    proto._handlers.USERAUTH_FAILURE = () => {
      answers += 1;
      wake?.();
    };
    let gone = false;
    const done = closed(client).then(() => (gone = true));
    for (let i = 0; i < 2000 && !gone; i++) {
      const answered = new Promise<void>((r) => (wake = r));
      proto.authNone('alice');
      await Promise.race([answered, done]);
    }
    assert.ok(gone, `still connected after ${answers} answered requests`);
    assert.ok(answers <= 64, `${answers} requests answered before the end`);
    await ts.logs.waitFor('auth.too-many-requests');
  });

  it('ends a connection that restarts keyboard-interactive forever (ssh2 keeps every aborted request)', async () => {
    const { client, proto } = await rawAuthClient(ts, 'alice');
    let prompts = 0;
    proto._handlers.USERAUTH_INFO_REQUEST = () => (prompts += 1);
    let gone = false;
    const done = closed(client).then(() => (gone = true));
    for (let i = 0; i < 2000 && !gone; i++) {
      proto.authKeyboard('alice');
      if (i % 50 === 49) await Promise.race([new Promise((r) => setImmediate(r)), done]);
    }
    await Promise.race([done, waitFor(() => gone, 5000, 'the connection to end').catch(() => {})]);
    assert.ok(gone, `still connected after ${prompts} prompts`);
    assert.ok(prompts <= 64, `${prompts} prompts sent before the end`);
  });
});
