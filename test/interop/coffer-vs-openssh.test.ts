/**
 * The coffer client against another server: OpenSSH's sshd (internal-sftp) on 127.0.0.1, started
 * here and stopped by its own PID. It has no check-file, so every transfer is verified with exec
 * sha256sum; its replies come from OpenSSH's own SFTP code, not Coffer's, which is what the
 * client's own framing of DATA replies (client/direct-reads.ts) must handle too.
 *
 * Needs root (sshd's privilege separation) and /usr/sbin/sshd (`.ci/run` installs
 * openssh-server); without them the suite is skipped with the reason.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanEnv, PROJECT } from '../support/run-cli.js';
import { makeClientKey, run, type RunResult } from '../support/ssh-clients.js';
import { freePort } from '../support/ports.js';

const SSHD = '/usr/sbin/sshd';
const MB = 1024 * 1024;
const skip = process.getuid?.() !== 0 ? 'needs root (sshd)' : !existsSync(SSHD) ? `${SSHD} is missing (apt-get install openssh-server)` : false;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('coffer client against OpenSSH sshd', { skip, timeout: 120_000 }, () => {
  let dir: string;
  let home: string;
  let remote: string;
  let port: number;
  let sshd: ChildProcess;
  let sshdLog = '';

  const coffer = (args: string[]): Promise<RunResult> =>
    run(process.execPath, [join(PROJECT, 'bin/coffer.js'), '-P', String(port), ...args], { env: cleanEnv({ HOME: home, SSH_AUTH_SOCK: '' }), timeoutMs: 60_000 });
  const at = (path: string) => `root@127.0.0.1:${join(remote, path)}`;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'coffer-vs-openssh-'));
    home = join(dir, 'home');
    remote = join(dir, 'remote');
    await mkdir(join(home, '.ssh'), { recursive: true, mode: 0o700 });
    await mkdir(remote);
    const key = await makeClientKey(join(home, '.ssh'), 'id_ed25519');
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
    await writeFile(join(dir, 'authorized_keys'), key.publicLine + '\n', { mode: 0o600 });
    await mkdir('/run/sshd', { recursive: true });
    port = await freePort();
    const config = [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_key')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'StrictModes no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'UsePAM no',
      'Subsystem sftp internal-sftp',
      // New keys every 2 MB each way: every transfer here crosses many server-started re-keys.
      'RekeyLimit 2M',
    ];
    await writeFile(join(dir, 'sshd_config'), config.join('\n') + '\n');
    // -D: stay in the foreground (its PID is ours to stop); -e: log to stderr, where it says when it listens.
    sshd = spawn(SSHD, ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      sshd.stderr!.on('data', (d: Buffer) => {
        sshdLog += d.toString();
        if (/Server listening on 127\.0\.0\.1/.test(sshdLog)) resolve();
      });
      sshd.once('exit', (code) => reject(new Error(`sshd exited (${code}): ${sshdLog}`)));
    });
  });

  after(async () => {
    if (sshd && sshd.exitCode === null) {
      sshd.kill('SIGTERM');
      await new Promise((r) => sshd.once('exit', r));
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('put and get a 24 MB file, each verified with exec sha256sum; ls -l and sum', async () => {
    const data = randomBytes(24 * MB + 123);
    await writeFile(join(dir, 'src.bin'), data);
    const put = await coffer(['put', '--accept-new-host-key', join(dir, 'src.bin'), at('up.bin')]);
    assert.equal(put.code, 0, put.stderr + sshdLog);
    assert.match(put.stdout, /^up\.bin 24576KB .* sha256 OK\n$/);
    assert.equal(sha(await readFile(join(remote, 'up.bin'))), sha(data));
    assert.ok(!existsSync(join(remote, 'up.bin.coffer-part')));
    const get = await coffer(['get', at('up.bin'), join(dir, 'back.bin')]);
    assert.equal(get.code, 0, get.stderr);
    assert.match(get.stdout, /^back\.bin 24576KB .* sha256 OK\n$/);
    assert.equal(sha(await readFile(join(dir, 'back.bin'))), sha(data));
    const ls = await coffer(['ls', '-l', at('')]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^-rw\S+ +\d+ +\S+ +\S+ +25165947 .* up\.bin$/m);
    const sum = await coffer(['sum', at('up.bin')]);
    assert.equal(sum.stdout, `${sha(data)}  ${join(remote, 'up.bin')}\n`);
  });

  it('transfers across the re-keys the server starts (RekeyLimit 2M): each intact, the session never dropped', async () => {
    // ssh2 sent requests under the old keys while the client's host key answer was pending in a
    // re-key, and sshd dropped the connection ("Bad packet length") about once per 30 re-keys.
    const data = randomBytes(40 * MB + 5);
    await writeFile(join(dir, 'rekey.bin'), data);
    for (let i = 0; i < 3; i++) {
      const put = await coffer(['put', '--debug', join(dir, 'rekey.bin'), at(`rekey${i}.bin`)]);
      assert.equal(put.code, 0, put.stderr.split('\n').filter((l) => !l.startsWith('debug:')).join('\n') + sshdLog.slice(-500));
      const get = await coffer(['get', '--debug', at(`rekey${i}.bin`), join(dir, `rekey-back${i}.bin`)]);
      assert.equal(get.code, 0, get.stderr.split('\n').filter((l) => !l.startsWith('debug:')).join('\n') + sshdLog.slice(-500));
      for (const r of [put, get]) assert.ok((r.stderr.match(/^debug: Handshake completed$/gm) ?? []).length >= 10, 'the server re-keyed');
      assert.equal(sha(await readFile(join(remote, `rekey${i}.bin`))), sha(data));
      assert.equal(sha(await readFile(join(dir, `rekey-back${i}.bin`))), sha(data));
    }
    assert.doesNotMatch(sshdLog, /Bad packet length|Connection corrupted/);
  });

  it('put -r and get -r of a tree of small files (4 at once, each with its own exec sha256sum) and a large one', async () => {
    const tree = join(dir, 'tree');
    await mkdir(join(tree, 'sub'), { recursive: true });
    const files: Array<[string, Buffer]> = [];
    for (let i = 0; i < 24; i++) files.push([`t${String(i).padStart(2, '0')}.bin`, randomBytes(i === 12 ? 6 * MB : i * 9_001)]);
    files.push([join('sub', 'inner.txt'), Buffer.from('inner\n')]);
    for (const [name, data] of files) await writeFile(join(tree, name), data);
    const put = await coffer(['put', '-r', '--accept-new-host-key', tree, at('tree')]);
    assert.equal(put.code, 0, put.stderr + sshdLog.slice(-500));
    assert.equal(put.stdout.match(/ sha256 OK$/gm)?.length, files.length);
    const get = await coffer(['get', '-r', at('tree'), join(dir, 'tree-back')]);
    assert.equal(get.code, 0, get.stderr + sshdLog.slice(-500));
    // Printed in listing order although several moved at once.
    const names = get.stdout.split('\n').filter((l) => / sha256 OK$/.test(l)).map((l) => l.split(' ')[0]);
    assert.deepEqual(names, ['inner.txt', ...files.slice(0, 24).map(([n]) => n)], "'sub' sorts before 't00.bin'");
    for (const [name, data] of files) {
      assert.equal(sha(await readFile(join(remote, 'tree', name))), sha(data), `remote ${name}`);
      assert.equal(sha(await readFile(join(dir, 'tree-back', name))), sha(data), `back ${name}`);
    }
  });

  it('an interrupted put resumes from its part file and ends with the right file', async () => {
    const data = randomBytes(12 * MB + 7);
    await writeFile(join(dir, 'big.bin'), data);
    // What an interrupted upload leaves: the first 5 MB under NAME.coffer-part.
    await writeFile(join(remote, 'big.bin.coffer-part'), data.subarray(0, 5 * MB));
    const put = await coffer(['put', join(dir, 'big.bin'), at('big.bin')]);
    assert.equal(put.code, 0, put.stderr);
    assert.match(put.stdout, /^Resuming big\.bin at 5242880 bytes\n/);
    assert.match(put.stdout, /sha256 OK\n$/);
    assert.equal(sha(await readFile(join(remote, 'big.bin'))), sha(data));
    assert.ok(!existsSync(join(remote, 'big.bin.coffer-part')));
    assert.equal(statSync(join(remote, 'big.bin')).size, data.length);
  });
});
