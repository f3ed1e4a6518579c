/**
 * Legacy scp end to end: OpenSSH 9.2 `scp -O` and PuTTY 0.78 `pscp -scp` against the in-process
 * server, up and down, single files and `-r` trees (nested folders, an empty folder, an empty
 * file, a 5 MB file, names with spaces and quotes), `-p` times and modes (setuid stripped), every
 * file compared by sha256. Then the refusals: paths outside the home, hostile records from a raw
 * ssh2 client, shell syntax, an over-quota upload (nothing beyond the quota stored, the ledger
 * equal to the disk), a client that never reads, and `legacyScp: false`.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ClientChannel } from 'ssh2';
import { addQuotaUser, assertSettled, bytes, diskBytes, homeOf, KiB, MiB, PASSWORD, startQuotaServer, type QuotaServer } from '../support/quota-helpers.js';
import { connect, run, type RunResult } from '../support/ssh-clients.js';
import { waitFor } from '../support/wait.js';

const SFTP_ONLY = 'This service allows SFTP only.';

/** What one entry of a tree looks like. */
interface Entry {
  kind: 'file' | 'dir';
  sha256?: string;
  mode: number;
  mtime: number;
}

/** Every entry below `root`, by relative path. */
async function walk(root: string, rel = ''): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>();
  for (const name of await readdir(join(root, rel))) {
    const path = rel ? `${rel}/${name}` : name;
    const st = await lstat(join(root, path));
    const base = { mode: st.mode & 0o7777, mtime: Math.floor(st.mtimeMs / 1000) };
    if (st.isDirectory()) {
      out.set(path, { kind: 'dir', ...base });
      for (const [k, v] of await walk(root, path)) out.set(k, v);
    } else out.set(path, { kind: 'file', sha256: createHash('sha256').update(await readFile(join(root, path))).digest('hex'), ...base });
  }
  return out;
}

/** Asserts `copy` holds what `original` holds (sha256 of every file); with -p also times and modes. */
async function assertSameTree(original: string, copy: string, opts: { preserved: boolean; dirTimes?: boolean }): Promise<number> {
  const a = await walk(original);
  const b = await walk(copy);
  assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort(), `${copy} has the same entries as ${original}`);
  for (const [path, e] of a) {
    const c = b.get(path)!;
    assert.equal(c.kind, e.kind, path);
    assert.equal(c.sha256, e.sha256, `${path}: same sha256`);
    assert.equal(c.mode & 0o7000, 0, `${path}: no setuid, setgid or sticky bit`);
    if (!opts.preserved) continue;
    if (e.kind === 'file' || opts.dirTimes) assert.equal(c.mtime, e.mtime, `${path}: mtime kept`);
    if (e.kind === 'file') assert.equal(c.mode, e.mode & 0o777, `${path}: mode kept (masked to 0777)`);
  }
  return a.size;
}

/** The tree the transfers use: nested folders, an empty folder and file, 5 MB, awkward names. */
async function makeTree(root: string): Promise<void> {
  await mkdir(join(root, 'sub', 'deeper'), { recursive: true });
  await mkdir(join(root, 'empty folder'));
  await writeFile(join(root, 'a.txt'), bytes(1000));
  await writeFile(join(root, 'empty'), '');
  await writeFile(join(root, 'big.bin'), bytes(5 * MiB));
  await writeFile(join(root, 'sub', 'x y.txt'), bytes(70 * KiB));
  await writeFile(join(root, 'sub', `it's "q".txt`), bytes(33));
  await writeFile(join(root, 'sub', 'deeper', 'setuid.sh'), bytes(10));
  await chmod(join(root, 'a.txt'), 0o640);
  await chmod(join(root, 'sub', 'deeper', 'setuid.sh'), 0o4755);
  let t = 1_600_000_000;
  for (const p of ['a.txt', 'empty', 'big.bin', 'sub/x y.txt', `sub/it's "q".txt`, 'sub/deeper/setuid.sh', 'sub/deeper', 'sub', 'empty folder']) {
    await utimes(join(root, p), t, t);
    t += 1000;
  }
}

