/**
 * Session routing and what is refused: shell, exec, unknown subsystems, pty, X11, agent and port
 * forwarding; the routing table serving a plugged-in subsystem and exec route with the raw channel;
 * the session's closed signal at the peer's channel close; and live changes made by coffer-users
 * (disable, remove, new password, new key).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import ssh2, { type ClientChannel } from 'ssh2';
import { SessionRouter, type SessionContext } from '../../src/server/session-router.js';
import { hashPassword } from '../../src/users/password.js';
import { parseAuthorizedKeys } from '../../src/users/public-keys.js';
import { closed, connect, makeClientKey, tryLogin, type SshClient } from '../support/ssh-clients.js';
import { startTestServer, TEST_SCRYPT, type TestServer } from '../support/test-server.js';

const PW = 'sessions-test-password';

/** Output of a channel until it closes. */
function drain(ch: ClientChannel): Promise<{ stdout: string; stderr: string; code: number | undefined }> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let code: number | undefined;
    ch.on('data', (d: Buffer) => (stdout += d.toString()));
    ch.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    ch.on('exit', (c: number) => (code = c));
    ch.on('close', () => resolve({ stdout, stderr, code }));
  });
}

type Output = Awaited<ReturnType<typeof drain>>;

/** Runs `command`; listeners go on in ssh2's callback, since exit-status may be in the same read. */
function execOn(client: SshClient, command: string, opts: object = {}): Promise<Output> {
  return new Promise((resolve, reject) => client.exec(command, opts, (err, ch) => (err ? reject(err) : resolve(drain(ch)))));
}

function subsysOn(client: SshClient, name: string): Promise<Output> {
  return new Promise((resolve, reject) => client.subsys(name, (err, ch) => (err ? reject(err) : resolve(drain(ch)))));
}

describe('sessions', () => {
  let ts: TestServer;
  let client: SshClient;
  const seen: SessionContext[] = [];
  before(async () => {
    const router = new SessionRouter()
      .addSubsystem('echo-test', (channel, ctx) => {
        seen.push(ctx);
        channel.pipe(channel); // raw Duplex: what comes in goes out
      })
      .addExec({
        name: 'hello',
        matches: (command) => command.startsWith('hello '),
        run: (channel, command, ctx) => {
          channel.write(`${command.slice(6)} from ${ctx.user}\n`);
          channel.exit(0);
          channel.end();
        },
      })
      .addExec({ name: 'boom', matches: (c) => c === 'boom', run: () => Promise.reject(new Error('handler bug')) });
    ts = await startTestServer({ router });
    await ts.addUser('alice', { password: PW });
    client = await connect(ts.port, { username: 'alice', password: PW });
  });
  after(async () => {
    client.end();
    await ts.close();
  });

  it('answers a shell with the SFTP-only line on stderr and exit status 1', async () => {
    const out = await new Promise<Output>((resolve, reject) => client.shell(false, (err, c) => (err ? reject(err) : resolve(drain(c)))));
    assert.equal(out.stderr, 'This service allows SFTP only.\n');
    assert.equal(out.code, 1);
  });

  it('refuses an exec nobody serves the same way', async () => {
    const out = await execOn(client, 'cat /etc/passwd');
    assert.equal(out.stderr, 'This service allows SFTP only.\n');
    assert.equal(out.stdout, '');
    assert.equal(out.code, 1);
  });

  it('refuses the sftp subsystem while no engine is plugged in, and unknown subsystems', async () => {
    for (const name of ['sftp', 'netconf']) {
      const out = await subsysOn(client, name);
      assert.equal(out.code, 1);
      assert.equal(out.stderr, 'This service allows SFTP only.\n');
    }
  });

  it('refuses pty, X11 and agent forwarding', async () => {
    await assert.rejects(execOn(client, 'hello x', { pty: true }), /pseudo-terminal|pty/i);
    await assert.rejects(execOn(client, 'hello x', { x11: true }), /X11/i);
    await ts.logs.waitFor('channel.refused', { request: 'pty' });
    await ts.logs.waitFor('channel.refused', { request: 'x11' });
    class EmptyAgent extends ssh2.BaseAgent {
      override getIdentities(cb: (err: Error | null, keys?: ssh2.ParsedKey[]) => void) {
        cb(null, []);
      }
      override sign(_k: unknown, _d: Buffer, _o: unknown, cb?: (err: Error | null) => void) {
        cb?.(new Error('no keys'));
      }
    }
    const withAgent = await connect(ts.port, { username: 'alice', password: PW, agent: new EmptyAgent() as never, agentForward: true });
    await assert.rejects(execOn(withAgent, 'hello x'), /agent forwarding/i);
    withAgent.end();
    await ts.logs.waitFor('channel.refused', { request: 'agent forwarding' });
  });

  it('refuses port forwarding in both directions', async () => {
    await assert.rejects(
      new Promise((resolve, reject) => client.forwardIn('127.0.0.1', 0, (err) => (err ? reject(err) : resolve(null)))),
      /Unable to bind|rejected/i,
    );
    await assert.rejects(
      new Promise((resolve, reject) => client.forwardOut('127.0.0.1', 1234, '127.0.0.1', ts.port, (err) => (err ? reject(err) : resolve(null)))),
      /prohibited|rejected|failure/i,
    );
    await ts.logs.waitFor('forward.refused', { kind: 'direct-tcpip' });
    await ts.logs.waitFor('forward.refused', { kind: 'tcpip-forward' });
  });

  it('routes a plugged-in subsystem to its handler with the raw channel and the session context', async () => {
    const ch = await new Promise<ClientChannel>((resolve, reject) => client.subsys('echo-test', (err, c) => (err ? reject(err) : resolve(c))));
    const echoed = new Promise<string>((resolve) => ch.once('data', (d: Buffer) => resolve(d.toString())));
    ch.write('ping');
    assert.equal(await echoed, 'ping');
    ch.end();
    const ctx = seen[0]!;
    assert.equal(ctx.user, 'alice');
    assert.equal(ctx.home, join(ts.root, 'homes', 'alice'));
    assert.equal(ctx.address, '127.0.0.1');
    assert.equal(ctx.config.paths.root, ts.root);
    assert.equal(ctx.signal.aborted, false);
    assert.ok(ctx.store.find('alice'));
  });

  it("aborts a session's closed signal when the peer closes its channel, the connection's signal staying up", async () => {
    const ch = await new Promise<ClientChannel>((resolve, reject) => client.subsys('echo-test', (err, c) => (err ? reject(err) : resolve(c))));
    const echoed = new Promise<string>((resolve) => ch.once('data', (d: Buffer) => resolve(d.toString())));
    ch.write('ping');
    await echoed;
    const ctx = seen.at(-1)!;
    assert.equal(ctx.closed.aborted, false);
    const aborted = new Promise<void>((resolve) => ctx.closed.addEventListener('abort', () => resolve()));
    ch.close();
    await aborted;
    assert.equal(ctx.signal.aborted, false, 'the connection goes on');
    assert.equal((await execOn(client, 'hello again')).stdout, 'again from alice\n');
  });

  it('caps session channels per connection at 10 and survives odd requests', async () => {
    const extra = await connect(ts.port, { username: 'alice', password: PW });
    const opened = await Promise.allSettled(
      Array.from({ length: 12 }, () => new Promise<ClientChannel>((resolve, reject) => extra.subsys('echo-test', (e, c) => (e ? reject(e) : resolve(c))))),
    );
    assert.equal(opened.filter((r) => r.status === 'fulfilled').length, 10);
    const huge = await execOn(client, 'x'.repeat(30_000));
    assert.equal(huge.code, 1);
    extra.end();
    assert.equal((await execOn(client, 'hello still')).stdout, 'still from alice\n');
  });

  it('routes exec commands by the first matching route; a failing handler ends only its channel', async () => {
    const out = await execOn(client, 'hello world');
    assert.deepEqual(out, { stdout: 'world from alice\n', stderr: '', code: 0 });
    const boom = await execOn(client, 'boom');
    assert.equal(boom.code, 1);
    await ts.logs.waitFor('channel.error', { err: 'handler bug' });
    assert.equal((await execOn(client, 'hello again')).stdout, 'again from alice\n');
  });
});

