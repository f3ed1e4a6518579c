// coffer-users run as a subprocess on a temporary --root, as an operator runs it: every command of
// SPEC §4, and every refusal of issue 2 with its exit status, its one-line message, and the state
// (database rows and homes/) unchanged afterwards.
import Database from 'better-sqlite3';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { verifyPassword } from '../../src/users/password.js';
import { runCli, stateSnapshot, tempDir, type CliResult } from '../support/run-cli.js';

const tmp = tempDir('coffer-users-test-');
after(() => tmp.remove());

/** Makes an ssh key pair with ssh-keygen; returns the private key path (public is +'.pub'). */
function keygen(name: string, ...args: string[]): string {
  const file = join(tmp.path, 'keys', name);
  mkdirSync(join(tmp.path, 'keys'), { recursive: true });
  execFileSync('ssh-keygen', ['-q', '-N', '', '-C', `${name}@test`, '-f', file, ...args]);
  return file;
}

let rootCount = 0;
/** A fresh state root and a runner bound to it. */
function freshRoot() {
  const root = join(tmp.path, `root${++rootCount}`);
  mkdirSync(root);
  const users = (args: string[], input?: string, env?: Record<string, string>) =>
    runCli('coffer-users', ['--root', root, ...args], { input, env });
  return { root, users };
}

function assertOk(r: CliResult): void {
  assert.equal(r.status, 0, `expected success, got ${r.status}: ${r.stderr}`);
  assert.equal(r.stderr, '');
}

/** Exit status 2 and exactly one `coffer-users: error: ...` line matching `message`. */
function assertRefused(r: CliResult, message: RegExp): void {
  assert.equal(r.status, 2, `expected exit 2, got ${r.status}; stdout: ${r.stdout} stderr: ${r.stderr}`);
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `one line expected: ${r.stderr}`);
  assert.match(lines[0]!, /^coffer-users: error: /);
  assert.match(lines[0]!, message);
}

function showJson(users: ReturnType<typeof freshRoot>['users'], name: string) {
  const r = users(['show', name, '--json']);
  assertOk(r);
  return JSON.parse(r.stdout);
}

let ed: string, ec: string, rsa2048: string, rsa1024: string;
before(() => {
  ed = keygen('ed', '-t', 'ed25519');
  ec = keygen('ec', '-t', 'ecdsa', '-b', '384');
  rsa2048 = keygen('rsa2048', '-t', 'rsa', '-b', '2048');
  rsa1024 = keygen('rsa1024', '-t', 'rsa', '-b', '1024');
});

describe('coffer-users add and list (the issue\'s done-when)', () => {
  const { root, users } = freshRoot();

  test('add with --password-stdin, then list shows the quota and usage', () => {
    const r = users(['add', 'alice', '--quota', '10M', '--password-stdin'], 's3cret\n');
    assertOk(r);
    assert.match(r.stdout, /added user alice/);
    const list = users(['list']);
    assertOk(list);
    const row = list.stdout.split('\n').find((l) => l.startsWith('alice '));
    assert.ok(row, list.stdout);
    assert.match(row, /^alice\s+10\.0 MiB\s+0 B\s+10\.0 MiB\s+0 \/ 1000000\s+yes\s+0\s+no\s+never$/);
  });

  test('the home is created with mode 0700 and the database with mode 0600', () => {
    assert.equal(statSync(join(root, 'homes', 'alice')).mode & 0o777, 0o700);
    assert.equal(statSync(join(root, 'db', 'coffer.db')).mode & 0o777, 0o600);
  });

  test('the stored hash is scrypt in PHC format and verifies the password', async () => {
    const db = new Database(join(root, 'db', 'coffer.db'), { readonly: true });
    const { password_hash } = db.prepare('SELECT password_hash FROM users WHERE name = ?').get('alice') as { password_hash: string };
    db.close();
    assert.match(password_hash, /^\$scrypt\$ln=17,r=8,p=1\$/);
    assert.equal(await verifyPassword('s3cret', password_hash), true);
    assert.equal(await verifyPassword('s3cret\n', password_hash), false);
  });

  test('list --json and show --json have the shape of SPEC §4', () => {
    const r = users(['list', '--json']);
    assertOk(r);
    const list = JSON.parse(r.stdout);
    assert.equal(list.length, 1);
    assert.deepEqual(Object.keys(list[0]).sort(), ['createdAt', 'disabled', 'hasPassword', 'keys', 'lastLoginAt', 'maxFiles', 'name', 'quotaBytes', 'usedBytes', 'usedFiles']);
    assert.deepEqual({ ...list[0], createdAt: typeof list[0].createdAt }, {
      name: 'alice', quotaBytes: 10 * 1024 * 1024, usedBytes: 0, maxFiles: 1_000_000, usedFiles: 0, disabled: false, keys: [],
      hasPassword: true, createdAt: 'string', lastLoginAt: null,
    });
    assert.ok(!Number.isNaN(Date.parse(list[0].createdAt)));
    assert.deepEqual(showJson(users, 'alice'), list[0]);
  });
});

