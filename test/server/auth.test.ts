/**
 * Authentication through ssh2 clients: password, keyboard-interactive, public keys (stored, not
 * stored, forged signature), the password-change form, maxAuthTries, and equal timing for unknown
 * users, wrong passwords and disabled users.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import ssh2 from 'ssh2';
import { startTestServer, type TestServer } from '../support/test-server.js';
import { makeClientKey, tryLogin, type ClientKey } from '../support/ssh-clients.js';
import { authDriver } from '../support/auth-driver.js';

const PASSWORD = 'correct horse battery staple';

describe('authentication', () => {
  let ts: TestServer;
  let dir: string;
  let aliceKey: ClientKey;
  let strangerKey: ClientKey;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'coffer-auth-'));
    ts = await startTestServer({ settings: { maxAuthTries: 100, banThreshold: 0 } });
    aliceKey = await makeClientKey(dir, 'alice');
    strangerKey = await makeClientKey(dir, 'stranger');
    await ts.addUser('alice', { password: PASSWORD, keys: [aliceKey.publicLine] });
    await ts.addUser('bob', { password: PASSWORD, disabled: true });
    await ts.addUser('carol', { keys: [strangerKey.publicLine] }); // key-only user
  });
  after(async () => {
    await ts.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('accepts the right password and logs the login without the password', async () => {
    assert.equal(await tryLogin(ts.port, { username: 'alice', password: PASSWORD }), 'ok');
    const line = await ts.logs.waitFor('auth.success', { user: 'alice', method: 'password' });
    assert.equal(line.address, '127.0.0.1');
    assert.ok(!ts.logs.text().includes(PASSWORD), 'the password must never be logged');
  });

  it('refuses a wrong password, an unknown user and a disabled user alike', async () => {
    const answers = await Promise.all([
      tryLogin(ts.port, { username: 'alice', password: 'wrong' }),
      tryLogin(ts.port, { username: 'nobody', password: PASSWORD }),
      tryLogin(ts.port, { username: 'bob', password: PASSWORD }),
      tryLogin(ts.port, { username: 'carol', password: PASSWORD }),
    ]);
    for (const a of answers) assert.match(a, /All configured authentication methods failed/);
    for (const user of ['alice', 'nobody', 'bob', 'carol']) {
      const line = await ts.logs.waitFor('auth.failure', { user, method: 'password' });
      assert.equal(line.address, '127.0.0.1', 'every failure line carries the address (fail2ban)');
    }
    assert.ok(!ts.logs.text().includes(PASSWORD));
  });

  it('accepts keyboard-interactive with one hidden Password: prompt', async () => {
    const prompts: Array<{ prompt: string; echo?: boolean }> = [];
    const answer = await new Promise<string>((resolve) => {
      const c = new ssh2.Client();
      c.on('keyboard-interactive', (_n, _i, _l, ps, finish) => {
        prompts.push(...ps);
        finish([PASSWORD]);
      });
      c.on('ready', () => {
        c.end();
        resolve('ok');
      });
      c.on('error', (e) => resolve(e.message));
      c.connect({ host: '127.0.0.1', port: ts.port, username: 'alice', tryKeyboard: true, authHandler: ['keyboard-interactive'] as never });
    });
    assert.equal(answer, 'ok');
    assert.deepEqual(prompts, [{ prompt: 'Password: ', echo: false }]);
    await ts.logs.waitFor('auth.success', { user: 'alice', method: 'keyboard-interactive' });
  });

  it('accepts a stored key, refuses a key that is not stored', async () => {
    assert.equal(await tryLogin(ts.port, { username: 'alice', privateKey: aliceKey.privateKey }), 'ok');
    const line = await ts.logs.waitFor('auth.success', { user: 'alice', method: 'publickey' });
    assert.match(String(line.key), /^SHA256:/);
    assert.match(await tryLogin(ts.port, { username: 'alice', privateKey: strangerKey.privateKey }), /All configured authentication methods failed/);
    // carol's key does not open alice's account
    await ts.logs.waitFor('auth.failure', { user: 'alice', method: 'publickey', reason: 'key not authorised' });
  });

  it('refuses a stored key whose signature is garbage (forged by a fake agent)', async () => {
    const pub = ssh2.utils.parseKey(aliceKey.publicLine);
    assert.ok(!(pub instanceof Error));
    let signed = 0;
    class ForgingAgent extends ssh2.BaseAgent {
      override getIdentities(cb: (err: Error | null, keys?: ssh2.ParsedKey[]) => void) {
        cb(null, [pub as ssh2.ParsedKey]);
      }
      override sign(_key: unknown, _data: Buffer, options: unknown, cb?: (err: Error | null, sig?: Buffer) => void) {
        const done = (typeof options === 'function' ? options : cb) as (err: Error | null, sig?: Buffer) => void;
        signed += 1;
        done(null, Buffer.alloc(64, 0x41));
      }
    }
    const result = await tryLogin(ts.port, { username: 'alice', agent: new ForgingAgent() as never });
    assert.match(result, /All configured authentication methods failed/);
    assert.ok(signed > 0, 'the client did send a signature');
    await ts.logs.waitFor('auth.failure', { user: 'alice', method: 'publickey', reason: 'bad signature' });
  });

  it('refuses the password-change form of the request without crashing', async () => {
    const result = await new Promise<string>((resolve) => {
      const c = new ssh2.Client();
      let calls = 0;
      c.on('error', (e) => resolve(e.message));
      c.on('ready', () => resolve('logged in?!'));
      c.connect({
        host: '127.0.0.1',
        port: ts.port,
        username: 'alice',
        authHandler: ((_m: unknown, _p: unknown, next: (x: unknown) => void) => {
          calls += 1;
          if (calls > 1) return next(false);
          // USERAUTH_REQUEST password with the change flag: ssh2 hands the server an object.
          (c as unknown as { _protocol: { authPassword(u: string, p: string, n: string): void } })._protocol.authPassword('alice', PASSWORD, 'new-password');
          next({ type: 'none', username: 'alice' });
        }) as never,
      });
    });
    assert.match(result, /All configured authentication methods failed/);
    await ts.logs.waitFor('auth.failure', { user: 'alice', method: 'password', reason: 'malformed password request' });
    assert.equal(await tryLogin(ts.port, { username: 'alice', password: PASSWORD }), 'ok', 'server still serves');
  });

  it('refuses an over-long password quickly', async () => {
    const result = await tryLogin(ts.port, { username: 'alice', password: 'x'.repeat(5000) });
    assert.match(result, /All configured authentication methods failed/);
    await ts.logs.waitFor('auth.failure', { user: 'alice', reason: 'password too long' });
  });

  it('answers unknown user, wrong password and disabled user in the same time (50 tries each)', async (t) => {
    const drivers = await Promise.all(['nobody-here', 'alice', 'bob'].map((username) => authDriver(ts.port, { username })));
    const cases = [
      { driver: drivers[0]!, step: { type: 'password', username: 'nobody-here', password: 'guess' } },
      { driver: drivers[1]!, step: { type: 'password', username: 'alice', password: 'guess' } },
      { driver: drivers[2]!, step: { type: 'password', username: 'bob', password: PASSWORD } },
    ];
    const times: number[][] = [[], [], []];
    for (let i = 0; i < 55; i++) {
      for (let j = 0; j < cases.length; j++) {
        const k = (i + j) % cases.length; // rotate, so no case always goes first
        const c = cases[k]!;
        const r = await c.driver.attempt(c.step);
        assert.equal(r.outcome, 'failure');
        if (i >= 5) times[k]!.push(r.ms); // the first few warm up the JIT
      }
    }
    for (const d of drivers) d.close();
    const [unknown, wrong, disabled] = times.map(median) as [number, number, number];
    // Paired differences (same round, back to back) cancel drift in machine load.
    const paired = (a: number[], b: number[]) => median(a.map((x, i) => x - b[i]!));
    const diffs = [paired(times[1]!, times[0]!), paired(times[2]!, times[0]!), paired(times[2]!, times[1]!)];
    t.diagnostic(`median ms: unknown ${unknown.toFixed(2)}, wrong ${wrong.toFixed(2)}, disabled ${disabled.toFixed(2)}; paired diffs ${diffs.map((d) => d.toFixed(2)).join(' ')}`);
    assert.ok(unknown > 1, `the dummy hash really runs (median ${unknown.toFixed(2)} ms)`);
    // "Within a few ms": 3 ms, or 10% when a loaded machine makes every answer slow.
    const tolerance = Math.max(3, 0.1 * Math.min(unknown, wrong, disabled));
    for (const d of diffs) assert.ok(Math.abs(d) < tolerance, `median paired difference ${d.toFixed(2)} ms (medians ${unknown.toFixed(2)} / ${wrong.toFixed(2)} / ${disabled.toFixed(2)})`);
  });
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
