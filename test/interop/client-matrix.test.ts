/**
 * Issue 8 item 4: the client matrix. Every client the README names, against the real server (the
 * in-process one with the default routing table), each as its own user: log in, upload, list,
 * rename, download, remove, and compare the sha256 of the uploaded file (on the server's disk) and
 * of the downloaded file with the original. A client whose program is missing is skipped with the
 * reason; `.ci/run` installs them all (openssh-client, putty-tools, curl, lftp, rclone,
 * python3-paramiko).
 *
 * scp has no listing, rename or remove: OpenSSH scp and pscp -scp list by downloading a remote
 * glob (`*.bin`), curl's scp:// only uploads and downloads; pscp -sftp lists with -ls. Where a step
 * does not exist in a protocol, the test says so as a diagnostic.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { defaultRouter } from '../../src/server/routes.js';
import { commonOptions } from '../support/openssh.js';
import { cleanEnv, PROJECT } from '../support/run-cli.js';
import { makeClientKey, run, type ClientKey, type RunResult } from '../support/ssh-clients.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

const PW = 'matrix-pw-7';
const PYTHON = '/usr/bin/python3'; // the system python has paramiko; the pyenv one on PATH does not

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The path of `program` on PATH, or null. */
function which(program: string): string | null {
  if (program.startsWith('/')) return existsSync(program) ? program : null;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) if (dir && existsSync(join(dir, program))) return join(dir, program);
  return null;
}

/** How one client does each step (null: the protocol has no such operation). */
interface ClientSteps {
  upload(local: string, remote: string): Promise<RunResult>;
  /** Output that names every file of `/` (for scp: the files a glob download brought back). */
  list: ((into: string) => Promise<RunResult>) | null;
  rename: ((from: string, to: string) => Promise<RunResult>) | null;
  download(remote: string, local: string): Promise<RunResult>;
  remove: ((remote: string) => Promise<RunResult>) | null;
}

