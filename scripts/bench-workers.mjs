#!/usr/bin/env node
// Aggregate throughput with workers (issue 18, item 5): `node scripts/bench-workers.mjs [OPTIONS]`.
// Not part of `npm test`.
//
// N concurrent downloads of one SIZE file, then N concurrent uploads of SIZE each, by N stock
// `sftp -b` clients at once, against: Coffer with workers 1, Coffer with workers 2, and OpenSSH's
// sshd (internal-sftp, ChrootDirectory), one server at a time on 127.0.0.1. Reports aggregate
// MiB/s (N x SIZE / wall time from the first start to the last exit, login included), the
// server's CPU seconds (its cgroup: every process, the workers and sshd's per-session children)
// and the cores that makes, and the machine's load at the start of each phase: the clients
// (N sftp processes, each one ssh process doing the crypto) run on the same cores as the server.
// Downloads go to /dev/null, uploads are checked for size and deleted.
//
// Needs root (sshd's chroot, the system user `coffer-bench` as scripts/bench.mjs creates it),
// /usr/sbin/sshd, the OpenSSH client, a built dist/. Exit status 0 when it ran, 1 on failure,
// 2 for bad options, 130 on Ctrl-C.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { installCleanup, onCleanup, removeOnCleanup, trackChild, untrackChild } from './lib/cleanup.mjs';
import { addUser, cofferEnv, commitId, PROJECT, serverArgs } from './lib/coffer.mjs';
import { memoryTmpdir, writeRandomFile } from './lib/files.mjs';
import { freePort, log, run, ScriptError } from './lib/process.mjs';
import { procCpu } from './lib/procfs.mjs';
import { attachOutput, makeCgroup, spawnServer, stopServer, waitForLine } from './lib/servers.mjs';
import { table } from './lib/table.mjs';

const MiB = 1024 * 1024;
const SSHD = '/usr/sbin/sshd';
const SYS_USER = 'coffer-bench';
const COFFER_USER = 'bench';
const TARGETS = ['coffer-1', 'coffer-2', 'openssh'];

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '256' },
    streams: { type: 'string', default: '8' },
    only: { type: 'string' },
    quick: { type: 'boolean' },
    help: { type: 'boolean' },
  },
});
if (values.help) {
  process.stdout.write(`usage: node scripts/bench-workers.mjs [--size MIB] [--streams N] [--only ${TARGETS.join(',')}] [--quick]\n  (default: 8 streams of 256 MiB; --quick: 4 of 32 MiB)\n`);
  process.exit(0);
}
const sizeMiB = values.quick ? 32 : Number(values.size);
const streams = values.quick ? 4 : Number(values.streams);
const only = values.only ? values.only.split(',') : TARGETS;
if (!Number.isInteger(sizeMiB) || sizeMiB < 1 || !Number.isInteger(streams) || streams < 1 || streams > 64 || only.some((t) => !TARGETS.includes(t))) {
  process.stderr.write(`bench-workers: bad options (--size MiB >= 1, --streams 1..64, --only among ${TARGETS.join(',')})\n`);
  process.exit(2);
}
const size = sizeMiB * MiB;

installCleanup('bench-workers', 'stopping the servers and removing temp files');

function mkdir0755(p) {
  mkdirSync(p, { recursive: true, mode: 0o755 });
  chmodSync(p, 0o755);
}

