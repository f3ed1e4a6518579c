/**
 * SPEC §7: a ban decided on one process refuses that address on every process on the store within
 * 2 s, and no other address. Two coffer-server processes on one store (the SQLite file of one
 * state root, then one PostgreSQL database), failed password logins from 127.0.0.9 on the first.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startPostgres, type PgServer } from '../support/postgres.js';
import { runCli } from '../support/run-cli.js';
import { freshRoot, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { tryLogin } from '../support/ssh-clients.js';
import { waitFor } from '../support/wait.js';

const PASSWORD = 'shared-bans-pw-1';
let pgServer: PgServer;

before(async () => {
  pgServer = await startPostgres();
});
after(() => pgServer?.stop());

const STORES: Record<string, () => Promise<string[]>> = {
  'one SQLite file': async () => [],
  'one PostgreSQL database': async () => ['--database', await pgServer.createDatabase()],
};

for (const [name, storeFlags] of Object.entries(STORES)) {
  describe(`shared bans: two processes on ${name}`, () => {
    let a: ServerProcess;
    let b: ServerProcess;
    before(async () => {
      const root = await freshRoot();
      const flags = await storeFlags();
      const add = runCli('coffer-users', ['--root', root, ...flags, 'add', 'carol', '--password-stdin'], { input: PASSWORD + '\n' });
      assert.equal(add.status, 0, add.stderr);
      const settings = [...flags, '--ban-threshold', '3', '--max-auth-tries', '1'];
      a = await startServerProcess(root, settings);
      b = await startServerProcess(root, settings);
    });
    after(async () => {
      await a?.kill();
      await b?.kill();
    });

    it('failures from 127.0.0.9 on one process ban it on the other within 2 s; 127.0.0.10 still logs in there', async () => {
      assert.equal(await tryLogin(b.port, { username: 'carol', password: PASSWORD, localAddress: '127.0.0.9' }), 'ok', 'before: allowed on b');
      for (let i = 0; i < 3; i++) await tryLogin(a.port, { username: 'carol', password: 'wrong', localAddress: '127.0.0.9' });
      const ban = await a.waitFor('ban', { key: '127.0.0.9' });
      const bannedAt = Date.parse(String(ban.time ?? '')) || Date.now();
      await b.waitFor('ban.adopted', { key: '127.0.0.9' }, 5000);
      const adopted = b.events('ban.adopted', { key: '127.0.0.9' })[0]!;
      const lag = Date.parse(String(adopted.time)) - bannedAt;
      assert.ok(lag < 2000, `adopted ${lag} ms after the ban`);
      await waitFor(async () => (await tryLogin(b.port, { username: 'carol', password: PASSWORD, localAddress: '127.0.0.9' })) !== 'ok', 2000, 'b to refuse 127.0.0.9');
      assert.equal(await tryLogin(b.port, { username: 'carol', password: PASSWORD, localAddress: '127.0.0.10' }), 'ok', 'another address is not banned');
      assert.equal(await tryLogin(a.port, { username: 'carol', password: PASSWORD, localAddress: '127.0.0.10' }), 'ok');
    });
  });
}