describe('client matrix', { timeout: 90_000 }, () => {
  let ts: TestServer;
  let work: string;
  let key: ClientKey;
  let hostFp: string;

  before(async () => {
    ts = await startTestServer({
      router: defaultRouter(),
      settings: { maxSessionsPerUser: 50, maxConnectionsPerIp: 200, maxConnections: 400, banThreshold: 0, idleTimeoutSeconds: 0 },
    });
    work = await mkdtemp(join(tmpdir(), 'coffer-matrix-'));
    key = await makeClientKey(work, 'id_ed25519');
    hostFp = ts.server.hostKeys.find((k) => k.type === 'ssh-ed25519')!.fingerprint;
  });
  after(async () => {
    await ts.close();
    await rm(work, { recursive: true, force: true });
  });

  /**
   * The common scenario. The file is a little over 1 MiB (several SFTP requests, a partial last
   * one) with a name containing a space where the client copes with one.
   */
  async function scenario(t: TestContext, user: string, steps: ClientSteps, opts: { name?: string } = {}): Promise<void> {
    await ts.addUser(user, { password: PW, keys: [key.publicLine] });
    const home = join(ts.root, 'homes', user);
    const dir = join(work, user);
    await mkdir(dir);
    const data = randomBytes(1024 * 1024 + 4321);
    const name = opts.name ?? 'up.bin';
    const renamed = 'renamed.bin';
    const local = join(dir, name);
    await writeFile(local, data);
    const ok = (r: RunResult, what: string) => assert.equal(r.code, 0, `${user} ${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);

    ok(await steps.upload(local, name), 'upload');
    assert.equal(sha(await readFile(join(home, name))), sha(data), 'uploaded file: same sha256 on the server');

    if (steps.list) {
      const listDir = join(dir, 'listing');
      await mkdir(listDir);
      const r = await steps.list(listDir);
      ok(r, 'list');
      const seen = r.stdout + '\n' + (await readdir(listDir)).join('\n');
      assert.ok(seen.includes(name), `the listing names ${name}: ${seen}`);
    } else t.diagnostic(`${user}: no listing in this protocol`);

    let remote = name;
    if (steps.rename) {
      ok(await steps.rename(name, renamed), 'rename');
      assert.deepEqual((await readdir(home)).sort(), [renamed], 'renamed on the server');
      remote = renamed;
    } else t.diagnostic(`${user}: no rename in this protocol`);

    const down = join(dir, 'down.bin');
    ok(await steps.download(remote, down), 'download');
    assert.equal(sha(await readFile(down)), sha(data), 'downloaded file: same sha256 as the original');

    if (steps.remove) {
      ok(await steps.remove(remote), 'remove');
      assert.deepEqual(await readdir(home), [], 'removed on the server');
    } else t.diagnostic(`${user}: no remove in this protocol`);
    await ts.logs.waitFor('auth.success', { user });
  }

  /** Skips (printing why) unless every program is installed; true when the test may go on. */
  function need(t: TestContext, ...programs: string[]): boolean {
    const missing = programs.filter((p) => !which(p));
    if (missing.length === 0) return true;
    const reason = `not installed: ${missing.join(', ')} (.ci/run installs it)`;
    t.diagnostic(reason);
    t.skip(reason);
    return false;
  }

  const at = (user: string) => `${user}@127.0.0.1`;
  const q = (s: string) => (/^[\w./-]+$/.test(s) ? s : `"${s}"`);

  // ---- OpenSSH ----

  it('OpenSSH sftp -b', async (t) => {
    if (!need(t, 'sftp')) return;
    const user = 'openssh-sftp';
    const sftp = (lines: string[]) => run('sftp', [...commonOptions(key), '-P', String(ts.port), '-b', '-', at(user)], { input: lines.join('\n') + '\n', timeoutMs: 30_000 });
    await scenario(t, user, {
      upload: (l, r) => sftp([`put ${q(l)} ${q(r)}`]),
      list: () => sftp(['ls -l']),
      rename: (a, b) => sftp([`rename ${q(a)} ${q(b)}`]),
      download: (r, l) => sftp([`get ${q(r)} ${q(l)}`]),
      remove: (r) => sftp([`rm ${q(r)}`]),
    }, { name: 'up load.bin' });
  });

  for (const legacy of [false, true]) {
    it(`OpenSSH scp ${legacy ? '-O (legacy scp protocol)' : '(SFTP protocol, the default)'}`, async (t) => {
      if (!need(t, 'scp')) return;
      const user = legacy ? 'openssh-scp-o' : 'openssh-scp';
      const scp = (...args: string[]) => run('scp', [...commonOptions(key), legacy ? '-O' : '-s', '-q', '-P', String(ts.port), ...args], { timeoutMs: 30_000 });
      await scenario(t, user, {
        upload: (l, r) => scp(l, `${at(user)}:${r}`),
        list: (into) => scp(`${at(user)}:*.bin`, into),
        rename: null,
        download: (r, l) => scp(`${at(user)}:${r}`, l),
        remove: null,
      });
    });
  }

  // ---- PuTTY: psftp and pscp (the SSH core of WinSCP and FileZilla) ----

  const putty = () => ['-batch', '-pw', PW, '-P', String(ts.port), '-hostkey', hostFp];

  it('PuTTY psftp -b', async (t) => {
    if (!need(t, 'psftp')) return;
    const user = 'psftp';
    const dir = join(work, 'psftp-batches');
    await mkdir(dir, { recursive: true });
    let n = 0;
    const psftp = async (lines: string[]) => {
      const batch = join(dir, `b${++n}`);
      await writeFile(batch, lines.join('\n') + '\n');
      return run('psftp', [...putty(), '-b', batch, at(user)], { timeoutMs: 30_000 });
    };
    await scenario(t, user, {
      upload: (l, r) => psftp([`put "${l}" "${r}"`]),
      list: () => psftp(['ls']),
      rename: (a, b) => psftp([`mv "${a}" "${b}"`]),
      download: (r, l) => psftp([`get "${r}" "${l}"`]),
      remove: (r) => psftp([`rm "${r}"`]),
    }, { name: 'up load.bin' });
  });

  for (const mode of ['-sftp', '-scp'] as const) {
    it(`PuTTY pscp ${mode}`, async (t) => {
      if (!need(t, 'pscp')) return;
      const user = `pscp${mode}`;
      const pscp = (...args: string[]) => run('pscp', [mode, '-q', ...putty(), ...args], { timeoutMs: 30_000 });
      await scenario(t, user, {
        upload: (l, r) => pscp(l, `${at(user)}:${r}`),
        // In scp mode pscp refuses the names a server-side glob brings back unless told -unsafe.
        list: mode === '-sftp' ? () => pscp('-ls', `${at(user)}:/`) : (into) => pscp('-unsafe', `${at(user)}:*.bin`, into),
        rename: null,
        download: (r, l) => pscp(`${at(user)}:${r}`, l),
        remove: null,
      });
    });
  }

  // ---- curl (libssh2) ----

  for (const scheme of ['sftp', 'scp'] as const) {
    it(`curl ${scheme}://`, async (t) => {
      if (!need(t, 'curl')) return;
      const user = `curl-${scheme}`;
      const url = (p: string) => `${scheme}://127.0.0.1:${ts.port}/${encodeURIComponent(p)}`;
      const curl = (...args: string[]) => run('curl', ['-sS', '--insecure', '-u', `${user}:${PW}`, ...args], { timeoutMs: 30_000 });
      const base = `${scheme}://127.0.0.1:${ts.port}/`;
      await scenario(t, user, {
        upload: (l, r) => curl('-T', l, url(r)),
        list: scheme === 'sftp' ? () => curl('-l', base) : null,
        rename: scheme === 'sftp' ? (a, b) => curl('-o', '/dev/null', '-Q', `rename /${a} /${b}`, base) : null,
        download: (r, l) => curl('-o', l, url(r)),
        remove: scheme === 'sftp' ? (r) => curl('-o', '/dev/null', '-Q', `rm /${r}`, base) : null,
      });
    });
  }

  // ---- lftp (sftp:// over the ssh program, password answered by lftp) ----

  it('lftp', async (t) => {
    if (!need(t, 'lftp', 'ssh')) return;
    const user = 'lftp';
    const lftp = (cmds: string) =>
      run('lftp', ['-c', [
        'set sftp:auto-confirm yes',
        'set sftp:connect-program "ssh -a -x -F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o PubkeyAuthentication=no"',
        'set net:max-retries 1',
        `open -u ${user},${PW} sftp://127.0.0.1:${ts.port}`,
        cmds,
      ].join('; ')], { timeoutMs: 30_000, env: { ...process.env, HOME: work } });
    await scenario(t, user, {
      upload: (l, r) => lftp(`put "${l}" -o "${r}"`),
      list: () => lftp('cls -1'),
      rename: (a, b) => lftp(`mv "${a}" "${b}"`),
      download: (r, l) => lftp(`get "${r}" -o "${l}"`),
      remove: (r) => lftp(`rm "${r}"`),
    });
  });

  // ---- rclone ----

  it('rclone', async (t) => {
    if (!need(t, 'rclone')) return;
    const user = 'rclone';
    const env = {
      ...process.env,
      RCLONE_CONFIG: '/dev/null',
      RCLONE_CONFIG_COFFER_TYPE: 'sftp',
      RCLONE_CONFIG_COFFER_HOST: '127.0.0.1',
      RCLONE_CONFIG_COFFER_PORT: String(ts.port),
      RCLONE_CONFIG_COFFER_USER: user,
      RCLONE_CONFIG_COFFER_KEY_FILE: key.privatePath,
    };
    const rclone = (...args: string[]) => run('rclone', args, { env, timeoutMs: 30_000 });
    await scenario(t, user, {
      upload: (l, r) => rclone('copyto', l, `coffer:${r}`),
      list: () => rclone('lsf', 'coffer:'),
      rename: (a, b) => rclone('moveto', `coffer:${a}`, `coffer:${b}`),
      download: (r, l) => rclone('copyto', `coffer:${r}`, l),
      remove: (r) => rclone('deletefile', `coffer:${r}`),
    }, { name: 'up load.bin' });
  });

  // ---- paramiko ----

  it('paramiko (system python)', async (t) => {
    if (!need(t, PYTHON)) return;
    const probe = spawnSync(PYTHON, ['-c', 'import paramiko'], { encoding: 'utf8' });
    if (probe.status !== 0) {
      const reason = `paramiko is not importable by ${PYTHON} (.ci/run installs python3-paramiko): ${probe.stderr.trim()}`;
      t.diagnostic(reason);
      return t.skip(reason);
    }
    const user = 'paramiko';
    const py = (body: string, ...args: string[]) =>
      run(PYTHON, ['-c', [
        'import paramiko, sys',
        't = paramiko.Transport(("127.0.0.1", int(sys.argv[1])))',
        't.connect(username=sys.argv[2], password=sys.argv[3])',
        's = paramiko.SFTPClient.from_transport(t)',
        body,
        's.close(); t.close()',
      ].join('\n'), String(ts.port), user, PW, ...args], { timeoutMs: 30_000 });
    await scenario(t, user, {
      upload: (l, r) => py('s.put(sys.argv[4], sys.argv[5])', l, r),
      list: () => py('print("\\n".join(s.listdir(".")))'),
      rename: (a, b) => py('s.rename(sys.argv[4], sys.argv[5])', a, b),
      download: (r, l) => py('s.get(sys.argv[4], sys.argv[5])', r, l),
      remove: (r) => py('s.remove(sys.argv[4])', r),
    }, { name: 'up load.bin' });
  });

  // ---- the coffer client ----

  it('coffer (bin/coffer.js)', async (t) => {
    const help = spawnSync(process.execPath, [join(PROJECT, 'bin', 'coffer.js'), '--help'], { encoding: 'utf8', env: cleanEnv() });
    if (help.status !== 0 || !/coffer put/.test(help.stdout)) {
      const reason = `the coffer client is not usable yet (--help: exit ${help.status}: ${(help.stderr || help.stdout).trim().split('\n')[0]})`;
      t.diagnostic(reason);
      return t.skip(reason);
    }
    const user = 'coffer';
    const clientHome = join(work, 'coffer-home');
    await mkdir(clientHome);
    const env = cleanEnv({ HOME: clientHome, COFFER_PASSWORD: PW });
    const coffer = (...args: string[]) => run(process.execPath, [join(PROJECT, 'bin', 'coffer.js'), '-P', String(ts.port), '--accept-new-host-key', ...args], { env, timeoutMs: 30_000 });
    const batch = async (lines: string[]) => {
      const file = join(clientHome, `batch-${Date.now()}-${Math.random().toString(36).slice(2)}`);
      await writeFile(file, lines.join('\n') + '\n');
      return coffer('-b', file, at(user));
    };
    await scenario(t, user, {
      upload: (l, r) => coffer('put', l, `${at(user)}:/${r}`),
      list: () => coffer('ls', `${at(user)}:/`),
      rename: (a, b) => batch([`mv "${a}" "${b}"`]),
      download: (r, l) => coffer('get', `${at(user)}:/${r}`, l),
      remove: (r) => batch([`rm "${r}"`]),
    }, { name: 'up load.bin' });
  });
});