describe('live changes from coffer-users', () => {
  let ts: TestServer;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'coffer-live-'));
    ts = await startTestServer();
    for (const name of ['dave', 'erin', 'frank']) await ts.addUser(name, { password: PW });
  });
  after(async () => {
    await ts.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('ends the open sessions of a user who is disabled, within two seconds', async () => {
    const [c1, c2] = await Promise.all([connect(ts.port, { username: 'dave', password: PW }), connect(ts.port, { username: 'dave', password: PW })]);
    const other = await connect(ts.port, { username: 'erin', password: PW });
    const t0 = Date.now();
    ts.admin.setDisabled('dave', true);
    await Promise.all([closed(c1!), closed(c2!)]);
    assert.ok(Date.now() - t0 < 2000, `closed after ${Date.now() - t0} ms`);
    await ts.logs.waitFor('session.revoked', { user: 'dave', reason: 'user disabled' });
    assert.notEqual(await tryLogin(ts.port, { username: 'dave', password: PW }), 'ok');
    ts.admin.setDisabled('dave', false);
    assert.equal(await tryLogin(ts.port, { username: 'dave', password: PW }), 'ok', 'enabled again');
    assert.equal((await execOn(other, 'x')).code, 1, "another user's session is untouched");
    other.end();
  });

  it('ends the sessions of a user who is removed', async () => {
    const c = await connect(ts.port, { username: 'erin', password: PW });
    ts.admin.remove('erin');
    await closed(c);
    await ts.logs.waitFor('session.revoked', { user: 'erin', reason: 'user removed' });
  });

  it('applies a new password and a new key without a restart', async () => {
    ts.admin.setPasswordHash('frank', await hashPassword('new-password', TEST_SCRYPT));
    assert.notEqual(await tryLogin(ts.port, { username: 'frank', password: PW }), 'ok');
    assert.equal(await tryLogin(ts.port, { username: 'frank', password: 'new-password' }), 'ok');
    const key = await makeClientKey(dir, 'frank');
    assert.notEqual(await tryLogin(ts.port, { username: 'frank', privateKey: key.privateKey }), 'ok');
    ts.admin.addKeys('frank', parseAuthorizedKeys(key.publicLine));
    assert.equal(await tryLogin(ts.port, { username: 'frank', privateKey: key.privateKey }), 'ok');
  });
});
