/**
 * coffer-users on PostgreSQL (SPEC §7), as an operator runs it: the same commands and output as
 * on the embedded store, chosen by --database, COFFER_DATABASE or coffer.json; `copy-to` moves an
 * embedded install up; an unreachable store stops the command with one line naming the host.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PG_PASSWORD, startPostgres, type PgServer } from '../support/postgres.js';
import { runCli, tempDir, type CliResult } from '../support/run-cli.js';

const tmp = tempDir('coffer-users-pg-');
let pgServer: PgServer;
let roots = 0;

before(async () => {
  pgServer = await startPostgres();
});
after(async () => {
  await pgServer?.stop();
  tmp.remove();
});

function freshRoot(): string {
  const root = join(tmp.path, `root${++roots}`);
  mkdirSync(root);
  return root;
}

function keygen(name: string): string {
  const file = join(tmp.path, name);
  execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-C', `${name}@test`, '-f', file]);
  return `${file}.pub`;
}

function ok(r: CliResult): string {
  assert.equal(r.status, 0, `expected success, got ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** Every output of `list --json` with its times replaced, to compare two stores. */
const listOf = (out: string) => (JSON.parse(out) as Array<Record<string, unknown>>).map((u) => ({ ...u, createdAt: typeof u.createdAt }));

describe('coffer-users on PostgreSQL', () => {
  it('every command works the same as on SQLite, chosen by --database, COFFER_DATABASE or coffer.json', async () => {
    const url = await pgServer.createDatabase();
    const pub = keygen('k1');
    const pgRoot = freshRoot();
    const liteRoot = freshRoot();
    writeFileSync(join(pgRoot, 'coffer.json'), JSON.stringify({ database: url }));
    const viaFlag = (args: string[], input?: string) => runCli('coffer-users', ['--root', pgRoot, '--database', url, ...args], { input });
    const viaEnv = (args: string[], input?: string) => runCli('coffer-users', ['--root', pgRoot, ...args], { input, env: { COFFER_DATABASE: url } });
    const viaFile = (args: string[], input?: string) => runCli('coffer-users', ['--root', pgRoot, ...args], { input });
    const lite = (args: string[], input?: string) => runCli('coffer-users', ['--root', liteRoot, ...args], { input });
    for (const [users, name] of [[viaFlag, 'bob'], [lite, 'bob']] as const) {
      ok(users(['add', name, '--quota', '10M', '--files', '500', '--password-stdin'], 'pw-1\n'));
      ok(users(['key', 'add', name, pub]));
      ok(users(['quota', name, '20M']));
      ok(users(['files', name, '600']));
      ok(users(['disable', name]));
      ok(users(['enable', name]));
    }
    ok(viaEnv(['add', 'carol', '--no-password', '--key', pub]));
    ok(lite(['add', 'carol', '--no-password', '--key', pub]));
    writeFileSync(join(pgRoot, 'homes', 'carol', 'f.bin'), Buffer.alloc(1234));
    writeFileSync(join(liteRoot, 'homes', 'carol', 'f.bin'), Buffer.alloc(1234));
    assert.match(ok(viaFile(['rescan', 'carol'])), /carol: used 0 B -> 1\.2 KiB \(1234 bytes in 1 files\), entries 0 -> 1/);
    ok(lite(['rescan', 'carol']));
    assert.deepEqual(listOf(ok(viaFile(['list', '--json']))), listOf(ok(lite(['list', '--json']))));
    assert.match(ok(viaFile(['list'])), /^bob\s+20\.0 MiB\s+0 B\s+20\.0 MiB\s+0 \/ 600\s+yes\s+1\s+no\s+never$/m);
    // Refusals are the same: exit 2, one line.
    const again = viaFile(['add', 'bob', '--no-password', '--key', pub]);
    assert.equal(again.status, 2);
    assert.match(again.stderr, /^coffer-users: error: user 'bob' already exists\n$/);
    const last = viaFile(['key', 'remove', 'carol', '1']);
    assert.equal(last.status, 2);
    ok(viaFile(['remove', 'carol', '--purge']));
    assert.equal(listOf(ok(viaFile(['list', '--json']))).length, 1);
  });

  it('copy-to moves an embedded install into an empty PostgreSQL database, and refuses a second time', async () => {
    const root = freshRoot();
    const pub = keygen('k2');
    const users = (args: string[], input?: string) => runCli('coffer-users', ['--root', root, ...args], { input });
    ok(users(['add', 'ann', '--quota', '5M', '--password-stdin'], 'pw-2\n'));
    ok(users(['add', 'ben', '--no-password', '--key', pub, '--disabled']));
    writeFileSync(join(root, 'homes', 'ann', 'a.bin'), Buffer.alloc(4096));
    ok(users(['rescan']));
    const url = await pgServer.createDatabase();
    const out = ok(users(['copy-to', url]));
    assert.match(out, /copied 2 user\(s\)/);
    assert.ok(!out.includes(PG_PASSWORD), 'the password is never printed');
    assert.deepEqual(listOf(ok(users(['--database', url, 'list', '--json']))), listOf(ok(users(['list', '--json']))));
    const twice = users(['copy-to', url]);
    assert.equal(twice.status, 2);
    assert.match(twice.stderr, /already has users/);
    const bad = users(['copy-to', 'mysql://x@y/z']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /needs a PostgreSQL URL/);
  });

  it('an unreachable store: one line naming the host, never the password, exit 1', () => {
    const r = runCli('coffer-users', ['--root', freshRoot(), '--database', `postgres://coffer:${PG_PASSWORD}@127.0.0.1:1/coffer`, 'list']);
    assert.equal(r.status, 1);
    const lines = r.stderr.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^coffer-users: error: cannot reach the PostgreSQL store at 127\.0\.0\.1:1\/coffer: /);
    assert.ok(!r.stderr.includes(PG_PASSWORD));
  });

  it('a malformed database setting is refused without repeating it', () => {
    const r = runCli('coffer-users', ['--root', freshRoot(), 'list'], { env: { COFFER_DATABASE: 'postgres//secretpw@nowhere' } });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /COFFER_DATABASE must be empty .* or a URL/);
    assert.ok(!r.stderr.includes('secretpw'));
  });
});
