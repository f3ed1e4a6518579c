/**
 * The coffer client against the real server in-process: one-shot commands, every shell command
 * (in batch files), batch semantics, known_hosts cases, authentication, resume after SIGKILL of
 * running transfers of 200 MB, a corrupted part file, a verification mismatch (exit 3), Ctrl-C,
 * and progress output with and without a terminal.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, rename, truncate, unlink, writeFile } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { fingerprint, hostKeyName, knownHostsLine } from '../../src/client/known-hosts.js';
import { cleanEnv, PROJECT } from '../support/run-cli.js';
import { waitFor } from '../support/wait.js';
import { makeCompleter } from '../../src/client/completer.js';
import { runLine } from '../../src/client/shell.js';
import { freeSlabs } from '../../src/util/ssh-packets.js';
import { generateKeyPairSync } from '../../src/util/ssh-keygen.js';
import { at, coffer, makeFile, openSession, sha256File, spawnCoffer, startFixture, writeKnownHosts, type Fixture } from './support.js';

const MB = 1024 * 1024;

describe('one-shot commands', () => {
  let fx: Fixture;
  before(async () => {
    fx = await startFixture({ quota: 100 * MB });
  });
  after(() => fx.close());

  test('put then get a file: summary line, sha256 verified, modes 0644 or the local mode', async () => {
    const src = join(fx.work, 'data.bin');
    await makeFile(src, 3 * MB + 17);
    await chmod(src, 0o640);
    const put = await coffer(fx, ['put', src, ...at(fx, 'data.bin')]);
    assert.equal(put.status, 0, put.stderr);
    assert.match(put.stdout, /^data\.bin 3072KB \d+\.\ds [\d.]+[KMG]?B\/s sha256 OK\n$/);
    assert.equal(await sha256File(join(fx.aliceHome, 'data.bin')), await sha256File(src));
    assert.equal(statSync(join(fx.aliceHome, 'data.bin')).mode & 0o777, 0o640);
    assert.ok(!existsSync(join(fx.aliceHome, 'data.bin.coffer-part')));
    const get = await coffer(fx, ['get', ...at(fx, 'data.bin'), 'copy.bin']);
    assert.equal(get.status, 0, get.stderr);
    assert.match(get.stdout, /^copy\.bin 3072KB .* sha256 OK\n$/);
    assert.equal(await sha256File(join(fx.work, 'copy.bin')), await sha256File(src));
    assert.ok(!existsSync(join(fx.work, 'copy.bin.coffer-part')));
  });

  test('a world-writable local file arrives 0644, never 0666', async () => {
    const src = join(fx.work, 'open.txt');
    await writeFile(src, 'hello\n');
    await chmod(src, 0o666);
    const r = await coffer(fx, ['put', src, ...at(fx, '')]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(statSync(join(fx.aliceHome, 'open.txt')).mode & 0o777, 0o644);
  });

  test('options after the sub-command and the target, get into a folder', async () => {
    await writeFile(join(fx.aliceHome, 'opts.txt'), 'options anywhere\n');
    await mkdir(join(fx.work, 'into'));
    const r = await coffer(fx, ['get', `alice@127.0.0.1:opts.txt`, join(fx.work, 'into'), '-P', String(fx.server.port)]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(await readFile(join(fx.work, 'into', 'opts.txt'), 'utf8'), 'options anywhere\n');
  });

  test('sum prints the server hash like sha256sum, --algo md5 and sha512 too', async () => {
    await writeFile(join(fx.aliceHome, 'sum.txt'), 'abc');
    const r = await coffer(fx, ['sum', ...at(fx, 'sum.txt')]);
    assert.equal(r.stdout, 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  sum.txt\n');
    const md5 = await coffer(fx, ['sum', '--algo', 'md5', ...at(fx, 'sum.txt')]);
    assert.equal(md5.stdout, '900150983cd24fb0d6963f7d28e17f72  sum.txt\n');
    const sha512 = await coffer(fx, ['sum', '--algo=sha512', ...at(fx, '/sum.txt')]);
    assert.match(sha512.stdout, /^ddaf35a193617aba[0-9a-f]{112}  \/sum\.txt\n$/);
    const bad = await coffer(fx, ['sum', '--algo', 'crc9', ...at(fx, 'sum.txt')]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^coffer: error: unknown algorithm 'crc9'/);
  });

  test('ls and ls -l of a folder, df shows the quota', async () => {
    await mkdir(join(fx.aliceHome, 'lsdir'));
    await writeFile(join(fx.aliceHome, 'lsdir', 'b.txt'), 'bb');
    await writeFile(join(fx.aliceHome, 'lsdir', 'a.txt'), 'a');
    await writeFile(join(fx.aliceHome, 'lsdir', '.hidden'), '');
    const ls = await coffer(fx, ['ls', ...at(fx, 'lsdir')]);
    assert.equal(ls.stdout, 'a.txt\nb.txt\n');
    const long = await coffer(fx, ['ls', '-l', ...at(fx, '/lsdir')]);
    assert.match(long.stdout, /^-rw\S+ +\d+ +\S+ +\S+ +1 .* a\.txt\n-rw\S+ .* b\.txt\n$/);
    const df = await coffer(fx, ['df', ...at(fx)]);
    assert.equal(df.status, 0, df.stderr);
    const [head, values] = df.stdout.trimEnd().split('\n');
    assert.deepEqual(head!.trim().split(/\s+/), ['Size', 'Used', 'Avail', 'Use%']);
    const [size, used, avail, pct] = values!.trim().split(/\s+/);
    assert.equal(size, '100M');
    assert.match(used!, /^\d+(\.\d)?[KM]?$/);
    assert.match(avail!, /^\d+(\.\d)?M$/);
    assert.match(pct!, /^\d+%$/);
  });

  test('errors: one line, exit 1 for a missing file, 2 for bad usage, --help and --version', async () => {
    const missing = await coffer(fx, ['get', ...at(fx, 'nope.txt')]);
    assert.equal(missing.status, 1);
    assert.equal(missing.stderr, 'coffer: error: /nope.txt: No such file or directory\n');
    assert.ok(!existsSync(join(fx.work, 'nope.txt.coffer-part')));
    const usage = await coffer(fx, ['get', ...at(fx)]);
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /^coffer: error: .*names no remote path/);
    const unknown = await coffer(fx, ['--frobnicate', 'host']);
    assert.equal(unknown.status, 2);
    const dir = await coffer(fx, ['get', ...at(fx, 'lsdir')]);
    assert.equal(dir.status, 1);
    assert.match(dir.stderr, /is a directory \(use get -r\)/);
    const help = await coffer(fx, ['--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /coffer get \[-r\]/);
    const version = await coffer(fx, ['--version']);
    assert.match(version.stdout, /^coffer \d+\.\d+\.\d+\n$/);
  });

  test('get -r and put -r move folder trees, each file verified', async () => {
    const tree = join(fx.work, 'tree');
    await mkdir(join(tree, 'sub', 'deeper'), { recursive: true });
    await writeFile(join(tree, 'one.txt'), '1');
    await writeFile(join(tree, 'sub', 'two.txt'), '22');
    await makeFile(join(tree, 'sub', 'deeper', 'three.bin'), 300_000);
    const put = await coffer(fx, ['put', '-r', tree, ...at(fx, '')]);
    assert.equal(put.status, 0, put.stderr);
    assert.equal(put.stdout.match(/sha256 OK/g)?.length, 3);
    assert.equal(await readFile(join(fx.aliceHome, 'tree', 'sub', 'two.txt'), 'utf8'), '22');
    const back = await coffer(fx, ['get', '-r', ...at(fx, 'tree'), join(fx.work, 'back')]);
    assert.equal(back.status, 0, back.stderr);
    assert.equal(await sha256File(join(fx.work, 'back', 'sub', 'deeper', 'three.bin')), await sha256File(join(tree, 'sub', 'deeper', 'three.bin')));
    const noR = await coffer(fx, ['put', tree, ...at(fx, 'x')]);
    assert.equal(noR.status, 1);
    assert.match(noR.stderr, /use put -r/);
  });

  test('get -r and put -r of many small files (several at once) and a large one: all intact, lines in listing order', async () => {
    const tree = join(fx.work, 'many');
    await mkdir(join(tree, 'sub'), { recursive: true });
    const names: string[] = [];
    // Sizes from empty to more than one 255 KiB request; m15.bin is 5 MB, over SMALL_FILE.
    for (let i = 0; i < 30; i++) {
      const name = `m${String(i).padStart(2, '0')}.bin`;
      await makeFile(join(tree, name), i === 15 ? 5 * MB : (i * 37_003) % 600_000);
      names.push(name);
    }
    for (let i = 0; i < 5; i++) await writeFile(join(tree, 'sub', `s${i}.txt`), `sub ${i}\n`);
    // The walk's order: m00..m29 sort before the folder 'sub'.
    const order = [...names, ...[0, 1, 2, 3, 4].map((i) => `s${i}.txt`)];
    const put = await coffer(fx, ['put', '-r', tree, ...at(fx, '')]);
    assert.equal(put.status, 0, put.stderr);
    assert.deepEqual(put.stdout.split('\n').filter((l) => / sha256 OK$/.test(l)).map((l) => l.split(' ')[0]), order);
    assert.match(put.stdout, /: 35 files, \d+ bytes$/m);
    const back = join(fx.work, 'many-back');
    const get = await coffer(fx, ['get', '-r', ...at(fx, 'many'), back]);
    assert.equal(get.status, 0, get.stderr);
    assert.deepEqual(get.stdout.split('\n').filter((l) => / sha256 OK$/.test(l)).map((l) => l.split(' ')[0]), order);
    for (const n of names) assert.equal(await sha256File(join(back, n)), await sha256File(join(tree, n)), n);
    for (let i = 0; i < 5; i++) assert.equal(await readFile(join(back, 'sub', `s${i}.txt`), 'utf8'), `sub ${i}\n`);
    assert.deepEqual((await readdir(join(fx.aliceHome, 'many'))).filter((n) => n.endsWith('.coffer-part')), []);
  });

  test('put -r with a file that cannot be put: exit 1 naming it, the files before it done, no new file started after it', async () => {
    const tree = join(fx.work, 'broken');
    await mkdir(tree);
    const all = Array.from({ length: 40 }, (_, i) => `b${String(i).padStart(2, '0')}.txt`);
    for (const [i, n] of all.entries()) await writeFile(join(tree, n), `file ${i}\n`);
    // A folder where b05.txt must go: that file's rename fails.
    await mkdir(join(fx.aliceHome, 'broken', 'b05.txt'), { recursive: true });
    await writeFile(join(fx.aliceHome, 'broken', 'b05.txt', 'inside'), 'x');
    const r = await coffer(fx, ['put', '-r', tree, ...at(fx, '')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^coffer: error: rename \/broken\/b05\.txt\.coffer-part to \/broken\/b05\.txt: Is a directory$/m);
    // The five before it come first; it has no `sha256 OK` line: its bytes verified, but it is not in place.
    const ok = r.stdout.split('\n').filter((l) => / sha256 OK$/.test(l)).map((l) => l.split(' ')[0]!);
    assert.deepEqual(ok.slice(0, 5), all.slice(0, 5));
    assert.ok(!ok.includes('b05.txt'), r.stdout);
    // Files already moving when b05 failed finish; no later one starts (16 at once, 40 files).
    assert.ok(ok.length < all.length, `${ok.length} files printed`);
    const there = new Set(await readdir(join(fx.aliceHome, 'broken')));
    for (const n of all) {
      if (n === 'b05.txt') continue;
      if (ok.includes(n)) assert.equal(await readFile(join(fx.aliceHome, 'broken', n), 'utf8'), await readFile(join(tree, n), 'utf8'), n);
      else assert.ok(!there.has(n) && !there.has(`${n}.coffer-part`), `${n} was not started`);
    }
    assert.equal(await readFile(join(fx.aliceHome, 'broken', 'b05.txt', 'inside'), 'utf8'), 'x', 'the folder is untouched');
  });

  test('over quota: a one-line error, the part file kept, nothing under the final name', async () => {
    const src = join(fx.work, 'huge.bin');
    await makeFile(src, 120 * MB);
    const r = await coffer(fx, ['put', src, ...at(fx, 'huge.bin')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^coffer: error: huge\.bin: Quota exceeded; \d+ bytes kept in \/huge\.bin\.coffer-part/);
    assert.ok(existsSync(join(fx.aliceHome, 'huge.bin.coffer-part')));
    assert.ok(!existsSync(join(fx.aliceHome, 'huge.bin')));
  });
});

describe('shell commands and batch mode', () => {
  let fx: Fixture;
  before(async () => {
    fx = await startFixture();
  });
  after(() => fx.close());

  test('every shell command in one batch file', async () => {
    await writeFile(join(fx.work, 'up.txt'), 'uploaded\n');
    await mkdir(join(fx.work, 'ltree'));
    await writeFile(join(fx.work, 'ltree', 'f.txt'), 'tree file\n');
    await mkdir(join(fx.work, 'down'));
    const batch = [
      'pwd',
      'lpwd',
      'mkdir docs',
      'cd docs',
      'pwd',
      'put up.txt',
      'put -r ltree',
      'ls',
      'ls -l up.txt',
      'mv up.txt moved.txt',
      'sum moved.txt',
      'sum --algo md5 moved.txt',
      'lcd down',
      'lpwd',
      'get moved.txt',
      'get -r ltree',
      'lls',
      'rm moved.txt',
      'mkdir empty',
      'rmdir empty',
      'cd /',
      'df',
      'help',
      'quit',
      'pwd',
    ].join('\n');
    await writeFile(join(fx.work, 'cmds'), batch + '\n');
    const r = await coffer(fx, [...at(fx), '-b', 'cmds']);
    assert.equal(r.status, 0, r.stderr);
    const out = r.stdout;
    assert.match(out, /^coffer> pwd\nRemote working directory: \/\n/);
    assert.match(out, new RegExp(`Local working directory: ${fx.work}\n`));
    assert.match(out, /coffer> pwd\nRemote working directory: \/docs\n/);
    assert.match(out, /coffer> ls\nltree\nup\.txt\n/);
    assert.match(out, /coffer> ls -l up\.txt\n-rw-r--r-- .* up\.txt\n/);
    assert.match(out, /coffer> sum moved\.txt\n[0-9a-f]{64}  moved\.txt\n/);
    assert.match(out, /coffer> sum --algo md5 moved\.txt\n[0-9a-f]{32}  moved\.txt\n/);
    assert.match(out, /coffer> lls\nltree\nmoved\.txt\n/);
    assert.match(out, /coffer> df\n\s*Size\s+Used\s+Avail\s+Use%\n/);
    assert.match(out, /get \[-r\] remote \[local\]/);
    assert.ok(!out.includes('coffer> pwd\nRemote working directory: /\ncoffer> pwd'), 'commands after quit do not run');
    assert.equal(out.split('coffer> ').length - 1, 24);
    assert.equal(await readFile(join(fx.work, 'down', 'moved.txt'), 'utf8'), 'uploaded\n');
    assert.equal(await readFile(join(fx.work, 'down', 'ltree', 'f.txt'), 'utf8'), 'tree file\n');
    assert.deepEqual((await readdir(join(fx.aliceHome, 'docs'))).sort(), ['ltree']);
  });

  test('a batch stops at the first failing command and names it; a - prefix ignores a failure', async () => {
    await writeFile(join(fx.work, 'stop'), 'mkdir first\n-rm not-there\nget missing.txt\nmkdir never\n');
    const r = await coffer(fx, [...at(fx), '-b', join(fx.work, 'stop')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /error: \/not-there: No such file or directory\n/);
    assert.match(r.stderr, /coffer: error: batch line 3: 'get missing\.txt' failed: \/missing\.txt: No such file or directory\n$/);
    assert.ok(existsSync(join(fx.aliceHome, 'first')));
    assert.ok(!existsSync(join(fx.aliceHome, 'never')));
  });

  test('a batch from standard input (-b -) and a bad command (exit 2)', async () => {
    const r = await coffer(fx, [...at(fx), '-b', '-'], { input: 'pwd\nfrobnicate\npwd\n' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /batch line 2: 'frobnicate' failed: unknown command 'frobnicate'/);
    assert.equal(r.stdout.match(/Remote working directory/g)?.length, 1);
  });

  test('the shell without a terminal reads commands from stdin and keeps going after an error', async () => {
    const r = await coffer(fx, at(fx), { input: 'cd nowhere\npwd\nmkdir kept\n' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^error: \/nowhere: No such file or directory\n$/);
    assert.match(r.stdout, /coffer> pwd\nRemote working directory: \/\n/);
    assert.ok(existsSync(join(fx.aliceHome, 'kept')));
  });
});

describe('host keys and authentication', () => {
  let fx: Fixture;
  before(async () => {
    fx = await startFixture({ known: false, defaultKey: false });
  });
  after(() => fx.close());
  const khFile = () => join(fx.home, '.ssh', 'known_hosts');

  test('unknown host without a terminal and without the flag: refused, known_hosts untouched', async () => {
    await writeKnownHosts(fx.home, '');
    const r = await coffer(fx, ['ls', ...at(fx)], { env: { COFFER_PASSWORD: 'pw' } });
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`^coffer: error: the host \\[127\\.0\\.0\\.1\\]:${fx.server.port} is unknown \\(ED25519 key ${escape(fingerprint(fx.hostKey))}\\).*--accept-new-host-key`));
    assert.equal(await readFile(khFile(), 'utf8'), '');
  });

  test('--accept-new-host-key adds a [host]:port line; later runs need no flag', async () => {
    await writeKnownHosts(fx.home, '');
    const r = await coffer(fx, ['ls', '--accept-new-host-key', '-i', fx.key.privatePath, ...at(fx)]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /Permanently added '\[127\.0\.0\.1\]:\d+' \(ED25519\)/);
    assert.equal(await readFile(khFile(), 'utf8'), `[127.0.0.1]:${fx.server.port} ssh-ed25519 ${fx.hostKey.toString('base64')}\n`);
    assert.equal((await coffer(fx, ['ls', '-i', fx.key.privatePath, ...at(fx)])).status, 0);
  });

  test('hashed entries match, and a new entry in a hashed file is hashed', async () => {
    const name = hostKeyName('127.0.0.1', fx.server.port);
    await writeKnownHosts(fx.home, `${knownHostsLine(name, fx.hostKey, true)}\n`);
    assert.equal((await coffer(fx, ['ls', '-i', fx.key.privatePath, ...at(fx)])).status, 0);
    const other = `|1|${Buffer.alloc(20, 1).toString('base64')}|${Buffer.alloc(20, 2).toString('base64')} ssh-ed25519 ${fx.hostKey.toString('base64')}\n`;
    await writeKnownHosts(fx.home, other);
    const r = await coffer(fx, ['ls', '--accept-new-host-key', '-i', fx.key.privatePath, ...at(fx)]);
    assert.equal(r.status, 0, r.stderr);
    const lines = (await readFile(khFile(), 'utf8')).trim().split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[1]!, /^\|1\|[A-Za-z0-9+/=]{28}\|[A-Za-z0-9+/=]{28} ssh-ed25519 /);
    assert.ok(!lines[1]!.includes('127.0.0.1'));
  });

  test('a changed key is refused with both fingerprints, even with --accept-new-host-key', async () => {
    const impostor = generateKeyPairSync('ed25519');
    const parsed = ssh2.utils.parseKey(impostor.public);
    const old = (Array.isArray(parsed) ? parsed[0] : parsed) as { getPublicSSH(): Buffer };
    const text = `# comment\n[127.0.0.1]:${fx.server.port} ssh-ed25519 ${old.getPublicSSH().toString('base64')}\n`;
    await writeKnownHosts(fx.home, text);
    const r = await coffer(fx, ['ls', '--accept-new-host-key', '-i', fx.key.privatePath, ...at(fx)]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /REMOTE HOST IDENTIFICATION HAS CHANGED/);
    assert.ok(r.stderr.includes(fingerprint(old.getPublicSSH())), r.stderr);
    assert.ok(r.stderr.includes(fingerprint(fx.hostKey)), r.stderr);
    assert.ok(r.stderr.includes('known_hosts:2'), 'the line is named');
    assert.equal(await readFile(khFile(), 'utf8'), text);
  });

  test('on a terminal an unknown host is asked about with its fingerprint; "yes" adds it', { skip: !hasScript() }, async () => {
    await writeKnownHosts(fx.home, '');
    const r = await inTerminal(fx, ['ls', ...at(fx)], 'yes\n');
    assert.match(r, /The authenticity of host '\[127\.0\.0\.1\]:\d+' can't be established/);
    assert.ok(r.includes(`ED25519 key fingerprint is ${fingerprint(fx.hostKey)}.`));
    assert.match(await readFile(khFile(), 'utf8'), /ssh-ed25519/);
  });

  test('authentication: -i key, default ~/.ssh/id_ed25519, COFFER_PASSWORD, and a clear failure', async () => {
    await writeKnownHosts(fx.home, `${knownHostsLine(hostKeyName('127.0.0.1', fx.server.port), fx.hostKey, false)}\n`);
    const withKey = await coffer(fx, ['ls', '-i', fx.key.privatePath, ...at(fx)]);
    assert.equal(withKey.status, 0, withKey.stderr);
    const byPassword = await coffer(fx, ['ls', ...at(fx)], { env: { COFFER_PASSWORD: 'pw' } });
    assert.equal(byPassword.status, 0, byPassword.stderr);
    const wrong = await coffer(fx, ['ls', ...at(fx)], { env: { COFFER_PASSWORD: 'nope' } });
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /^coffer: error: authentication failed for alice@127\.0\.0\.1/);
    const none = await coffer(fx, ['ls', ...at(fx)]);
    assert.equal(none.status, 1);
    assert.match(none.stderr, /set COFFER_PASSWORD or use -i KEYFILE/);
    await writeFile(join(fx.home, '.ssh', 'id_ed25519'), await readFile(fx.key.privatePath), { mode: 0o600 });
    const byDefault = await coffer(fx, ['ls', ...at(fx)]);
    assert.equal(byDefault.status, 0, byDefault.stderr);
  });
});

describe('resume and verification', () => {
  let fx: Fixture;
  let corrupt = false;
  before(async () => {
    fx = await startFixture({ corruptCheckFile: () => corrupt });
  });
  after(() => fx.close());

  test('SIGKILL of a running put of 200 MB, rerun: resumes, right sha256, no partial under the final name', async () => {
    const src = join(fx.work, 'big-up.bin');
    await makeFile(src, 200 * MB);
    const part = join(fx.aliceHome, 'big-up.bin.coffer-part');
    const final = join(fx.aliceHome, 'big-up.bin');
    const run1 = spawnCoffer(fx, ['put', src, ...at(fx, 'big-up.bin')]);
    const watch = watchFinal(final, 200 * MB);
    await waitFor(() => sizeOf(part) >= 40 * MB, 30_000, 'the remote part to reach 40 MB');
    run1.child.kill('SIGKILL');
    await run1.done;
    await waitFor(() => fx.server.logs.raw.some((l) => l.includes('"direction":"upload"') && l.includes('big-up.bin')), 10_000, 'the server to log the transfer end');
    const kept = sizeOf(part);
    assert.ok(kept > 0 && kept < 200 * MB, `part ${kept}`);
    assert.ok(!existsSync(final));
    const run2 = await coffer(fx, ['put', src, ...at(fx, 'big-up.bin')]);
    watch.stop();
    assert.equal(run2.status, 0, run2.stderr);
    const resumed = /^Resuming big-up\.bin at (\d+) bytes$/m.exec(run2.stdout);
    assert.ok(resumed, run2.stdout);
    assert.ok(Number(resumed[1]) > 0 && Number(resumed[1]) <= kept);
    assert.match(run2.stdout, /sha256 OK/);
    assert.equal(await sha256File(final), await sha256File(src));
    assert.ok(!existsSync(part));
    assert.deepEqual(watch.violations, []);
  });

  test('SIGKILL of put -r and get -r into new folders, the same commands again: they continue in those folders (no copy inside)', async () => {
    // An existing destination folder receives a tree under the tree's name, as OpenSSH does; the
    // first run made the destination, so only its marker tells the rerun to continue there.
    const tree = join(fx.work, 'photos');
    await mkdir(tree);
    for (const n of ['a.txt', 'b.txt', 'c.txt']) await writeFile(join(tree, n), `${n}\n`);
    await makeFile(join(tree, 'big.bin'), 80 * MB);
    const up = ['put', '-r', tree, ...at(fx, 'album')];
    const run1 = spawnCoffer(fx, up);
    const upPart = join(fx.aliceHome, 'album', 'big.bin.coffer-part');
    await waitFor(() => sizeOf(upPart) >= 16 * MB, 30_000, 'the remote part of big.bin to reach 16 MB');
    run1.child.kill('SIGKILL');
    await run1.done;
    assert.equal(await readFile(join(fx.aliceHome, 'album', '.coffer-part'), 'utf8'), 'photos\n');
    const run2 = await coffer(fx, up);
    assert.equal(run2.status, 0, run2.stderr);
    assert.match(run2.stdout, /^Resuming big\.bin at \d+ bytes$/m);
    assert.ok(!existsSync(join(fx.aliceHome, 'album', 'photos')), 'no copy inside');
    for (const n of ['a.txt', 'b.txt', 'c.txt', 'big.bin']) assert.equal(await sha256File(join(fx.aliceHome, 'album', n)), await sha256File(join(tree, n)), n);
    assert.deepEqual((await readdir(join(fx.aliceHome, 'album'))).sort(), ['a.txt', 'b.txt', 'big.bin', 'c.txt'], 'marker and parts gone');

    const back = join(fx.work, 'album-back');
    const down = ['get', '-r', ...at(fx, 'album'), back];
    const run3 = spawnCoffer(fx, down);
    await waitFor(() => sizeOf(join(back, 'big.bin.coffer-part')) >= 16 * MB, 30_000, 'the local part of big.bin to reach 16 MB');
    run3.child.kill('SIGKILL');
    await run3.done;
    assert.equal(await readFile(join(back, '.coffer-part'), 'utf8'), 'album\n');
    const run4 = await coffer(fx, down);
    assert.equal(run4.status, 0, run4.stderr);
    assert.match(run4.stdout, /^Resuming big\.bin at \d+ bytes$/m);
    assert.ok(!existsSync(join(back, 'album')), 'no copy inside');
    assert.deepEqual((await readdir(back)).sort(), ['a.txt', 'b.txt', 'big.bin', 'c.txt']);
    assert.equal(await sha256File(join(back, 'big.bin')), await sha256File(join(tree, 'big.bin')));
    // Once done, the same command is OpenSSH's again: the existing folder gets a copy inside.
    const again = await coffer(fx, up);
    assert.equal(again.status, 0, again.stderr);
    assert.ok(existsSync(join(fx.aliceHome, 'album', 'photos', 'big.bin')));
  });

  test('SIGKILL of a running get of 200 MB, rerun: resumes, right sha256, no partial under the final name', async () => {
    const src = join(fx.aliceHome, 'big-down.bin');
    await makeFile(src, 200 * MB);
    const final = join(fx.work, 'big-down.bin');
    const part = `${final}.coffer-part`;
    const run1 = spawnCoffer(fx, ['get', ...at(fx, 'big-down.bin')]);
    const watch = watchFinal(final, 200 * MB);
    await waitFor(() => sizeOf(part) >= 40 * MB, 30_000, 'the local part to reach 40 MB');
    run1.child.kill('SIGKILL');
    await run1.done;
    const kept = sizeOf(part);
    assert.ok(kept > 0 && kept < 200 * MB, `part ${kept}`);
    const run2 = await coffer(fx, ['get', ...at(fx, 'big-down.bin')]);
    watch.stop();
    assert.equal(run2.status, 0, run2.stderr);
    assert.match(run2.stdout, new RegExp(`^Resuming big-down\\.bin at ${kept} bytes$`, 'm'));
    assert.equal(await sha256File(final), await sha256File(src));
    assert.ok(!existsSync(part));
    assert.deepEqual(watch.violations, []);
  });

  test('a network cut during a get and a put of 200 MB: exit 1 naming the lost connection, the part kept; the rerun resumes', async () => {
    // The connection goes through a proxy that resets both sides, as a dropped link would.
    const proxy = await cuttableProxy(fx.server.port);
    try {
      const via = (path: string) => ['--accept-new-host-key', '-P', String(proxy.port), `alice@127.0.0.1:${path}`];
      const src = join(fx.aliceHome, 'cut-down.bin');
      await makeFile(src, 200 * MB);
      const final = join(fx.work, 'cut-down.bin');
      const part = `${final}.coffer-part`;
      const get1 = spawnCoffer(fx, ['get', ...via('cut-down.bin')]);
      await waitFor(() => sizeOf(part) >= 40 * MB, 30_000, 'the local part to reach 40 MB');
      proxy.cut();
      const g1 = await get1.done;
      assert.equal(g1.status, 1, g1.stderr);
      assert.match(g1.stderr, /^coffer: error: cut-down\.bin: connection to 127\.0\.0\.1 port \d+ lost\b.*; \d+ bytes kept in \S+cut-down\.bin\.coffer-part, run the same command again to resume$/m);
      const kept = sizeOf(part);
      assert.ok(kept >= 40 * MB && kept < 200 * MB, `part ${kept}`);
      assert.ok(!existsSync(final));
      const get2 = await coffer(fx, ['get', ...at(fx, 'cut-down.bin')]);
      assert.equal(get2.status, 0, get2.stderr);
      assert.match(get2.stdout, new RegExp(`^Resuming cut-down\\.bin at ${kept} bytes$`, 'm'));
      assert.equal(await sha256File(final), await sha256File(src));

      const upPart = join(fx.aliceHome, 'cut-up.bin.coffer-part');
      const put1 = spawnCoffer(fx, ['put', final, ...via('cut-up.bin')]);
      await waitFor(() => sizeOf(upPart) >= 40 * MB, 30_000, 'the remote part to reach 40 MB');
      proxy.cut();
      const p1 = await put1.done;
      assert.equal(p1.status, 1, p1.stderr);
      assert.match(p1.stderr, /^coffer: error: cut-up\.bin: connection to 127\.0\.0\.1 port \d+ lost\b/m);
      assert.ok(!existsSync(join(fx.aliceHome, 'cut-up.bin')));
      const put2 = await coffer(fx, ['put', final, ...at(fx, 'cut-up.bin')]);
      assert.equal(put2.status, 0, put2.stderr);
      assert.match(put2.stdout, /^Resuming cut-up\.bin at [1-9]\d* bytes$/m);
      assert.equal(await sha256File(join(fx.aliceHome, 'cut-up.bin')), await sha256File(src));
    } finally {
      await proxy.close();
    }
  });

  test('a put resume whose checked part is renamed away or cut short before it is opened: an error, the good file untouched', async () => {
    // The window of d9c4df1: a second upload of the same file checks the part's prefix, the first
    // one finishes and renames the part into place, then the second opens the part. Opening it
    // with CREAT made a new sparse part that passed the segment checks and replaced the good file.
    const src = join(fx.work, 'race.bin');
    await makeFile(src, 3 * MB + 7);
    const whole = await readFile(src);
    const part = join(fx.aliceHome, 'race.bin.coffer-part');
    const final = join(fx.aliceHome, 'race.bin');
    const { conn, session } = await openSession(fx);
    const open = conn.ops.open.bind(conn.ops);
    let meddle: (() => Promise<void>) | null = null;
    conn.ops.open = async (path, flags, attrs) => {
      // Between the prefix check and this open, the other upload acts.
      if (path.endsWith('race.bin.coffer-part') && meddle) await meddle();
      return open(path, flags, attrs);
    };
    try {
      for (const [what, act] of [
        ['renamed into place', async () => (await writeFile(part, whole), await rename(part, final))],
        ['cut short', async () => (await unlink(final).catch(() => undefined), await truncate(part, MB / 2))],
      ] as const) {
        await writeFile(part, whole.subarray(0, MB));
        meddle = act;
        await assert.rejects(runLine(session, 'put race.bin'), /race\.bin\.coffer-part changed while the upload started \(is another upload of race\.bin running\?\)/, what);
        meddle = null;
        if (what === 'renamed into place') {
          assert.ok(!existsSync(part), 'no new part was made');
          assert.ok((await readFile(final)).equals(whole), 'the good file is untouched');
        } else assert.ok(!existsSync(final), 'nothing was renamed into place');
      }
      // Left alone, the same command resumes the short part and finishes.
      assert.equal(await runLine(session, 'put race.bin'), true);
      assert.ok((await readFile(final)).equals(whole));
    } finally {
      await conn.end();
    }
  });

  test('a corrupted part file is detected by its checksum: the transfer starts over and says so', async () => {
    const src = join(fx.aliceHome, 'corrupt.bin');
    await makeFile(src, 4 * MB);
    const final = join(fx.work, 'corrupt.bin');
    const good = await readFile(src);
    const bad = Buffer.from(good.subarray(0, 2 * MB));
    bad[1000] = bad[1000]! ^ 1;
    await writeFile(`${final}.coffer-part`, bad);
    const r = await coffer(fx, ['get', ...at(fx, 'corrupt.bin')]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^corrupt\.bin: the first 2097152 bytes of the part file differ from the source; starting over$/m);
    assert.ok(!r.stdout.includes('Resuming'));
    assert.equal(await sha256File(final), await sha256File(src));
    // The same for put: the remote part is checked with check-file.
    await writeFile(join(fx.aliceHome, 'up-corrupt.bin.coffer-part'), bad);
    const up = await coffer(fx, ['put', src, ...at(fx, 'up-corrupt.bin')]);
    assert.equal(up.status, 0, up.stderr);
    assert.match(up.stdout, /up-corrupt\.bin: the first 2097152 bytes of the part file differ from the source; starting over/);
    assert.equal(await sha256File(join(fx.aliceHome, 'up-corrupt.bin')), await sha256File(src));
    // A part longer than the source starts over too.
    await writeFile(`${final}.coffer-part`, Buffer.concat([good, Buffer.alloc(10)]));
    const longer = await coffer(fx, ['get', ...at(fx, 'corrupt.bin')]);
    assert.match(longer.stdout, /is longer than the source .* starting over/);
    assert.equal(longer.status, 0, longer.stderr);
  });

  test('a verification mismatch is exit status 3 with both hashes; the part file is kept, the target untouched', async () => {
    const src = join(fx.aliceHome, 'mismatch.bin');
    await makeFile(src, 1 * MB);
    corrupt = true;
    try {
      const r = await coffer(fx, ['get', ...at(fx, 'mismatch.bin')]);
      assert.equal(r.status, 3);
      const m = /^coffer: error: mismatch\.bin: checksum mismatch: local sha256 ([0-9a-f]{64}), server sha256 ([0-9a-f]{64}) \(kept .*mismatch\.bin\.coffer-part\)\n$/.exec(r.stderr);
      assert.ok(m, r.stderr);
      assert.equal(m[1], await sha256File(src));
      assert.notEqual(m[2], m[1]);
      assert.ok(existsSync(join(fx.work, 'mismatch.bin.coffer-part')));
      assert.ok(!existsSync(join(fx.work, 'mismatch.bin')));
      const up = await coffer(fx, ['put', src, ...at(fx, 'mismatch-up.bin')]);
      assert.equal(up.status, 3);
      assert.match(up.stderr, /checksum mismatch: local sha256 [0-9a-f]{64}, server sha256 [0-9a-f]{64}/);
      assert.ok(existsSync(join(fx.aliceHome, 'mismatch-up.bin.coffer-part')));
      assert.ok(!existsSync(join(fx.aliceHome, 'mismatch-up.bin')));
      const batch = await coffer(fx, [...at(fx), '-b', '-'], { input: `put ${src} mismatch-up.bin\n` });
      assert.equal(batch.status, 3, 'a batch keeps exit status 3');
    } finally {
      corrupt = false;
    }
    const again = await coffer(fx, ['get', ...at(fx, 'mismatch.bin')]);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /^Resuming mismatch\.bin at 1048576 bytes$/m);
  });

  test('--no-verify transfers without checksums and resumes blindly', async () => {
    const src = join(fx.aliceHome, 'nv.bin');
    await makeFile(src, 1 * MB);
    await writeFile(join(fx.work, 'nv.bin.coffer-part'), (await readFile(src)).subarray(0, 1000));
    const r = await coffer(fx, ['get', '--no-verify', ...at(fx, 'nv.bin')]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Resuming nv\.bin at 1000 bytes \(not checked: --no-verify\)/);
    assert.match(r.stdout, /\(not verified\)/);
    assert.equal(await sha256File(join(fx.work, 'nv.bin')), await sha256File(src));
  });

  test('SIGINT (Ctrl-C) stops a put cleanly: exit 130, the part kept and trimmed to contiguous data', async () => {
    const src = join(fx.work, 'int.bin');
    await makeFile(src, 150 * MB);
    const part = join(fx.aliceHome, 'int.bin.coffer-part');
    const run = spawnCoffer(fx, ['put', src, ...at(fx, 'int.bin')]);
    await waitFor(() => sizeOf(part) >= 10 * MB, 30_000, 'the remote part to grow');
    run.child.kill('SIGINT');
    const r = await run.done;
    assert.equal(r.status, 130, r.stderr);
    assert.match(r.stderr, /^coffer: error: int\.bin: interrupted; \d+ bytes kept in .*int\.bin\.coffer-part, run the same command again to resume$/m);
    const kept = Number(/(\d+) bytes kept/.exec(r.stderr)![1]);
    await waitFor(() => sizeOf(part) === kept, 5000, 'the part to be trimmed to the contiguous data');
    const head = (await readFile(src)).subarray(0, kept);
    assert.ok(head.equals((await readFile(part)).subarray(0, kept)));
  });
});

describe('servers without check-file', () => {
  let fx: Fixture;
  let bare: Fixture;
  before(async () => {
    fx = await startFixture({ hideCheckFile: true });
    bare = await startFixture({ hideCheckFile: true, noExec: true });
  });
  after(async () => {
    await fx.close();
    await bare.close();
  });

  test('exec sha256sum verifies instead; a put resumes (the part is hashed whole), a get cannot check a prefix and starts over', async () => {
    const src = join(fx.work, 'x.bin');
    await makeFile(src, 2 * MB);
    const put = await coffer(fx, ['put', src, ...at(fx, 'x.bin')]);
    assert.equal(put.status, 0, put.stderr);
    assert.match(put.stdout, /sha256 OK/);
    assert.ok(fx.server.logs.raw.some((l) => l.includes('"event":"exec"') && l.includes('sha256sum')), 'the server ran sha256sum');
    await writeFile(join(fx.aliceHome, 'y.bin.coffer-part'), (await readFile(src)).subarray(0, MB));
    const resumed = await coffer(fx, ['put', src, ...at(fx, 'y.bin')]);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stdout, /^Resuming y\.bin at 1048576 bytes$/m);
    assert.equal(await sha256File(join(fx.aliceHome, 'y.bin')), await sha256File(src));
    await writeFile(join(fx.work, 'x-copy.bin.coffer-part'), (await readFile(src)).subarray(0, MB));
    const get = await coffer(fx, ['get', ...at(fx, 'x.bin'), 'x-copy.bin']);
    assert.equal(get.status, 0, get.stderr);
    assert.match(get.stdout, /x-copy\.bin: the server cannot checksum the first 1048576 bytes .*; starting over/);
    assert.equal(await sha256File(join(fx.work, 'x-copy.bin')), await sha256File(src));
  });

  test('neither check-file nor exec: the error suggests --no-verify, which works', async () => {
    const src = join(bare.work, 'z.bin');
    await makeFile(src, 100_000);
    const r = await coffer(bare, ['put', src, ...at(bare, 'z.bin')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^coffer: error: the server cannot compute checksums .*rerun with --no-verify/);
    assert.ok(!existsSync(join(bare.aliceHome, 'z.bin')));
    const nv = await coffer(bare, ['put', '--no-verify', src, ...at(bare, 'z.bin')]);
    assert.equal(nv.status, 0, nv.stderr);
    assert.equal(await sha256File(join(bare.aliceHome, 'z.bin')), await sha256File(src));
  });
});

describe('in-process session: completion and the shell loop', () => {
  let fx: Fixture;
  before(async () => {
    fx = await startFixture();
  });
  after(() => fx.close());

  test('tab completion of commands, remote paths and local paths', async () => {
    await mkdir(join(fx.aliceHome, 'reports'));
    await writeFile(join(fx.aliceHome, 'reports', 'q1 final.pdf'), '');
    await writeFile(join(fx.aliceHome, 'readme.txt'), '');
    await writeFile(join(fx.work, 'local-notes.txt'), '');
    const { conn, session } = await openSession(fx);
    try {
      const complete = makeCompleter(session);
      assert.deepEqual(await complete('l'), [['lcd ', 'lchdir ', 'lls ', 'lpwd ', 'ls '], 'l']);
      assert.deepEqual(await complete('get re'), [['readme.txt', 'reports/'], 're']);
      assert.deepEqual(await complete('get reports/q'), [['reports/q1\\ final.pdf'], 'reports/q']);
      assert.deepEqual(await complete('get readme.txt loc'), [['local-notes.txt'], 'loc']);
      assert.deepEqual(await complete('put local-'), [['local-notes.txt'], 'local-']);
      assert.deepEqual(await complete('cd nothing/x'), [[], 'nothing/x']);
    } finally {
      await conn.end();
    }
  });

  test('both ends send their packets from the pool (ssh-packets.ts), and a transfer through them is intact', async () => {
    const src = join(fx.work, 'pooled.bin');
    await makeFile(src, 6 * MB + 5);
    const { conn, session } = await openSession(fx);
    try {
      const cipher = (conn.ssh as unknown as { _protocol: { _cipher: object } })._protocol._cipher;
      assert.ok(Object.prototype.hasOwnProperty.call(cipher, 'allocPacket'), `client cipher ${cipher.constructor.name} pooled`);
      assert.equal(await runLine(session, 'put pooled.bin'), true);
      assert.equal(await runLine(session, 'get pooled.bin back.bin'), true);
      // Server and client share this process's pool: slabs came back after their writes.
      assert.ok(freeSlabs() > 0, 'slabs came back to the pool');
      assert.equal(await sha256File(join(fx.aliceHome, 'pooled.bin')), await sha256File(src));
      assert.equal(await sha256File(join(fx.work, 'back.bin')), await sha256File(src));
    } finally {
      await conn.end();
    }
  });

  test('bin/coffer.js (the bundle) pools its packets, sends and reads requests from their buffers and reuses its receive buffers (--debug says so)', async () => {
    // The bundle is ssh2 as esbuild prints it: the in-process test above does not cover that.
    const src = join(fx.work, 'debug.bin');
    await makeFile(src, 2 * MB + 3);
    const r = await coffer(fx, ['put', '--debug', src, ...at(fx, 'debug.bin')]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^debug: cipher aes128-gcm@openssh\.com: outgoing packets in pooled buffers$/m);
    assert.match(r.stderr, /^debug: sftp: \d+-byte requests; reads framed into their buffers, writes sent from their buffers$/m);
    assert.equal(await sha256File(join(fx.aliceHome, 'debug.bin')), await sha256File(src));
    // A download reads its data into a reused buffer (receive-buffers.ts), and arrives intact.
    // 16 MB is at least 64 reads of file data; the dozen or so of the handshake and the other
    // replies are never reused.
    const big = join(fx.aliceHome, 'debug-big.bin');
    await makeFile(big, 16 * MB);
    const g = await coffer(fx, ['get', '--debug', ...at(fx, 'debug-big.bin'), 'debug-back.bin']);
    assert.equal(g.status, 0, g.stderr);
    const m = /^debug: received (\d+) reads, (\d+) of them into a reused buffer$/m.exec(g.stderr);
    assert.ok(m, g.stderr.slice(-500));
    assert.ok(Number(m[2]) >= 32, `${m[2]} of ${m[1]} reads reused`);
    assert.equal(await sha256File(join(fx.work, 'debug-back.bin')), await sha256File(big));
  });

  test('an error in one command leaves the session usable', async () => {
    const { conn, session, lines } = await openSession(fx);
    try {
      await assert.rejects(runLine(session, 'cd /missing'), /\/missing: No such file or directory/);
      await assert.rejects(runLine(session, 'get'), /usage: get \[-r\] remote \[local\]/);
      assert.equal(await runLine(session, 'pwd'), true);
      assert.equal(await runLine(session, 'exit'), false);
      assert.deepEqual(lines, ['Remote working directory: /']);
    } finally {
      await conn.end();
    }
  });
});

describe('progress output', () => {
  let fx: Fixture;
  before(async () => {
    fx = await startFixture();
  });
  after(() => fx.close());

  test('without a terminal: exactly one summary line per file', async () => {
    await makeFile(join(fx.aliceHome, 'p1.bin'), 2 * MB);
    await makeFile(join(fx.aliceHome, 'p2.bin'), 1000);
    const r = await coffer(fx, [...at(fx), '-b', '-'], { input: 'get p1.bin\nget p2.bin\n' });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!r.stdout.includes('\r'));
    const lines = r.stdout.split('\n').filter((l) => !l.startsWith('coffer> ') && l !== '');
    assert.equal(lines.length, 2);
    assert.match(lines[0]!, /^p1\.bin 2048KB \d+\.\ds [\d.]+[KMG]?B\/s sha256 OK$/);
    assert.match(lines[1]!, /^p2\.bin 1000B \d+\.\ds [\d.]+[KMG]?B\/s sha256 OK$/);
  });

  test('on a terminal: a bar redrawn with \\r showing name, percent, size, rate and the final time', { skip: !hasScript() }, async () => {
    await makeFile(join(fx.aliceHome, 'tty.bin'), 60 * MB);
    const out = await inTerminal(fx, ['get', ...at(fx, 'tty.bin')], '');
    const frames = out.split('\r').map((f) => f.trim()).filter(Boolean);
    const last = frames[frames.length - 1]!;
    assert.match(last, /^tty\.bin +100% +61440KB +[\d.]+[KMG]?B\/s +\d\d:\d\d sha256 OK$/);
    assert.ok(frames.some((f) => /^tty\.bin +\d+% /.test(f)), 'the bar was drawn');
    assert.equal(await sha256File(join(fx.work, 'tty.bin')), await sha256File(join(fx.aliceHome, 'tty.bin')));
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** A TCP proxy to 127.0.0.1:`target` whose `cut()` resets every connection through it (both ends). */
async function cuttableProxy(target: number): Promise<{ port: number; cut(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  };
  const server = createServer((inbound) => {
    const outbound = connect(target, '127.0.0.1');
    track(inbound);
    track(outbound);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const cut = () => {
    for (const s of sockets) s.resetAndDestroy();
  };
  return {
    port: (server.address() as { port: number }).port,
    cut,
    close: () => {
      cut();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function sizeOf(path: string): number {
  return statSync(path, { throwIfNoEntry: false })?.size ?? 0;
}

// Samples the final name while a transfer runs: it may only ever appear complete.
function watchFinal(path: string, size: number): { violations: string[]; stop(): void } {
  const violations: string[] = [];
  const timer = setInterval(() => {
    const st = statSync(path, { throwIfNoEntry: false });
    if (st && st.size !== size) violations.push(`${path} existed with ${st.size} bytes`);
  }, 5);
  return { violations, stop: () => clearInterval(timer) };
}

function hasScript(): boolean {
  return spawnSync('script', ['--version']).status === 0;
}

// Runs coffer under a pseudo-terminal (util-linux script), typing `input`; resolves with the output.
async function inTerminal(fx: Fixture, args: string[], input: string): Promise<string> {
  const cmd = [process.execPath, join(PROJECT, 'bin', 'coffer.js'), ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const { spawn } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', `stty cols 100; ${cmd}`, '/dev/null'], {
      env: cleanEnv({ HOME: fx.home, SSH_AUTH_SOCK: '', COFFER_PASSWORD: 'pw', TERM: 'xterm' }),
      cwd: fx.work,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (input && out.includes('(yes/no/[fingerprint])? ')) {
        child.stdin.write(input);
        input = '';
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      if (status !== 0) reject(new Error(`exit ${status}: ${out}`));
      else resolve(out);
    });
  });
}