describe('refusals: exit status 2, one line, nothing changed', () => {
  const { root, users } = freshRoot();
  const malformed = join(tmp.path, 'malformed.pub');
  const wrongType = join(tmp.path, 'wrongtype.pub');

  before(() => {
    assertOk(users(['add', 'alice', '--no-password', '--key', `${ed}.pub`]));
    assertOk(users(['add', 'pat', '--password-stdin'], 'only-a-password\n'));
    writeFileSync(malformed, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBADbase64== oops\n');
    const edBlob = readFileSync(`${ed}.pub`, 'utf8').split(' ')[1];
    writeFileSync(wrongType, `ssh-rsa ${edBlob} mislabelled\n`);
  });

  const cases: Array<[string, () => string[], RegExp, string?]> = [
    ['a name with ../', () => ['add', '../bob', '--no-password', '--key', `${ec}.pub`], /invalid user name "\.\.\/bob"/],
    ['the name .', () => ['add', '.', '--no-password', '--key', `${ec}.pub`], /invalid user name "\."/],
    ['an uppercase name', () => ['add', 'Bob', '--no-password', '--key', `${ec}.pub`], /invalid user name "Bob".*lowercase/],
    ['a 40-character name', () => ['add', 'b'.repeat(40), '--no-password', '--key', `${ec}.pub`], /40 characters; at most 32/],
    ['a bad size', () => ['add', 'bob', '--quota', '10X', '--no-password', '--key', `${ec}.pub`], /bad size '10X'/],
    ['a negative size', () => ['add', 'bob', '--quota=-5M', '--no-password', '--key', `${ec}.pub`], /bad size '-5M'/],
    ['a duplicate user', () => ['add', 'alice', '--no-password', '--key', `${ec}.pub`], /user 'alice' already exists/],
    ['a malformed key', () => ['add', 'bob', '--no-password', '--key', malformed], /malformed ssh-ed25519 key/],
    ['a key under its wrong type', () => ['add', 'bob', '--no-password', '--key', wrongType], /malformed ssh-rsa key/],
    ['an RSA key under 2048 bits', () => ['add', 'bob', '--no-password', '--key', `${rsa1024}.pub`], /1024 bits is too weak.*2048/],
    ['a private key pasted by mistake', () => ['add', 'bob', '--no-password', '--key', ec], /is a private key; give the public key/],
    ['a private key on stdin', () => ['key', 'add', 'alice', '-'], /standard input is a private key/, 'private'],
    ['a duplicate key', () => ['key', 'add', 'alice', `${ed}.pub`], /key SHA256:\S+ is already a key of 'alice'/],
    ['a missing key file', () => ['add', 'bob', '--key', join(tmp.path, 'nope.pub')], /cannot read key file .*ENOENT/],
    ['a user with neither password nor key', () => ['add', 'bob'], /needs a password or at least one key/],
    ['--no-password without a key', () => ['add', 'bob', '--no-password'], /needs a password or at least one key/],
    ['an empty password', () => ['add', 'bob', '--password-stdin'], /password is empty/, '\n'],
    ['passwd without a terminal', () => ['passwd', 'alice'], /not a terminal.*--password-stdin/],
    ['removing the password of a user without keys', () => ['passwd', 'pat', '--no-password'], /needs a password or at least one key; 'pat' has no key/],
    ['removing the last key of a password-less user', () => ['key', 'remove', 'alice', '1'], /last key of 'alice'/],
    ['an unknown key index', () => ['key', 'remove', 'alice', '7'], /'alice' has no key 7/],
    ['a bad quota', () => ['quota', 'alice', 'lots'], /bad size 'lots'/],
    ['quota of an unknown user', () => ['quota', 'nobody', '1G'], /no such user 'nobody'/],
    ['an unknown command', () => ['frobnicate'], /unknown command 'frobnicate'/],
    ['an unknown option', () => ['list', '--colour'], /unknown option '--colour'/],
    ['an option of another command', () => ['list', '--purge'], /--purge does not apply to 'list'/],
    ['missing arguments', () => ['quota', 'alice'], /usage: coffer-users quota NAME SIZE/],
    ['no command', () => [], /no command given/],
  ];

  for (const [what, args, message, input] of cases) {
    test(what, () => {
      const before = stateSnapshot(root);
      const stdin = input === 'private' ? readFileSync(ec, 'utf8') : input;
      assertRefused(users(args(), stdin), message);
      assert.equal(stateSnapshot(root), before, 'state changed');
    });
  }

  test('a refused add on a fresh root creates no database and no home', () => {
    const fresh = freshRoot();
    assertRefused(fresh.users(['add', '../bob', '--password-stdin'], 'pw\n'), /invalid user name/);
    assert.equal(existsSync(join(fresh.root, 'db')), false);
    assert.equal(existsSync(join(fresh.root, 'homes')), false);
  });
});

describe('passwords, quotas, keys, disable', () => {
  const { root, users } = freshRoot();
  const hashOf = () => {
    const db = new Database(join(root, 'db', 'coffer.db'), { readonly: true });
    const row = db.prepare('SELECT password_hash FROM users WHERE name = ?').get('carol') as { password_hash: string | null };
    db.close();
    return row.password_hash;
  };

  test('passwd --password-stdin replaces the hash; --no-password removes it when a key exists', async () => {
    assertOk(users(['add', 'carol', '--password-stdin', '--key', `${ec}.pub`], 'first\n'));
    assertOk(users(['passwd', 'carol', '--password-stdin'], 'second\r\n'));
    const hash = hashOf();
    assert.equal(await verifyPassword('second', hash), true);
    assert.equal(await verifyPassword('first', hash), false);
    assertOk(users(['passwd', 'carol', '--no-password']));
    assert.equal(hashOf(), null);
    assert.equal(showJson(users, 'carol').hasPassword, false);
  });

  test('quota sets sizes and unlimited, and show prints used, quota and free', () => {
    const r = users(['quota', 'carol', '1.5G']);
    assertOk(r);
    assert.match(r.stdout, /quota 1\.5 GiB, used 0 B, free 1\.5 GiB/);
    assert.equal(showJson(users, 'carol').quotaBytes, 1.5 * 1024 ** 3);
    assertOk(users(['quota', 'carol', 'unlimited']));
    assert.equal(showJson(users, 'carol').quotaBytes, null);
    const text = users(['show', 'carol']);
    assert.match(text.stdout, /^quota:\s+unlimited$/m);
    assert.match(text.stdout, /^free:\s+unlimited$/m);
  });

  test('key add, key list and key remove by index and by fingerprint', () => {
    const fp = (file: string) => execFileSync('ssh-keygen', ['-lf', file], { encoding: 'utf8' }).split(' ')[1]!;
    const both = `# two keys\n${readFileSync(`${ed}.pub`, 'utf8')}\n${readFileSync(`${rsa2048}.pub`, 'utf8')}`;
    const added = users(['key', 'add', 'carol', '-'], both);
    assertOk(added);
    assert.equal(added.stdout.trim().split('\n').length, 2);
    const listed = JSON.parse(users(['key', 'list', 'carol', '--json']).stdout);
    assert.deepEqual(listed.map((k: { fingerprint: string }) => k.fingerprint), [fp(`${ec}.pub`), fp(`${ed}.pub`), fp(`${rsa2048}.pub`)]);
    assert.deepEqual(listed.map((k: { type: string }) => k.type), ['ecdsa-sha2-nistp384', 'ssh-ed25519', 'ssh-rsa']);
    assert.equal(listed[1].comment, 'ed@test');
    const table = users(['key', 'list', 'carol']).stdout;
    assert.match(table, new RegExp(`^2\\s+${fp(`${ed}.pub`).replace(/[+/]/g, '\\$&')}\\s+ssh-ed25519\\s+256\\s+ed@test$`, 'm'));
    assertOk(users(['key', 'remove', 'carol', '2']));
    assertOk(users(['key', 'remove', 'carol', fp(`${rsa2048}.pub`)]));
    const left = JSON.parse(users(['key', 'list', 'carol', '--json']).stdout);
    assert.deepEqual(left.map((k: { fingerprint: string }) => k.fingerprint), [fp(`${ec}.pub`)]);
  });

  test('disable and enable', () => {
    assertOk(users(['disable', 'carol']));
    assert.equal(showJson(users, 'carol').disabled, true);
    assert.match(users(['list']).stdout, /^carol .* yes\s+never$/m);
    assertOk(users(['enable', 'carol']));
    assert.equal(showJson(users, 'carol').disabled, false);
  });

  test('add --disabled, and an unlimited quota at add', () => {
    assertOk(users(['add', 'dan', '--disabled', '--quota', 'unlimited', '--no-password', '--key', `${ed}.pub`]));
    const dan = showJson(users, 'dan');
    assert.equal(dan.disabled, true);
    assert.equal(dan.quotaBytes, null);
  });
});

describe('remove, purge, re-add and rescan', () => {
  const { root, users } = freshRoot();
  const home = join(root, 'homes', 'erin');

  test('rescan counts regular files only, never following symlinks', () => {
    assertOk(users(['add', 'erin', '--no-password', '--key', `${ed}.pub`, '--quota', '1M']));
    mkdirSync(join(home, 'a', 'b', 'c'), { recursive: true });
    writeFileSync(join(home, 'one'), Buffer.alloc(1000));
    writeFileSync(join(home, 'a', 'b', 'c', 'two'), Buffer.alloc(2345));
    const outside = join(tmp.path, 'big-outside');
    writeFileSync(outside, Buffer.alloc(100_000));
    symlinkSync(outside, join(home, 'link-to-file'));
    symlinkSync('/', join(home, 'a', 'link-to-root'));
    execFileSync('mkfifo', [join(home, 'fifo')]);
    const r = users(['rescan', 'erin']);
    assertOk(r);
    // Entries: every name below the home (files, folders, links, the FIFO), as find(1) lists them.
    const names = execFileSync('find', [home, '-mindepth', '1'], { encoding: 'utf8' }).trim().split('\n').length;
    assert.equal(names, 8);
    assert.match(r.stdout, /^erin: used 0 B -> 3\.3 KiB \(3345 bytes in 2 files\), entries 0 -> 8$/m);
    assert.equal(showJson(users, 'erin').usedBytes, 3345);
    assert.equal(showJson(users, 'erin').usedFiles, 8);
    const du = execFileSync('du', ['-b', '--apparent-size', '-s', '--exclude=link-*', '--exclude=fifo', home], { encoding: 'utf8' });
    assert.ok(Number(du.split('\t')[0]) >= 3345);
  });

  test('rescan without a name covers every user, through a deep tree', () => {
    let deep = home;
    for (let i = 0; i < 300; i++) deep = join(deep, 'd');
    mkdirSync(deep, { recursive: true });
    writeFileSync(join(deep, 'deepfile'), Buffer.alloc(10));
    assertOk(users(['add', 'fay', '--no-password', '--key', `${ed}.pub`]));
    const r = users(['rescan']);
    assertOk(r);
    assert.match(r.stdout, /^erin: used 3\.3 KiB -> 3\.3 KiB \(3355 bytes in 3 files\), entries 8 -> 309$/m);
    assert.match(r.stdout, /^fay: used 0 B -> 0 B/m);
  });

  test('remove keeps the home; add again reuses it and counts what is in it', () => {
    const r = users(['remove', 'erin']);
    assertOk(r);
    assert.match(r.stdout, /home folder kept at/);
    assert.ok(lstatSync(home).isDirectory());
    assertRefused(users(['show', 'erin']), /no such user 'erin'/);
    const again = users(['add', 'erin', '--no-password', '--key', `${ec}.pub`]);
    assertOk(again);
    assert.match(again.stdout, /existing folder kept, 3\.3 KiB in use, 309 entries/);
    assert.equal(showJson(users, 'erin').usedBytes, 3355);
    assert.equal(showJson(users, 'erin').usedFiles, 309);
  });

  test('remove --purge deletes the home, and not what its symlinks point to', () => {
    const outside = join(tmp.path, 'big-outside');
    assertOk(users(['remove', 'erin', '--purge']));
    assert.equal(existsSync(home), false);
    assert.equal(statSync(outside).size, 100_000);
    assert.deepEqual(JSON.parse(users(['list', '--json']).stdout).map((u: { name: string }) => u.name), ['fay']);
  });

  test('a home path that is not a folder refuses add', () => {
    writeFileSync(join(root, 'homes', 'gus'), 'not a folder');
    const before = stateSnapshot(root);
    assertRefused(users(['add', 'gus', '--no-password', '--key', `${ed}.pub`]), /exists and is not a folder/);
    assert.equal(stateSnapshot(root), before);
  });
});

describe('root, configuration, help', () => {
  test('--root after the command and COFFER_ROOT both work', () => {
    const { root } = freshRoot();
    assertOk(runCli('coffer-users', ['add', 'hal', '--root', root, '--no-password', '--key', `${ed}.pub`]));
    const r = runCli('coffer-users', ['list', '--json'], { env: { COFFER_ROOT: root } });
    assertOk(r);
    assert.deepEqual(JSON.parse(r.stdout).map((u: { name: string }) => u.name), ['hal']);
  });

  test('defaultQuota comes from coffer.json; a bad coffer.json is refused naming the key', () => {
    const { root, users } = freshRoot();
    writeFileSync(join(root, 'coffer.json'), JSON.stringify({ defaultQuota: '250M' }));
    assertOk(users(['add', 'ivy', '--no-password', '--key', `${ed}.pub`]));
    assert.equal(showJson(users, 'ivy').quotaBytes, 250 * 1024 * 1024);
    writeFileSync(join(root, 'coffer.json'), JSON.stringify({ defaultQuota: '250M', maxConection: 5 }));
    const before = stateSnapshot(root);
    assertRefused(users(['add', 'jo', '--no-password', '--key', `${ed}.pub`]), /unknown setting 'maxConection' \(did you mean maxConnections\?\)/);
    writeFileSync(join(root, 'coffer.json'), JSON.stringify({ defaultQuota: 'huge' }));
    assertRefused(users(['list']), /setting 'defaultQuota' bad size 'huge'/);
    assert.equal(stateSnapshot(root), before);
  });

  test('--help and --version exit 0; list on an empty root says how to add a user', () => {
    const help = runCli('coffer-users', ['--help']);
    assertOk(help);
    for (const c of ['add NAME', 'passwd NAME', 'quota NAME SIZE', 'key add', 'key list', 'key remove', 'list', 'show NAME', 'disable NAME', 'enable NAME', 'remove NAME', 'rescan']) {
      assert.ok(help.stdout.includes(c), `help lacks ${c}`);
    }
    assert.match(runCli('coffer-users', ['--version']).stdout, /^coffer-users \d+\.\d+\.\d+\n$/);
    const { users } = freshRoot();
    assert.match(users(['list']).stdout, /no users yet; add one with: coffer-users add NAME/);
  });
});