describe('legacy scp with real clients', { timeout: 120_000 }, () => {
  let ts: QuotaServer;
  let home: string;
  let local: string;
  let hostFp: string;

  before(async () => {
    ts = await startQuotaServer();
    home = await addQuotaUser(ts, 'alice', null);
    hostFp = ts.server.hostKeys.find((k) => k.type === 'ssh-ed25519')!.fingerprint;
    local = join(ts.scratch, 'tree');
    await mkdir(local);
    await makeTree(local);
    // Canaries outside alice's home, where `..` would lead if the jail leaked.
    for (const dir of [join(ts.root, 'etc'), join(ts.root, 'homes', 'etc')]) {
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'keep'), 'canary');
    }
  });
  after(() => ts.close());

  const scp = (...args: string[]): Promise<RunResult> =>
    run('scp', [
      '-O', '-q', '-F', '/dev/null', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes',
      '-o', 'IdentitiesOnly=yes', '-i', ts.key.privatePath, '-P', String(ts.port), ...args,
    ], { timeoutMs: 30_000 });
  const pscp = (...args: string[]): Promise<RunResult> =>
    run('pscp', ['-scp', '-batch', '-q', '-pw', PASSWORD, '-P', String(ts.port), '-hostkey', hostFp, ...args], { timeoutMs: 30_000 });
  const ok = (r: RunResult, what: string) => assert.equal(r.code, 0, `${what} (stderr: ${r.stderr})`);
  const at = (user: string, path: string) => `${user}@127.0.0.1:${path}`;

  /** The canary folders still hold exactly their one file. */
  const assertCanaries = async () => {
    for (const dir of [join(ts.root, 'etc'), join(ts.root, 'homes', 'etc')]) {
      assert.deepEqual(await readdir(dir), ['keep'], `${dir} untouched`);
      assert.equal(await readFile(join(dir, 'keep'), 'utf8'), 'canary');
    }
  };

  it('scp -O: -r -p up and down keeps contents, times and modes (setuid stripped)', async () => {
    ok(await scp('-r', '-p', local, at('alice', '')), 'upload');
    const n = await assertSameTree(local, join(home, 'tree'), { preserved: true, dirTimes: true });
    assert.equal(n, 9);
    const down = join(ts.scratch, 'scp-down');
    ok(await scp('-r', '-p', at('alice', 'tree'), down), 'download');
    await assertSameTree(join(home, 'tree'), down, { preserved: true, dirTimes: true });
    const up = ts.logs.events('transfer', { protocol: 'scp', direction: 'upload', path: '/tree/big.bin' }).at(-1);
    assert.equal(up?.bytes, 5 * MiB);
    assert.equal(up?.outcome, 'ok');
    assert.equal(typeof up?.durationMs, 'number');
    assert.equal(ts.logs.events('transfer', { protocol: 'scp', direction: 'download', path: '/tree/big.bin' }).at(-1)?.outcome, 'ok');
  });

  it('scp -O: single files, without -p, quoted and escaped names, into a folder and to a new name', async () => {
    const src = join(local, 'sub', 'x y.txt');
    ok(await scp(src, at('alice', `'new name.txt'`)), 'upload to a quoted name');
    assert.deepEqual(await readFile(join(home, 'new name.txt')), await readFile(src));
    assert.equal((await stat(join(home, 'new name.txt'))).mode & 0o777, 0o644, 'mode less the umask, times not kept');
    await mkdir(join(home, 'inbox'));
    ok(await scp(join(local, 'sub', 'deeper', 'setuid.sh'), join(local, 'a.txt'), at('alice', 'inbox')), 'two files into a folder (-d)');
    assert.deepEqual((await readdir(join(home, 'inbox'))).sort(), ['a.txt', 'setuid.sh']);
    assert.equal((await stat(join(home, 'inbox', 'setuid.sh'))).mode & 0o7777, 0o755);
    const got = join(ts.scratch, 'got');
    await mkdir(got);
    ok(await scp(at('alice', `tree/sub/it\\'s\\ \\"q\\".txt`), got), 'download a backslash-escaped name');
    ok(await scp('-T', at('alice', `'tree/sub/x y.txt'`), join(got, 'copy.txt')), 'download a single-quoted name');
    ok(await scp(at('alice', '~/tree/a.txt'), join(got, 'tilde.txt')), 'download through ~/');
    ok(await scp(at('alice', 'tree/*.txt'), join(got)), 'download a pattern');
    assert.deepEqual(await readFile(join(got, `it's "q".txt`)), await readFile(join(local, 'sub', `it's "q".txt`)));
    assert.deepEqual(await readFile(join(got, 'copy.txt')), await readFile(src));
    assert.deepEqual(await readFile(join(got, 'tilde.txt')), await readFile(join(local, 'a.txt')));
    assert.deepEqual(await readFile(join(got, 'a.txt')), await readFile(join(local, 'a.txt')));
  });

  it('pscp -scp: -r -p up and down, and single files', async () => {
    ok(await pscp('-r', '-p', local, at('alice', 'ptree')), 'upload');
    await assertSameTree(local, join(home, 'ptree'), { preserved: true });
    const down = join(ts.scratch, 'pscp-down');
    ok(await pscp('-r', '-p', at('alice', 'ptree'), down), 'download');
    await assertSameTree(join(home, 'ptree'), down, { preserved: true });
    ok(await pscp(join(local, 'big.bin'), at('alice', 'pbig.bin')), 'single upload');
    ok(await pscp(at('alice', '/pbig.bin'), join(ts.scratch, 'pbig.bin')), 'single download');
    assert.deepEqual(await readFile(join(ts.scratch, 'pbig.bin')), await readFile(join(local, 'big.bin')));
    const missing = await pscp(at('alice', 'nothing-here'), join(ts.scratch, 'x'));
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /nothing-here: No such file or directory/);
  });

  it('refuses paths outside the home: they land inside it or nowhere', async () => {
    const src = join(local, 'a.txt');
    const outside = await scp(src, at('alice', '../../etc/x'));
    assert.notEqual(outside.code, 0);
    assert.match(outside.stderr, /etc\/x: No such file or directory/);
    const pOutside = await pscp(src, at('alice', '../etc/y'));
    assert.notEqual(pOutside.code, 0);
    ok(await scp(src, at('alice', '/../../../escaped.txt')), '/.. stops at the home');
    assert.deepEqual(await readFile(join(home, 'escaped.txt')), await readFile(src));
    const read = await scp(at('alice', '../../etc/keep'), join(ts.scratch, 'stolen'));
    assert.notEqual(read.code, 0);
    assert.match(read.stderr, /No such file or directory/);
    await assert.rejects(stat(join(ts.scratch, 'stolen')));
    const dirNoR = await scp(at('alice', 'tree'), join(ts.scratch, 'nodir'));
    assert.notEqual(dirNoR.code, 0);
    assert.match(dirNoR.stderr, /tree: not a regular file/);
    await assertCanaries();
  });

  /** Runs `command` on a raw exec channel, writes `input`, collects what comes back. */
  async function rawScp(command: string, input: Array<string | Buffer>, opts: { end?: boolean } = {}): Promise<{ code: number | null; out: Buffer; stderr: string }> {
    const client = await connect(ts.port, { username: 'alice', password: PASSWORD });
    try {
      return await new Promise((resolve, reject) => {
        client.exec(command, (err, ch) => {
          if (err) return reject(err);
          const out: Buffer[] = [];
          let stderr = '';
          let code: number | null = null;
          ch.on('data', (d: Buffer) => {
            out.push(d);
            // As scp and pscp do: a fatal error line ends the client's side.
            if (d.includes(2)) ch.end();
          });
          ch.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          ch.on('exit', (c: number | null) => (code = c));
          ch.on('close', () => resolve({ code, out: Buffer.concat(out), stderr }));
          for (const part of input) ch.write(part);
          if (opts.end) ch.end();
        });
      });
    } finally {
      client.end();
    }
  }

  it('refuses hostile records from a raw client: .., ., slashes, D without -r, endless lines, huge sizes', async () => {
    const before = await walk(home);
    const cases: Array<[string, Array<string | Buffer>, RegExp]> = [
      ['scp -t .', ['C0644 5 ../evil\nhello\0'], /\x02scp: error: unexpected filename: \.\.\/evil\n/],
      ['scp -r -t .', ['D0755 0 ..\n', 'C0644 5 evil\nhello\0E\n'], /\x02scp: error: unexpected filename: \.\.\n/],
      ['scp -r -t .', ['D0755 0 .\n'], /unexpected filename: \.\n/],
      ['scp -t .', ['C0644 5 a/b\nhello\0'], /unexpected filename: a\/b\n/],
      ['scp -t tree', ['C0644 5 /etc/evil\nhello\0'], /unexpected filename: \/etc\/evil\n/],
      ['scp -t .', ['C0644 5 \x1b[31mred\nhello\0'], /unexpected filename: \\x1b\[31mred\n/],
      ['scp -t .', ['D0755 0 sub\n'], /\x02scp: protocol error: received directory without -r\n/],
      ['scp -t .', ['C0644 ' + 'x'.repeat(10_000)], /\x02scp: protocol error: record too long\n/],
      ['scp -t .', ['C0644 99999999999999999999 huge\n'], /protocol error: size out of range\n/],
      ['scp -t .', ['Q\n'], /protocol error: expected control record\n/],
    ];
    for (const [command, input, expected] of cases) {
      const r = await rawScp(command, input);
      assert.equal(r.out[0], 0, `${command}: ready byte first`);
      assert.match(r.out.subarray(1).toString('latin1'), expected, JSON.stringify(input[0]).slice(0, 60));
      assert.equal(r.code, 1, `${command}: exit status 1`);
    }
    assert.deepEqual(await walk(home), before, 'nothing created or changed in the home');
    await assert.rejects(stat(join(ts.root, 'evil')));
    await assert.rejects(stat(join(ts.root, 'homes', 'evil')));
    await assertCanaries();
  });

  it('refuses shell syntax and unknown options on the command line, running nothing', async () => {
    for (const [command, why] of [
      ['scp -t .; touch pwned', 'shell syntax is not supported'],
      ['scp -t $(touch pwned)', 'shell syntax is not supported'],
      ['scp -S touch -t pwned', 'unsupported option -S'],
      ['scp pwned', 'exactly one of -t and -f is needed'],
    ] as const) {
      const r = await rawScp(command, [], { end: true });
      assert.equal(r.code, 1, command);
      assert.equal(r.stderr, `scp: ${why}\n`, command);
      assert.equal(r.out.length, 0, `${command}: no protocol bytes`);
    }
    await assert.rejects(stat(join(home, 'pwned')));
  });

  it('a client that declares a huge size and hangs up: the bytes sent are kept, the session ends with a line saying so', async () => {
    const r = await rawScp('scp -t .', ['C0644 9007199254740991 partial.bin\n', Buffer.alloc(100_000, 7)], { end: true });
    assert.equal(r.code, 1);
    assert.equal(r.out.toString('latin1'), '\0\0\x02scp: ./partial.bin: input ended after 100000 of 9007199254740991 bytes\n');
    assert.equal((await stat(join(home, 'partial.bin'))).size, 100_000);
    await waitFor(() => ts.logs.events('transfer', { protocol: 'scp', path: '/partial.bin', outcome: 'interrupted' }).length > 0, 5000, 'interrupted transfer logged');
    assert.equal(ts.logs.events('transfer', { path: '/partial.bin' })[0]!.bytes, 100_000);
    assert.ok(ts.logs.events('scp.fatal').some((l) => /partial\.bin: input ended/.test(String(l.reason))));
  });

  it('a client that never reads a download stalls only itself', async () => {
    const downloads = () => ts.logs.events('transfer', { protocol: 'scp', direction: 'download', path: '/tree/big.bin' });
    const started = ts.logs.events('scp.start', { mode: 'source' }).length;
    const finished = downloads().length;
    const client = await connect(ts.port, { username: 'alice', password: PASSWORD });
    try {
      const ch = await new Promise<ClientChannel>((resolve, reject) => client.exec('scp -f tree/big.bin', (err, c) => (err ? reject(err) : resolve(c))));
      ch.pause();
      ch.write(Buffer.from([0, 0]));
      await waitFor(() => ts.logs.events('scp.start', { mode: 'source' }).length > started, 5000, 'the stuck download to start');
      const other = join(ts.scratch, 'meanwhile.bin');
      ok(await scp(at('alice', 'tree/big.bin'), other), 'another download meanwhile');
      assert.deepEqual(await readFile(other), await readFile(join(local, 'big.bin')));
      assert.equal(downloads().length, finished + 1, 'only the other download finished');
    } finally {
      client.end();
    }
    await waitFor(() => downloads().some((l) => l.outcome === 'interrupted'), 5000, 'the stuck download to end with its connection');
  });

  it('an over-quota upload stops with "Quota exceeded", exits non-zero and stores nothing beyond the quota', async () => {
    const quota = 1 * MiB;
    const bobHome = await addQuotaUser(ts, 'bob', quota);
    const batch = join(ts.scratch, 'batch');
    await mkdir(batch);
    for (const n of ['1.bin', '2.bin', '3.bin', '4.bin']) await writeFile(join(batch, n), bytes(400 * KiB));
    const r = await scp('-r', batch, at('bob', ''));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Quota exceeded/);
    await assertSettled(ts, 'bob');
    assert.ok((await diskBytes(bobHome)) <= quota, 'nothing beyond the quota on disk');
    assert.ok(ts.admin.usage('bob')!.usedBytes <= quota, 'nor in the ledger');
    // The client sends in its readdir order: two files fit whole, the third is cut, the fourth never sent.
    const stored = await readdir(join(bobHome, 'batch'));
    assert.equal(stored.length, 3, `the upload stopped at the refusal (${stored.join(', ')})`);
    let whole = 0;
    for (const n of stored) {
      const [copy, orig] = [await readFile(join(bobHome, 'batch', n)), await readFile(join(batch, n))];
      assert.deepEqual(copy, orig.subarray(0, copy.length), `${n} is a prefix of the original`);
      if (copy.length === orig.length) whole += 1;
    }
    assert.equal(whole, 2);
    assert.ok(ts.logs.events('quota.refused', { op: 'scp' }).length > 0);

    const big = join(ts.scratch, 'three.bin');
    await writeFile(big, bytes(3 * MiB));
    const p = await pscp(big, at('bob', 'three.bin'));
    assert.notEqual(p.code, 0);
    assert.match(p.stderr, /Quota exceeded/);
    const single = await scp(big, at('bob', 'three-again.bin'));
    assert.notEqual(single.code, 0);
    assert.match(single.stderr, /three-again\.bin: Quota exceeded/);
    const disk = await assertSettled(ts, 'bob');
    assert.ok(disk <= quota, `disk ${disk} <= quota ${quota}`);
  });

  it('legacyScp: false refuses scp like any other command', async () => {
    const off = await startQuotaServer({ legacyScp: false });
    try {
      await addQuotaUser(off, 'alice', null);
      const client = await connect(off.port, { username: 'alice', password: PASSWORD });
      const r = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
        client.exec('scp -t .', (err, ch) => {
          if (err) return reject(err);
          let stderr = '';
          let code: number | null = null;
          ch.resume();
          ch.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          ch.on('exit', (c: number | null) => (code = c));
          ch.on('close', () => resolve({ code, stderr }));
        });
      });
      client.end();
      assert.equal(r.code, 1);
      assert.equal(r.stderr, `${SFTP_ONLY}\n`);
      const real = await run('scp', [
        '-O', '-F', '/dev/null', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes',
        '-i', off.key.privatePath, '-P', String(off.port), join(local, 'a.txt'), 'alice@127.0.0.1:',
      ]);
      assert.notEqual(real.code, 0);
      assert.ok(real.stderr.includes(SFTP_ONLY), real.stderr);
      assert.deepEqual(await readdir(homeOf(off, 'alice')), []);
    } finally {
      await off.close();
    }
  });
});