/** The sshd system user (bench.mjs creates it the same way); its uid and gid. */
function systemUser() {
  if (spawnSync('id', ['-u', SYS_USER]).status !== 0) {
    run('useradd', ['--system', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', '--password', '*', SYS_USER]);
  }
  return { uid: Number(run('id', ['-u', SYS_USER]).stdout.trim()), gid: Number(run('id', ['-g', SYS_USER]).stdout.trim()) };
}

/** CPU seconds of a server: its cgroup, else the /proc times of the PIDs it reported. */
function serverCpu(s) {
  if (s.cgroup) return s.cgroup.read();
  return [s.proc.pid, ...(s.pids ?? [])].reduce((sum, pid) => sum + (procCpu(pid) || 0), 0);
}

async function startCoffer(env, workers) {
  const root = join(env.work, `coffer-${workers}`);
  const home = join(root, 'homes', COFFER_USER);
  mkdirSync(home, { recursive: true, mode: 0o700 });
  copyFileSync(env.src, join(home, 'big.bin'));
  addUser(root, COFFER_USER, { keyPub: `${env.key}.pub` });
  const cgroup = makeCgroup(`coffer-bench-workers-${process.pid}-${workers}`);
  const s = spawnServer(`Coffer workers ${workers}`, process.execPath, serverArgs(root, { extra: ['--workers', String(workers), '--max-sessions-per-user', '64'] }), { cgroup, oneProcess: workers === 1, env: cofferEnv(), cwd: PROJECT });
  s.pids = [];
  let starts = 0;
  attachOutput(s, (line) => {
    try {
      const j = JSON.parse(line);
      if (j.event === 'start') starts++, j.pid !== process.pid && s.pids.push(j.pid);
      return j.level >= 40 ? line : null;
    } catch {
      return line.trim() ? line : null;
    }
  });
  s.port = await waitForLine(s, (l) => (starts >= workers && /"event":"start"/.test(l) ? JSON.parse(l).port : null), `${workers} start line(s)`, 60_000);
  if (workers === 1) s.pids = [];
  Object.assign(s, { user: COFFER_USER, home });
  return s;
}

async function startOpenSSH(env, owner) {
  const dir = join(env.work, 'openssh');
  const jail = join(dir, 'jail');
  const home = join(jail, 'home');
  mkdir0755(jail);
  mkdirSync(home, { mode: 0o755 });
  copyFileSync(env.src, join(home, 'big.bin'));
  chownSync(home, owner.uid, owner.gid);
  chownSync(join(home, 'big.bin'), owner.uid, owner.gid);
  if (!existsSync('/run/sshd')) {
    mkdir0755('/run/sshd');
    onCleanup(() => rmdirSync('/run/sshd'));
  }
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'coffer-bench-host', '-f', join(dir, 'host_ed25519')]);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${env.key}.pub`));
  const port = await freePort();
  const config = join(dir, 'sshd_config');
  writeFileSync(config, [
    'ListenAddress 127.0.0.1', `Port ${port}`, `HostKey ${join(dir, 'host_ed25519')}`, `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`, 'UsePAM no', 'StrictModes no', 'PasswordAuthentication no',
    'KbdInteractiveAuthentication no', 'PermitRootLogin no', `AllowUsers ${SYS_USER}`, 'UseDNS no', 'MaxStartups 64:30:128',
    'MaxSessions 64', 'Subsystem sftp internal-sftp', `Match User ${SYS_USER}`, `  ChrootDirectory ${jail}`, '  ForceCommand internal-sftp -d /home', '',
  ].join('\n'));
  run(SSHD, ['-t', '-f', config]);
  const cgroup = makeCgroup(`coffer-bench-workers-${process.pid}-openssh`);
  const s = spawnServer('OpenSSH internal-sftp', SSHD, ['-D', '-e', '-f', config], { cgroup, env: { PATH: process.env.PATH }, cwd: dir });
  attachOutput(s, (line) => (/error|fatal/i.test(line) ? line : null));
  await waitForLine(s, (l) => /Server listening on 127\.0\.0\.1 port/.test(l), 'listening');
  Object.assign(s, { port, user: SYS_USER, home });
  return s;
}

/** One `sftp -b` run; rejects with its stderr when it fails. */
function sftp(env, server, line) {
  const batch = join(env.data, `batch-${Math.random().toString(36).slice(2)}`);
  writeFileSync(batch, line + '\n');
  const args = ['-b', batch, '-F', '/dev/null', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR',
    '-o', 'IdentitiesOnly=yes', '-i', env.key, '-P', String(server.port), `${server.user}@127.0.0.1`];
  return new Promise((resolve, reject) => {
    const p = trackChild(spawn('sftp', args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: env.data }));
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code, signal) => {
      untrackChild(p);
      unlinkSync(batch);
      if (code === 0) resolve();
      else reject(new ScriptError(`sftp to ${server.name} failed (${signal ?? code}) on '${line}': ${stderr.trim().slice(-500)}`));
    });
  });
}

/** N clients at once; { mibs, cpu, cores, seconds, load }. */
async function phase(env, server, kind) {
  const load = loadavg()[0];
  const cpu0 = serverCpu(server);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: streams }, (_, i) => sftp(env, server, kind === 'down' ? 'get big.bin /dev/null' : `put ${env.src} up-${i}.bin`)),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = serverCpu(server) - cpu0;
  if (kind === 'up') {
    for (let i = 0; i < streams; i++) {
      const f = join(server.home, `up-${i}.bin`);
      const got = statSync(f).size;
      if (got !== size) throw new ScriptError(`${server.name}: upload ${i} has ${got} bytes, expected ${size}`);
      unlinkSync(f);
    }
  }
  return { mibs: (streams * sizeMiB) / seconds, cpu, cores: cpu / seconds, seconds, load };
}

async function main() {
  if (process.getuid?.() !== 0) throw new ScriptError('must run as root (sshd chroot)');
  if (!existsSync(join(PROJECT, 'dist/src/cli/server/main.js'))) throw new ScriptError('dist/ is missing: run npm run build first');
  const owner = systemUser();
  const benchDir = join(PROJECT, '.bench');
  if (!existsSync(benchDir)) onCleanup(() => rmdirSync(benchDir));
  mkdir0755(benchDir);
  const work = join(benchDir, `workers-${process.pid}`);
  removeOnCleanup(work);
  mkdir0755(work);
  const data = mkdtempSync(join(memoryTmpdir(), 'coffer-bench-workers-'));
  removeOnCleanup(data);
  const env = { work, data, key: join(work, 'client_ed25519'), src: join(data, 'src.bin') };
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'coffer-bench-client', '-f', env.key]);
  await writeRandomFile(env.src, size);
  const ssh = spawnSync('ssh', ['-V'], { encoding: 'utf8' }).stderr.trim();
  log(`Coffer commit ${commitId()}, node ${process.version}, ${ssh}; ${availableParallelism()} x ${cpus()[0]?.model ?? '?'}; load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  log(`${streams} concurrent downloads of one ${sizeMiB} MiB file, then ${streams} concurrent uploads of ${sizeMiB} MiB, stock sftp clients on the same machine`);
  const rows = [];
  for (const target of only) {
    const server = target === 'openssh' ? await startOpenSSH(env, owner) : await startCoffer(env, Number(target.split('-')[1]));
    try {
      await sftp(env, server, 'pwd'); // warm-up
      for (const kind of ['down', 'up']) {
        const r = await phase(env, server, kind);
        log(`${server.name} ${kind}: ${r.mibs.toFixed(0)} MiB/s, server CPU ${r.cpu.toFixed(1)} s (${r.cores.toFixed(2)} cores), ${r.seconds.toFixed(1)} s, load ${r.load.toFixed(2)}`);
        rows.push([server.name, kind === 'down' ? `${streams} x download` : `${streams} x upload`, r.mibs.toFixed(0), r.cpu.toFixed(1), r.cores.toFixed(2), (r.cpu / ((streams * sizeMiB) / 1024)).toFixed(2), r.load.toFixed(1)]);
      }
    } finally {
      await stopServer(server);
    }
  }
  const header = ['server', 'transfer', 'MiB/s (all)', 'server CPU s', 'server cores', 'CPU s/GiB', 'load at start'];
  process.stdout.write('\n' + table([header, ...rows], ['l', 'l']) + '\n');
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench-workers: error: ${err.message}\n`);
    process.exit(1);
  },
);
