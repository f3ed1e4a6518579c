/**
 * Shutdown: `coffer-server` exits 0 on SIGTERM after ending its sessions; in process, close() stops
 * accepting, ends idle sessions at once and gives busy ones (open transfers) up to
 * shutdownGraceSeconds.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ClientChannel } from 'ssh2';
import { loadConfig } from '../../src/config/load.js';
import { SessionRouter } from '../../src/server/session-router.js';
import { UserStore } from '../../src/users/user-store.js';
import { closed, connect, tryLogin } from '../support/ssh-clients.js';
import { addTestUser, copyCachedHostKeys, startTestServer } from '../support/test-server.js';
import { waitFor } from '../support/wait.js';

const PW = 'shutdown-password';
const BIN = fileURLToPath(new URL('../../../bin/coffer-server.js', import.meta.url));

describe('shutdown', () => {
  it('coffer-server: start log, then SIGTERM ends sessions, closes the database and exits 0', async () => {
    const root = await mkdtemp(join(tmpdir(), 'coffer-sigterm-'));
    try {
      await copyCachedHostKeys(join(root, 'keys'));
      const child = spawn(process.execPath, [BIN, '--root', root, '--port', '0', '--host', '127.0.0.1', '--log-level', 'info'], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, COFFER_ROOT: '' },
      });
      const lines: Array<Record<string, unknown>> = [];
      const started = new Promise<Record<string, unknown>>((resolve) => {
        createInterface({ input: child.stdout }).on('line', (text) => {
          const line = JSON.parse(text) as Record<string, unknown>;
          lines.push(line);
          if (line.event === 'start') resolve(line);
        });
      });
      const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      const start = await started;
      const fingerprints = start.fingerprints as Array<{ type: string; fingerprint: string; created: boolean }>;
      assert.deepEqual(fingerprints.map((f) => [f.type, f.created]), [['ssh-ed25519', false], ['ssh-rsa', false]], 'existing keys reused');
      assert.match(fingerprints[0]!.fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
      await waitFor(() => lines.some((l) => l.event === 'no-users'), 2000, 'the hint on adding a first user');

      const config = loadConfig({ rootFlag: root, env: {} });
      const admin = UserStore.open(config.paths.dbFile);
      await addTestUser(admin, config, 'alice', { password: PW });
      admin.close();
      // The subprocess uses production scrypt parameters for its dummy hash; the user's cheap hash still verifies.
      const client = await connect(start.port as number, { username: 'alice', password: PW });
      child.kill('SIGTERM');
      await closed(client);
      assert.equal(await exit, 0);
      const events = lines.map((l) => l.event);
      assert.ok(events.includes('shutdown') && events.includes('shutdown.done'), events.join(' '));
      assert.ok(events.includes('session.end'));
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('close(): idle sessions end at once, busy ones get the grace time, new connections are refused', async () => {
    let busy = true;
    const router = new SessionRouter().addSubsystem('transfer', (channel, ctx) => {
      ctx.isBusy = () => busy;
      channel.on('data', () => {
        busy = false; // "transfer finished"
        channel.exit(0);
        channel.end();
      });
    });
    const ts = await startTestServer({ router, settings: { shutdownGraceSeconds: 10 } });
    await ts.addUser('alice', { password: PW });
    const idle = await connect(ts.port, { username: 'alice', password: PW });
    const working = await connect(ts.port, { username: 'alice', password: PW });
    const ch = await new Promise<ClientChannel>((resolve, reject) => working.subsys('transfer', (e, c) => (e ? reject(e) : resolve(c))));
    const t0 = Date.now();
    const closing = ts.server.close();
    await closed(idle);
    assert.ok(Date.now() - t0 < 1500, 'idle session ended at once');
    assert.notEqual(await tryLogin(ts.port, { username: 'alice', password: PW }), 'ok', 'no new logins');
    assert.equal(ts.server.state.table.size, 1, 'the busy session is still open');
    ch.write('done');
    await closing;
    assert.ok(Date.now() - t0 < 5000, 'close() returned once the transfer finished, well before the grace time');
    await ts.close();
  });

  it('close(): a transfer still busy after shutdownGraceSeconds is cut off', async () => {
    const router = new SessionRouter().addSubsystem('forever', (_channel, ctx) => {
      ctx.isBusy = () => true;
    });
    const ts = await startTestServer({ router, settings: { shutdownGraceSeconds: 1 } });
    await ts.addUser('alice', { password: PW });
    const client = await connect(ts.port, { username: 'alice', password: PW });
    await new Promise<ClientChannel>((resolve, reject) => client.subsys('forever', (e, c) => (e ? reject(e) : resolve(c))));
    const t0 = Date.now();
    await ts.server.close();
    const took = Date.now() - t0;
    assert.ok(took >= 900 && took < 4000, `close() took ${took} ms with shutdownGraceSeconds 1`);
    await closed(client);
    await ts.close();
  });
});
