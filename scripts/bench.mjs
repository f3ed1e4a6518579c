#!/usr/bin/env node
// Coffer vs OpenSSH benchmark (issue 4, item 6): `npm run bench [-- OPTIONS]`. Not part of `npm test`.
//
// Starts OpenSSH's sshd (internal-sftp, ChrootDirectory) and Coffer side by side on 127.0.0.1 and
// drives both with the same stock `sftp -b` client, in interleaved rounds (A B, B A, A B ...), then
// prints the median of each figure and the Coffer/OpenSSH ratio against the issue's targets.
// Method as in /work/shared/research/bench-baseline.md: bulk times are net of the median
// empty-session time of the same server and round; downloads go to /dev/shm.
//
// Needs root (sshd's chroot and its system user `coffer-bench`, created if missing), /usr/sbin/sshd,
// the OpenSSH client, and a built dist/ (npm install, or npx tsc -p .).
// Exit status: 0 when the bench ran (targets missed or not: it is a report), 1 when it failed
// (a server did not start, a transfer failed, a hash did not match), 2 for bad options, 130 on Ctrl-C.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync, chownSync, closeSync, copyFileSync, createReadStream, createWriteStream, existsSync, mkdirSync,
  mkdtempSync, openSync, readdirSync, readFileSync, rmSync, rmdirSync, statSync, unlinkSync, writeFileSync,
} from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { formatSummary, summarizeProfile } from './bench/cpuprofile.mjs';
import {
  cleanup, installCleanup, isInterrupted, onCleanup, removeOnCleanup, trackChild, untrackChild,
} from './lib/cleanup.mjs';
import { addUser, cofferEnv, commitId, PROJECT, serverArgs, startPort } from './lib/coffer.mjs';
import { memoryTmpdir, writeRandomFile } from './lib/files.mjs';
import { startPostgresStore, useDatabase } from './lib/postgres.mjs';
import { sha256File } from './lib/hash.mjs';
import { freePort, log, onPath, run, ScriptError as BenchError, sleep } from './lib/process.mjs';
import { childrenCpu, CLK_TCK } from './lib/procfs.mjs';
import { attachOutput, makeCgroup, spawnServer, stopServer, waitForLine } from './lib/servers.mjs';
import { median } from './lib/stats.mjs';
import { table } from './lib/table.mjs';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const SSHD = '/usr/sbin/sshd';
const SYS_USER = 'coffer-bench';
const COFFER_USER = 'bench';
const GCM = 'aes128-gcm@openssh.com';

// ---------------------------------------------------------------------------------------------
// Options

/** The per-file and metadata figures (issue 20): `--only small`. */
const SMALL_FIGS = ['small-put', 'small-get', 'stat', 'rename', 'small-rm', 'mkdir', 'rmdir', 'list'];
const ALL_FIGS = ['login', 'up-default', 'down-default', 'up-gcm', 'down-gcm', 'par4-down', ...SMALL_FIGS];

const HELP = `usage: npm run bench [-- OPTIONS]     (or: node scripts/bench.mjs OPTIONS)

Benchmarks Coffer against OpenSSH's sshd (internal-sftp, ChrootDirectory) on 127.0.0.1 with the
stock sftp client: bulk upload/download (default cipher and ${GCM}), 4 parallel downloads,
small files, a large listing and login latency. Prints medians and Coffer/OpenSSH ratios.

  --quick            small sizes and 1 round (a fast check that everything works)
  --rounds N         interleaved rounds (default 5; --quick: 1)
  --warmup N         untimed rounds of the per-file figures before those (default 5; --quick: 0):
                     both servers run the same work first, so the figures are a long-running
                     server's steady state (Coffer's JIT compiled, both servers' caches warm)
  --size MIB         bulk file size in MiB (default 512; --quick: 64)
  --only LIST        comma-separated figures to run (login always runs, the others are net of it):
                     ${ALL_FIGS.filter((f) => f !== 'login').join(',')}
                     or 'small' for the per-file figures (${SMALL_FIGS.join(',')})
  --profile [LIST]   after the run, profile the Coffer server (node --cpu-prof) during each figure
                     that missed its target (or the figures in LIST) and print where the time goes
  --profile-dir DIR  keep the .cpuprofile files in DIR (default: deleted with the temp files)
  --coffer-log-level LEVEL   Coffer's logLevel during the bench (default info, the production default)
  --floor            also measure a bare ssh2 SFTP server (scripts/bench/ssh2-floor.mjs: ssh2's own
                     SFTP, one fs call per request, no jail, quota, store or logs) in the same
                     rounds, and print what the stack Coffer is built on costs before Coffer's work
  --store sqlite|postgres    Coffer's store (default sqlite, the embedded default; postgres: a
                     PostgreSQL 15 started for the run, as the tests start it)
  --help

Needs root (sshd chroot, system user '${SYS_USER}' created if missing), ${SSHD}, sftp, and a built dist/.`;

function parseArgs(argv) {
  const o = { quick: false, rounds: null, warmup: null, sizeMiB: null, only: null, profile: null, profileDir: null, cofferLogLevel: 'info', store: 'sqlite', floor: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--help' || a === '-h') {
      process.stdout.write(HELP + '\n');
      process.exit(0);
    } else if (a === '--quick') o.quick = true;
    else if (a === '--rounds') o.rounds = positiveInt(next(), a);
    else if (a.startsWith('--rounds=')) o.rounds = positiveInt(a.slice(9), '--rounds');
    else if (a === '--warmup') o.warmup = nonNegativeInt(next(), a);
    else if (a.startsWith('--warmup=')) o.warmup = nonNegativeInt(a.slice(9), '--warmup');
    else if (a === '--size') o.sizeMiB = positiveInt(next(), a);
    else if (a.startsWith('--size=')) o.sizeMiB = positiveInt(a.slice(7), '--size');
    else if (a === '--only') o.only = figList(next(), a);
    else if (a.startsWith('--only=')) o.only = figList(a.slice(7), '--only');
    else if (a === '--profile') {
      o.profile = 'missed';
      if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) o.profile = figList(argv[++i], a);
    } else if (a.startsWith('--profile=')) o.profile = figList(a.slice(10), '--profile');
    else if (a === '--profile-dir') o.profileDir = resolve(next());
    else if (a === '--coffer-log-level') o.cofferLogLevel = next();
    else if (a === '--floor') o.floor = true;
    else if (a === '--store') {
      o.store = next();
      if (o.store !== 'sqlite' && o.store !== 'postgres') usage(`--store takes sqlite or postgres, not '${o.store}'`);
    } else usage(`unknown option '${a}'`);
  }
  if (o.profileDir && !o.profile) o.profile = 'missed';
  const rounds = o.rounds ?? (o.quick ? 1 : 5);
  // Without a bulk figure the big files are only set-up cost: 4 MiB then, unless --size says.
  const bulk = !o.only || o.only.some((f) => !SMALL_FIGS.includes(f));
  const size = (o.sizeMiB ?? (o.quick ? 64 : bulk ? 512 : 4)) * MiB;
  if (size % (4 * MiB) !== 0) usage('--size must be a multiple of 4 (MiB)');
  return {
    ...o,
    rounds,
    // Five: after one round (500 files) Coffer's per-file CPU was still falling round after round
    // (V8 had not optimised its OPEN and CLOSE paths yet); after four or six it had settled.
    warmup: o.warmup ?? (o.quick ? 0 : 5),
    size,
    smallFiles: 500,
    smallSize: 4096,
    listEntries: 5000,
    listRepeat: 5,
    stats: 1000,
    folders: 500,
    logins: o.quick ? 6 : 10,
    loginGapMs: 250,
    figs: ALL_FIGS.filter((f) => f === 'login' || !o.only || o.only.includes(f)),
  };
}

function usage(msg) {
  process.stderr.write(`bench: error: ${msg}\n\n${HELP}\n`);
  process.exit(2);
}
function positiveInt(s, name) {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) usage(`${name} wants a positive integer, not '${s}'`);
  return n;
}
function nonNegativeInt(s, name) {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0) usage(`${name} wants a whole number, not '${s}'`);
  return n;
}
function figList(s, name) {
  const list = s.split(',').map((x) => x.trim()).filter(Boolean).flatMap((x) => (x === 'small' ? SMALL_FIGS : [x]));
  for (const f of list) if (!ALL_FIGS.includes(f)) usage(`${name}: unknown figure '${f}' (one of ${ALL_FIGS.join(', ')})`);
  return list;
}

installCleanup('bench', 'stopping the servers and removing temp files');

// ---------------------------------------------------------------------------------------------
// Setup

function checkPrerequisites() {
  if (process.getuid?.() !== 0) throw new BenchError(`must run as root: sshd's ChrootDirectory and its system user '${SYS_USER}' need it`);
  for (const f of [SSHD, join(PROJECT, 'dist/src/cli/server/main.js'), join(PROJECT, 'bin/coffer-server.js')]) {
    if (!existsSync(f)) throw new BenchError(`${f} is missing${f.includes('dist') ? ' (run npm install or npx tsc -p . first)' : ''}`);
  }
  for (const cmd of ['sftp', 'ssh', 'ssh-keygen', 'useradd']) {
    if (!onPath(cmd)) throw new BenchError(`'${cmd}' not found on PATH`);
  }
}

/** The system user sshd needs; created (no home, no shell login, not locked) if missing. */
function ensureSystemUser() {
  let r = spawnSync('id', ['-u', SYS_USER], { encoding: 'utf8' });
  if (r.status !== 0) {
    log(`creating system user '${SYS_USER}' for sshd (useradd --system)`);
    run('useradd', ['--system', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', '--password', '*', SYS_USER]);
    r = spawnSync('id', ['-u', SYS_USER], { encoding: 'utf8' });
  }
  const uid = Number(r.stdout.trim());
  const gid = Number(run('id', ['-g', SYS_USER]).stdout.trim());
  // With UsePAM no, sshd refuses a locked account ('!' password) even for keys.
  const status = spawnSync('passwd', ['-S', SYS_USER], { encoding: 'utf8' });
  if (/^\S+\s+L\b/.test(status.stdout ?? '')) run('usermod', ['--password', '*', SYS_USER]);
  return { uid, gid };
}

/** sshd refuses a ChrootDirectory unless every component is root-owned and not group/other-writable. */
function checkChrootPath(path) {
  for (let p = path; ; p = dirname(p)) {
    const st = statSync(p);
    if (st.uid !== 0 || (st.mode & 0o022) !== 0) {
      throw new BenchError(`sshd would refuse ChrootDirectory ${path}: ${p} is ${st.uid !== 0 ? `owned by uid ${st.uid}` : `mode ${(st.mode & 0o777).toString(8)}`} (needs root-owned, not group/other-writable)`);
    }
    if (p === dirname(p)) break;
  }
}

function mkdir0755(p) {
  mkdirSync(p, { recursive: true, mode: 0o755 });
  chmodSync(p, 0o755);
}

/**
 * Marks `dir` as a top of directory hierarchies (chattr +T, ext2/3/4), so ext4's Orlov allocator
 * puts each folder made in it (each server's tree) in a block group of its own. Why: on ext4
 * without a journal (this machine's root filesystem), creating a file skips every inode of its
 * group freed in the last minute or more (fs/ext4/ialloc.c, recently_deleted()), one buffer-cache
 * lookup each. With the three servers in one group, each one's put paid for the others' removals
 * in the rounds before, in whatever order they came. Apart, each server meets only its own
 * removals, the same number for all (its own creates still slow down as they pile up within a
 * run). True if it took.
 */
function spreadFolders(dir) {
  return spawnSync('chattr', ['+T', dir], { stdio: 'ignore' }).status === 0;
}

/**
 * Where `path`'s inode is: "group G" (inode number - 1 divided by the inodes per group, from
 * dumpe2fs -h of the device findmnt names), or "inode N" where the device cannot be read (a
 * container): inodes far apart lie in different groups.
 */
function inodeGroup(path) {
  const ino = statSync(path).ino;
  const dev = spawnSync('findmnt', ['-n', '-o', 'SOURCE', '--target', path], { encoding: 'utf8' }).stdout?.trim();
  const head = dev ? spawnSync('dumpe2fs', ['-h', dev], { encoding: 'utf8' }).stdout ?? '' : '';
  const perGroup = Number(/^Inodes per group:\s+(\d+)/m.exec(head)?.[1]);
  return perGroup > 0 ? `group ${Math.floor((ino - 1) / perGroup)}` : `inode ${ino}`;
}

/** Copies [start, start+len) of src to dst. */
async function copyRange(src, dst, start, len) {
  const out = createWriteStream(dst);
  for await (const chunk of createReadStream(src, { start, end: start + len - 1, highWaterMark: 4 * MiB })) {
    if (!out.write(chunk)) await new Promise((r) => out.once('drain', r));
  }
  await new Promise((r, j) => out.end((e) => (e ? j(e) : r())));
}

/** The server-side files both homes start with: big.bin, four parts for par4, the listing folder. */
async function populateHome(home, env, owner) {
  copyFileSync(env.src, join(home, 'big.bin'));
  const part = env.opts.size / 4;
  for (let i = 0; i < 4; i++) await copyRange(env.src, join(home, `part${i}.bin`), i * part, part);
  const list = join(home, 'list');
  mkdirSync(list, { mode: 0o755 });
  for (let i = 0; i < env.opts.listEntries; i++) closeSync(openSync(join(list, `entry-${String(i).padStart(5, '0')}.txt`), 'w', 0o644));
  if (owner) {
    chownSync(home, owner.uid, owner.gid);
    for (const f of readdirSync(home)) chownSync(join(home, f), owner.uid, owner.gid);
    for (const f of readdirSync(list)) chownSync(join(list, f), owner.uid, owner.gid);
  }
}

async function startOpenSSH(env, owner) {
  const dir = join(env.work, 'openssh');
  const jail = join(dir, 'jail');
  const home = join(jail, 'home');
  mkdir0755(dir);
  mkdir0755(jail);
  mkdirSync(home, { mode: 0o755 });
  await populateHome(home, env, owner);
  checkChrootPath(jail);
  if (!existsSync('/run/sshd')) {
    mkdir0755('/run/sshd'); // sshd's privilege-separation folder
    onCleanup(() => rmdirSync('/run/sshd')); // only if empty
  }
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'coffer-bench-host', '-f', join(dir, 'host_ed25519')]);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(env.key + '.pub'));
  const config = join(dir, 'sshd_config');
  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    writeFileSync(config, [
      'ListenAddress 127.0.0.1',
      `Port ${port}`,
      `HostKey ${join(dir, 'host_ed25519')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'UsePAM no',
      'StrictModes no',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin no',
      `AllowUsers ${SYS_USER}`,
      'AllowTcpForwarding no',
      'X11Forwarding no',
      'PermitTTY no',
      'UseDNS no',
      'LogLevel INFO',
      'MaxStartups 64:30:128',
      'Subsystem sftp internal-sftp',
      `Match User ${SYS_USER}`,
      `  ChrootDirectory ${jail}`,
      '  ForceCommand internal-sftp -d /home',
      '',
    ].join('\n'));
    run(SSHD, ['-t', '-f', config]);
    const cgroup = makeCgroup(`coffer-bench-${process.pid}-openssh-${attempt}`);
    const s = spawnServer('OpenSSH', SSHD, ['-D', '-e', '-f', config], { cgroup, env: { PATH: process.env.PATH }, cwd: dir });
    attachOutput(s, (line) => (/error|fatal|refused|not allowed/i.test(line) ? line : null));
    try {
      await waitForLine(s, (l) => /Server listening on 127\.0\.0\.1 port/.test(l), 'listening');
      Object.assign(s, { port, user: SYS_USER, home, key: env.key });
      return s;
    } catch (e) {
      lastError = e;
      await stopServer(s);
      if (!/Address already in use|Bind to port/.test(s.lines.join('\n'))) throw e;
    }
  }
  throw lastError;
}

async function startCoffer(env, { profileDir = null } = {}) {
  const root = join(env.work, 'coffer');
  const home = join(root, 'homes', COFFER_USER);
  if (!existsSync(home)) {
    // The home is filled before `add`, which counts an existing home's files as the user's usage.
    mkdirSync(join(root, 'homes'), { recursive: true, mode: 0o755 });
    mkdirSync(home, { mode: 0o700 });
    await populateHome(home, env, null);
    if (env.opts.store === 'postgres') useDatabase(root, await startPostgresStore());
    addUser(root, COFFER_USER, { keyPub: env.key + '.pub' });
  }
  const nodeArgs = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const cgroup = profileDir ? null : makeCgroup(`coffer-bench-${process.pid}-coffer-${env.cofferStarts++}`);
  const s = spawnServer('Coffer', process.execPath, [...nodeArgs, ...serverArgs(root, { logLevel: env.opts.cofferLogLevel })], { cgroup, oneProcess: true, env: cofferEnv(), cwd: PROJECT });
  attachOutput(s, (line) => {
    // Info and debug lines (pino's JSON starts with the level) are not parsed: the bench shares the
    // 2 cores with the clients, and a parse per transfer line would slow only Coffer's rounds.
    if (line.startsWith('{"level":30,') || line.startsWith('{"level":20,')) return null;
    try {
      const j = JSON.parse(line);
      return j.level >= 40 ? line : null; // pino: 40 warn, 50 error, 60 fatal
    } catch {
      return line.trim() ? line : null; // anything that is not a log line (stack traces, warnings)
    }
  });
  const port = await waitForLine(s, startPort, "its 'start' line (log level must be info or lower)", 60000);
  Object.assign(s, { port, user: COFFER_USER, home, key: env.key });
  return s;
}

/**
 * The floor peer (--floor): scripts/bench/ssh2-floor.mjs on a home filled like the others, in a
 * cgroup of its own, logging in with the bench's key only.
 */
async function startFloor(env) {
  const dir = join(env.work, 'floor');
  const home = join(dir, 'home');
  mkdirSync(home, { recursive: true, mode: 0o700 });
  await populateHome(home, env, null);
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'coffer-bench-floor', '-f', join(dir, 'host_ed25519')]);
  const cgroup = makeCgroup(`coffer-bench-${process.pid}-floor`);
  const script = join(PROJECT, 'scripts', 'bench', 'ssh2-floor.mjs');
  const s = spawnServer('ssh2', process.execPath, [script, join(dir, 'host_ed25519'), env.key + '.pub', home], { cgroup, oneProcess: true, env: cofferEnv(), cwd: PROJECT });
  attachOutput(s, (line) => (line.includes('"start"') ? null : line.trim() ? line : null));
  const port = await waitForLine(s, startPort, 'its start line', 30000);
  Object.assign(s, { port, user: COFFER_USER, home, key: env.key });
  return s;
}

// ---------------------------------------------------------------------------------------------
// The client

let batchCounter = 0;

/**
 * Runs `sftp -b` against a server. Resolves { ms, clientCpu } or throws with sftp's stderr.
 * The batch file is written before the clock starts.
 */
function sftp(env, server, lines, { cipher = null, verbose = 0, keepStdout = false, marks = false } = {}) {
  const batch = join(env.work, `batch-${batchCounter++}.txt`);
  writeFileSync(batch, lines.map((l) => l + '\n').join(''));
  const args = [
    '-b', batch,
    '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'IdentitiesOnly=yes',
    ...(verbose ? [`-${'v'.repeat(verbose)}`] : ['-o', 'LogLevel=ERROR']),
    '-F', '/dev/null', '-i', server.key, '-P', String(server.port),
    ...(cipher ? ['-o', `Ciphers=${cipher}`] : []),
    `${server.user}@127.0.0.1`,
  ];
  return new Promise((resolveP, reject) => {
    if (isInterrupted()) return reject(new BenchError('interrupted'));
    const t0 = performance.now();
    const p = spawn('sftp', args, { stdio: ['ignore', keepStdout || marks ? 'pipe' : 'ignore', 'pipe'], cwd: env.work });
    // The marker lines of an in-session timing (timedSftp), whatever else the session prints.
    const markLines = [];
    let partial = '';
    if (marks) {
      p.stdout.setEncoding('utf8').on('data', (d) => {
        const parts = (partial + d).split('\n');
        partial = parts.pop();
        for (const l of parts) if (l.startsWith('@@MARK ')) markLines.push(l);
      });
    }
    trackChild(p);
    let stderr = '';
    let stdout = '';
    p.stderr.setEncoding('utf8').on('data', (d) => { if (stderr.length < 4 * MiB) stderr += d; });
    if (keepStdout) p.stdout.setEncoding('utf8').on('data', (d) => { if (stdout.length < 4 * MiB) stdout += d; });
    p.on('error', (e) => { untrackChild(p); reject(new BenchError(`sftp: ${e.message}`)); });
    p.on('close', (code, signal) => {
      const ms = performance.now() - t0;
      untrackChild(p);
      rmSync(batch, { force: true });
      if (code === 0) return resolveP({ ms, stderr, stdout, markLines });
      const dead = server.exited ? ` (the ${server.name} server had exited: ${server.exited.signal ?? server.exited.code})` : '';
      reject(new BenchError(`sftp to ${server.name} failed (${signal ?? `exit ${code}`})${dead} running [${lines.join('; ')}]:\n${stderr.trim().split('\n').slice(-10).join('\n')}`));
    });
  });
}

/**
 * The shell command (run by sftp's `!`, between two requests of the session) that prints a marker
 * line: the clock in ns, then the server's CPU counter (its cgroup's cpu.stat or cpuacct.usage,
 * else its process's /proc stat line).
 */
function markCommand(server) {
  const cg = server.cgroup?.dir;
  const v1 = cg && existsSync(join(cg, 'cpuacct.usage'));
  // cgroup v1: the total, then (where the kernel has it) the system part, both in ns.
  const cpuFiles = cg ? (v1 ? [join(cg, 'cpuacct.usage'), ...(existsSync(join(cg, 'cpuacct.usage_sys')) ? [join(cg, 'cpuacct.usage_sys')] : [])] : [join(cg, 'cpu.stat')]) : [`/proc/${server.proc.pid}/stat`];
  return `!echo @@MARK $(date +%s%N) $(cat ${cpuFiles.join(' ')})`;
}

/**
 * The kernel part of a marker line's counter (cgroup v2 system_usec, cgroup v1 cpuacct.usage_sys,
 * or the process's stime), in seconds; NaN where the counter has no split.
 */
function markSys(server, text) {
  const usec = /system_usec (\d+)/.exec(text);
  if (usec) return Number(usec[1]) / 1e6;
  if (server.cgroup) return Number(text.trim().split(/\s+/)[1] ?? NaN) / 1e9; // cpuacct.usage_sys, ns
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return Number(f[12]) / CLK_TCK;
}

/** Server CPU seconds from a marker line's counter text (see markCommand). */
function markCpu(server, text) {
  const usec = /usage_usec (\d+)/.exec(text);
  if (usec) return Number(usec[1]) / 1e6;
  if (server.cgroup) return Number(text.trim().split(/\s+/)[0]) / 1e9; // cpuacct.usage, ns
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

/**
 * Runs `lines` in one sftp session, timed inside it: a marker before the first request and one
 * after the last reply read the clock and the server's CPU, so neither the login nor the logout
 * (hundreds of ms and noisy for sshd's key exchange and fork) is part of the figure.
 * Resolves { ms, serverCpu (s) }.
 */
async function timedSftp(env, server, lines) {
  const r = await sftp(env, server, [markCommand(server), ...lines, markCommand(server)], { marks: true });
  if (r.markLines.length !== 2) throw new BenchError(`${server.name}: expected 2 timing markers from sftp, got ${r.markLines.length}`);
  const [a, b] = r.markLines.map((l) => {
    const m = /^@@MARK (\d+) (.*)$/.exec(l);
    return { ns: Number(m[1]), cpu: markCpu(server, m[2]), sys: markSys(server, m[2]) };
  });
  return { ms: (b.ns - a.ns) / 1e6, serverCpu: b.cpu - a.cpu, serverSys: b.sys - a.sys };
}

/** The server CPU of a timedSftp() result, and its kernel part, for a figure's measure(). */
const inSession = (r) => ({ serverCpu: r.serverCpu, serverSys: r.serverSys });

/** What each connection negotiated, from one `sftp -vvv` session (also warms the server up). */
async function probe(env, server, cipher) {
  const { stderr } = await sftp(env, server, ['pwd'], { cipher, verbose: 3 });
  const kex = /kex: algorithm: (\S+)/.exec(stderr)?.[1] ?? '?';
  const m = /kex: server->client cipher: (\S+) MAC: (\S+)/.exec(stderr);
  const ciph = m ? (m[2] === '<implicit>' ? m[1] : `${m[1]} + ${m[2]}`) : '?';
  const sizes = /server upload\/download buffer sizes (\d+) \/ (\d+); using (\d+) \/ (\d+)/.exec(stderr);
  const req = sizes ? `${sizes[3]}/${sizes[4]}` : /Server supports extension "limits@openssh.com"/.test(stderr) ? 'limits' : '32768 (no limits)';
  return { kex, cipher: ciph, request: req };
}

// ---------------------------------------------------------------------------------------------
// The figures. Each measure() returns { value, cpuUnits } for one server in one round: value in the
// figure's unit (net of the round's connect time), cpuUnits the divisor for server CPU.

function figures(env) {
  const o = env.opts;
  const sizeMiB = o.size / MiB;
  const dl = (server, tag) => join(env.dlDir, `${tag}-${server.name}.bin`);
  // Net of the login; NaN (shown as n/a) when the work took less than the login's noise.
  const net = (ms, conn) => (ms - conn > 0 ? ms - conn : NaN);
  const bulkRate = (ms, conn) => sizeMiB / (net(ms, conn) / 1000);

  // A bulk copy (how: 'uploaded' or 'downloaded') must have the source's size, and its sha256
  // when verifyHash; it is removed after the check.
  async function checkCopy(server, path, how, name, verifyHash) {
    const size = statSync(path).size;
    if (size !== o.size) throw new BenchError(`${server.name}: ${how} ${name} has ${size} bytes, expected ${o.size}`);
    if (verifyHash) {
      const h = await sha256File(path);
      if (h !== env.srcHash) throw new BenchError(`${server.name}: sha256 of the ${how} file differs (${h} vs ${env.srcHash})`);
    }
    unlinkSync(path);
  }
  async function upload(server, round, cipher, tag, verifyHash) {
    const name = `up-${tag}-r${round}.bin`;
    const r = await sftp(env, server, [`put "${env.src}" ${name}`], { cipher });
    await checkCopy(server, join(server.home, name), 'uploaded', name, verifyHash);
    return r.ms;
  }
  async function download(server, cipher, tag, verifyHash) {
    const local = dl(server, tag);
    rmSync(local, { force: true });
    const r = await sftp(env, server, [`get big.bin "${local}"`], { cipher });
    await checkCopy(server, local, 'downloaded', 'big.bin', verifyHash);
    return r.ms;
  }

  // Per-file figures: at least OpenSSH's rate, at most 1.2x its server CPU (issue 20).
  const perFile = { unit: 'files/s', better: 'higher', target: 1.0, cpuTarget: 1.2, cpuUnit: 'ms/file', cpuScale: 1000 };
  const smallRemote = (round) => `sm-r${round}`;
  const smallName = (i, prefix = 'file') => `${prefix}-${String(i).padStart(4, '0')}.bin`;
  function checkCount(server, dir, n, what) {
    const have = existsSync(join(server.home, dir)) ? readdirSync(join(server.home, dir)).length : 0;
    if (have !== n) throw new BenchError(`${server.name}: ${what} ${have} entries in ${dir}, expected ${n}`);
  }
  /** The round's folder of small files, put there (untimed) unless an earlier figure did. */
  async function ensureSmall(server, round) {
    if (!existsSync(join(server.home, smallRemote(round)))) await sftp(env, server, [`put -r "${env.smallDir}" ${smallRemote(round)}`]);
    checkCount(server, smallRemote(round), o.smallFiles, 'the folder for this figure has');
  }

  return {
    login: {
      title: 'login: connect+auth+exit', unit: 'ms', better: 'lower', target: 1.25, cpuUnit: 'ms/login',
    },
    'up-default': {
      title: `upload ${sizeMiB} MiB, default cipher`, unit: 'MiB/s', better: 'higher', target: 0.8, cpuUnit: 's/GiB', cpuScale: 1,
      async measure(s, round, conn) {
        const ms = await upload(s, round, null, 'default', true);
        return { value: bulkRate(ms, conn), per: o.size / GiB };
      },
    },
    'down-default': {
      title: `download ${sizeMiB} MiB, default cipher`, unit: 'MiB/s', better: 'higher', target: 0.8, cpuUnit: 's/GiB', cpuScale: 1,
      async measure(s, round, conn) {
        const ms = await download(s, null, 'default', true);
        return { value: bulkRate(ms, conn), per: o.size / GiB };
      },
    },
    'up-gcm': {
      title: `upload ${sizeMiB} MiB, aes128-gcm`, unit: 'MiB/s', better: 'higher', target: 0.8, cpuUnit: 's/GiB', cpuScale: 1,
      async measure(s, round, conn) {
        const ms = await upload(s, round, GCM, 'gcm', false);
        return { value: bulkRate(ms, conn), per: o.size / GiB };
      },
    },
    'down-gcm': {
      title: `download ${sizeMiB} MiB, aes128-gcm`, unit: 'MiB/s', better: 'higher', target: 0.8, cpuUnit: 's/GiB', cpuScale: 1,
      async measure(s, round, conn) {
        const ms = await download(s, GCM, 'gcm', false);
        return { value: bulkRate(ms, conn), per: o.size / GiB };
      },
    },
    'par4-down': {
      title: `4 parallel downloads, ${sizeMiB / 4} MiB each (total)`, unit: 'MiB/s', better: 'higher', target: 0.8, cpuUnit: 's/GiB', cpuScale: 1,
      async measure(s, round, conn) {
        const locals = [0, 1, 2, 3].map((i) => dl(s, `par${i}`));
        for (const l of locals) rmSync(l, { force: true });
        // Batch files are written inside sftp() before each clock; the four start together.
        const t0 = performance.now();
        await Promise.all(locals.map((l, i) => sftp(env, s, [`get part${i}.bin "${l}"`])));
        const ms = performance.now() - t0;
        for (const l of locals) {
          const size = statSync(l).size;
          if (size !== o.size / 4) throw new BenchError(`${s.name}: parallel download ${l} has ${size} bytes, expected ${o.size / 4}`);
          unlinkSync(l);
        }
        return { value: bulkRate(ms, conn), per: o.size / GiB, sessions: 4 };
      },
    },
    // The per-file figures (issue 20): each round works in its own folders (sm-rN, mk-rN); a
    // figure's prepare() makes what it starts from, untimed, when an earlier figure did not.
    'small-put': {
      title: `put -r of ${o.smallFiles} x ${o.smallSize / 1024} KiB files`, ...perFile,
      async measure(s, round) {
        const r = await timedSftp(env, s, [`put -r "${env.smallDir}" ${smallRemote(round)}`]);
        checkCount(s, smallRemote(round), o.smallFiles, 'put -r stored');
        return { value: o.smallFiles / (r.ms / 1000), per: o.smallFiles, ...inSession(r) };
      },
    },
    'small-get': {
      title: `get -r of ${o.smallFiles} x ${o.smallSize / 1024} KiB files`, ...perFile,
      prepare: (s, round) => ensureSmall(s, round),
      async measure(s, round) {
        const local = join(env.dlDir, `small-${s.name}-r${round}`);
        rmSync(local, { recursive: true, force: true });
        const r = await timedSftp(env, s, [`get -r ${smallRemote(round)} "${local}"`]);
        const got = readdirSync(local);
        if (got.length !== o.smallFiles || got.some((f) => statSync(join(local, f)).size !== o.smallSize)) {
          throw new BenchError(`${s.name}: get -r fetched ${got.length} files (expected ${o.smallFiles} of ${o.smallSize} bytes)`);
        }
        rmSync(local, { recursive: true, force: true });
        return { value: o.smallFiles / (r.ms / 1000), per: o.smallFiles, ...inSession(r) };
      },
    },
    stat: {
      title: `${o.stats} stats (ls -l of one file: LSTAT)`, ...perFile, unit: 'stats/s', cpuUnit: 'ms/stat',
      prepare: (s, round) => ensureSmall(s, round),
      async measure(s, round) {
        const lines = Array.from({ length: o.stats }, (_, i) => `ls -l ${smallRemote(round)}/${smallName(i % o.smallFiles)}`);
        const r = await timedSftp(env, s, lines);
        return { value: o.stats / (r.ms / 1000), per: o.stats, ...inSession(r) };
      },
    },
    rename: {
      title: `rename of ${o.smallFiles} files`, ...perFile,
      prepare: (s, round) => ensureSmall(s, round),
      async measure(s, round) {
        const dir = smallRemote(round);
        const r = await timedSftp(env, s, Array.from({ length: o.smallFiles }, (_, i) => `rename ${dir}/${smallName(i)} ${dir}/${smallName(i, 'moved')}`));
        const moved = readdirSync(join(s.home, dir)).filter((f) => f.startsWith('moved-')).length;
        if (moved !== o.smallFiles) throw new BenchError(`${s.name}: rename left ${moved} renamed files, expected ${o.smallFiles}`);
        return { value: o.smallFiles / (r.ms / 1000), per: o.smallFiles, ...inSession(r) };
      },
    },
    'small-rm': {
      title: `rm of ${o.smallFiles} files (rm dir/*)`, ...perFile,
      prepare: (s, round) => ensureSmall(s, round),
      async measure(s, round) {
        const dir = smallRemote(round);
        const r = await timedSftp(env, s, [`rm ${dir}/*`]);
        checkCount(s, dir, 0, 'rm left');
        await sftp(env, s, [`rmdir ${dir}`]);
        return { value: o.smallFiles / (r.ms / 1000), per: o.smallFiles, ...inSession(r) };
      },
    },
    mkdir: {
      title: `mkdir of ${o.folders} folders`, ...perFile, unit: 'folders/s', cpuUnit: 'ms/folder',
      async measure(s, round) {
        const dir = `mk-r${round}`;
        const r = await timedSftp(env, s, [`mkdir ${dir}`, ...Array.from({ length: o.folders }, (_, i) => `mkdir ${dir}/d-${i}`)]);
        checkCount(s, dir, o.folders, 'mkdir made');
        return { value: o.folders / (r.ms / 1000), per: o.folders, ...inSession(r) };
      },
    },
    rmdir: {
      title: `rmdir of ${o.folders} folders`, ...perFile, unit: 'folders/s', cpuUnit: 'ms/folder',
      async prepare(s, round) {
        const dir = `mk-r${round}`;
        if (!existsSync(join(s.home, dir))) await sftp(env, s, [`mkdir ${dir}`, ...Array.from({ length: o.folders }, (_, i) => `mkdir ${dir}/d-${i}`)]);
      },
      async measure(s, round) {
        const dir = `mk-r${round}`;
        const r = await timedSftp(env, s, [...Array.from({ length: o.folders }, (_, i) => `rmdir ${dir}/d-${i}`), `rmdir ${dir}`]);
        if (existsSync(join(s.home, dir))) throw new BenchError(`${s.name}: rmdir left ${dir}`);
        return { value: o.folders / (r.ms / 1000), per: o.folders, ...inSession(r) };
      },
    },
    list: {
      title: `ls -l of ${o.listEntries} entries`, unit: 'ms', better: 'lower', target: 1.0, cpuTarget: 1.2, cpuUnit: 'ms/listing', cpuScale: 1000,
      async measure(s, round) {
        const r = await timedSftp(env, s, Array.from({ length: o.listRepeat }, () => 'ls -l list'));
        return { value: r.ms / o.listRepeat, per: o.listRepeat, ...inSession(r) };
      },
    },
  };
}

/**
 * Runs one measurement with server and client CPU accounting around it; loginCpu (the round's CPU
 * per empty session) is subtracted once per session, as the login time is from the wall time.
 */
async function measured(server, fn, loginCpu = null) {
  const s0 = server.cpu();
  const c0 = childrenCpu();
  const r = await fn();
  const n = loginCpu ? r.sessions ?? 1 : 0;
  return {
    ...r,
    // A figure timed inside its session (timedSftp) brings its own server CPU, login excluded.
    serverCpu: r.serverCpu ?? server.cpu() - s0 - n * (loginCpu?.server ?? 0),
    clientCpu: childrenCpu() - c0 - n * (loginCpu?.client ?? 0),
  };
}

// ---------------------------------------------------------------------------------------------
// Report

function fmt(v, unit) {
  if (!Number.isFinite(v)) return 'n/a';
  if (unit === 'ms' || unit === 'ms/listing' || unit === 'ms/login') return v >= 100 ? v.toFixed(0) : v.toFixed(1);
  if (unit === 'ms/file' || unit === 'ms/stat' || unit === 'ms/folder') return v.toFixed(3);
  if (unit === 's/GiB') return v.toFixed(2);
  return v >= 100 ? v.toFixed(0) : v.toFixed(1);
}

/**
 * The medians of one figure: wall values, server and client CPU per unit, and the two
 * Coffer/OpenSSH ratios (speed or time; server CPU) with whether each meets its target.
 */
function figureSummary(f, res) {
  const o = median(res.OpenSSH.map((x) => x.value));
  const c = median(res.Coffer.map((x) => x.value));
  const ratio = c / o;
  const pass = f.better === 'higher' ? ratio >= f.target : ratio <= f.target;
  const scale = f.cpuScale ?? 1000;
  const per = (name, key) => median(res[name].map((x) => (x[key] / x.per) * scale));
  const cpu = {
    o: per('OpenSSH', 'serverCpu'), c: per('Coffer', 'serverCpu'), oc: per('OpenSSH', 'clientCpu'), cc: per('Coffer', 'clientCpu'),
    // The kernel's part of the server CPU (figures timed inside their session only; NaN otherwise).
    os: per('OpenSSH', 'serverSys'), cs: per('Coffer', 'serverSys'),
  };
  const cpuRatio = cpu.c / cpu.o;
  const cpuPass = f.cpuTarget === undefined || !Number.isFinite(cpuRatio) || cpuRatio <= f.cpuTarget;
  return { o, c, ratio, pass: Number.isFinite(ratio) ? pass : true, cpu, cpuRatio, cpuPass };
}

function report(env, figs, results) {
  const out = [];
  const rows = [['figure', 'unit', 'OpenSSH', 'Coffer', 'ratio C/O', 'target', 'server CPU C/O', 'target', 'result']];
  const missed = [];
  for (const id of env.opts.figs) {
    const f = figs[id];
    const m = figureSummary(f, results[id]);
    if (!m.pass || !m.cpuPass) missed.push(id);
    rows.push([
      f.title, f.unit + (f.better === 'lower' ? ' (lower=better)' : ''), fmt(m.o, f.unit), fmt(m.c, f.unit),
      Number.isFinite(m.ratio) ? `${m.ratio.toFixed(2)}x ${f.better === 'lower' ? 'time' : 'speed'}` : 'n/a',
      `${f.better === 'higher' ? '>=' : '<='} ${f.target.toFixed(2)}x`,
      Number.isFinite(m.cpuRatio) ? `${m.cpuRatio.toFixed(2)}x` : 'n/a',
      f.cpuTarget !== undefined ? `<= ${f.cpuTarget.toFixed(2)}x` : '-',
      !Number.isFinite(m.ratio) ? 'n/a' : m.pass && m.cpuPass ? 'pass' : `MISS${m.pass ? ' (cpu)' : m.cpuPass ? ' (wall)' : ''}`,
    ]);
  }
  out.push(`Medians of ${env.opts.rounds} interleaved round(s)${env.opts.warmup ? ` (after ${env.opts.warmup} untimed warm-up round(s) of the per-file figures)` : ""}. Bulk rates are net of the same round's median login time and their`);
  out.push(`server CPU of the round's CPU per empty session; the per-file figures and the listing are timed inside their session`);
  out.push(`(wall clock and server CPU read by sftp '!' commands before the first request and after the last reply, so login and`);
  out.push(`logout are not in them). A speed ratio above 1 and a time ratio below 1 are Coffer ahead.`);
  out.push(table(rows, ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'l']));

  out.push('', 'Per-round values (OpenSSH | Coffer):');
  for (const id of env.opts.figs) {
    const f = figs[id];
    const show = (name) => results[id][name].map((x) => fmt(x.value, f.unit)).join(' ');
    out.push(`  ${f.title.padEnd(44)} ${show('OpenSSH')} | ${show('Coffer')}${env.opts.floor ? ` | ssh2 floor ${show('ssh2')}` : ''}  ${f.unit}`);
  }

  const cpuRows = [['figure', 'unit', 'OpenSSH server', 'Coffer server', 'ratio C/O', 'of which kernel O | C', 'client (sftp+ssh) vs OpenSSH', 'vs Coffer']];
  for (const id of env.opts.figs) {
    const f = figs[id];
    const { cpu, cpuRatio } = figureSummary(f, results[id]);
    const kernel = Number.isFinite(cpu.os) && Number.isFinite(cpu.cs) ? `${fmt(cpu.os, f.cpuUnit)} | ${fmt(cpu.cs, f.cpuUnit)}` : '-';
    cpuRows.push([f.title, f.cpuUnit, fmt(cpu.o, f.cpuUnit), fmt(cpu.c, f.cpuUnit), Number.isFinite(cpuRatio) ? `${cpuRatio.toFixed(2)}x` : 'n/a',
      kernel, fmt(cpu.oc, f.cpuUnit), fmt(cpu.cc, f.cpuUnit)]);
  }
  out.push('', `CPU per unit of work (medians; net of the round's CPU per empty session, except the login row; server = ${env.cgroups ? 'its cgroup, all its processes' : 'Coffer process only'}):`);
  out.push(table(cpuRows, ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r']));
  // Each round's server CPU and the round's own Coffer/OpenSSH ratio: how far a median can be trusted.
  out.push('', 'Per-round server CPU (OpenSSH | Coffer, then the ratio of each round):');
  for (const id of env.opts.figs.filter((x) => x !== 'login')) {
    const f = figs[id];
    const scale = f.cpuScale ?? 1000;
    const per = (name) => results[id][name].map((x) => (x.serverCpu / x.per) * scale);
    const [o, c] = [per('OpenSSH'), per('Coffer')];
    const show = (v) => v.map((x) => fmt(x, f.cpuUnit)).join(' ');
    out.push(`  ${f.title.padEnd(44)} ${show(o)} | ${show(c)} | ${c.map((x, i) => (x / o[i]).toFixed(2)).join(' ')}  ${f.cpuUnit}`);
  }
  if (env.opts.floor) out.push('', floorReport(env, figs, results));
  return { text: out.join('\n'), missed };
}

/**
 * The --floor table: the bare ssh2 server against OpenSSH (what the stack costs before any work of
 * Coffer's) and Coffer against it (what Coffer's own work adds), medians of the same rounds.
 */
function floorReport(env, figs, results) {
  const rows = [['figure', 'unit', 'ssh2 floor', 'floor vs OpenSSH', 'floor server CPU', 'of which kernel', 'floor CPU vs OpenSSH', 'Coffer CPU vs floor']];
  for (const id of env.opts.figs) {
    const f = figs[id];
    const res = results[id];
    const scale = f.cpuScale ?? 1000;
    const value = (name) => median(res[name].map((x) => x.value));
    const cpu = (name, key = 'serverCpu') => median(res[name].map((x) => (x[key] / x.per) * scale));
    const speed = value('ssh2') / value('OpenSSH');
    const x = (v) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : 'n/a');
    rows.push([
      f.title, f.unit, fmt(value('ssh2'), f.unit), `${x(speed)} ${f.better === 'lower' ? 'time' : 'speed'}`,
      `${fmt(cpu('ssh2'), f.cpuUnit)} ${f.cpuUnit}`, Number.isFinite(cpu('ssh2', 'serverSys')) ? fmt(cpu('ssh2', 'serverSys'), f.cpuUnit) : '-',
      x(cpu('ssh2') / cpu('OpenSSH')), x(cpu('Coffer') / cpu('ssh2')),
    ]);
  }
  return [
    'The floor (--floor): scripts/bench/ssh2-floor.mjs, ssh2\'s own SFTP server with one fs call per request and nothing',
    "else (no jail, quota, store, logs), in the same rounds. 'floor vs OpenSSH' is what ssh2 and Node cost before any work",
    "of Coffer's; 'Coffer CPU vs floor' is what Coffer's own work (jail, quota, handles, logs, events) adds on top.",
    table(rows, ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r']),
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Profiling: Coffer alone under `node --cpu-prof`, once per figure.

async function profileFigures(env, figs, ids) {
  const profRoot = join(env.work, 'profiles');
  mkdirSync(profRoot, { recursive: true });
  const out = [];
  for (const id of ids) {
    const dir = join(profRoot, id);
    mkdirSync(dir);
    log(`profiling Coffer during '${id}'...`);
    const s = await startCoffer(env, { profileDir: dir });
    try {
      await sftp(env, s, ['pwd']); // warm-up
      const conn = median(await loginTimes(env, s, 3));
      const reps = { login: 0, list: 4, 'small-put': 3 }[id] ?? 2;
      const values = [];
      if (id === 'login') values.push(median(await loginTimes(env, s, 20)));
      for (let i = 0; i < reps; i++) {
        await figs[id].prepare?.(s, 100 + i);
        values.push((await figs[id].measure(s, 100 + i, conn)).value);
      }
      await stopServer(s, 20000);
      if (s.exited?.code !== 0) log(`  (Coffer exited with ${s.exited?.signal ?? s.exited?.code} after profiling)`);
      const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
      if (files.length === 0) throw new BenchError(`Coffer wrote no .cpuprofile for '${id}' (did it exit cleanly on SIGTERM?)`);
      const summary = summarizeProfile(JSON.parse(readFileSync(join(dir, files[0]), 'utf8')));
      out.push('', `== Coffer CPU profile during '${figs[id].title}' (${values.length} run(s) under --cpu-prof: ${values.map((v) => fmt(v, figs[id].unit)).join(', ')} ${figs[id].unit}) ==`);
      out.push(...formatSummary(summary, 20));
      if (env.opts.profileDir) {
        mkdirSync(env.opts.profileDir, { recursive: true });
        const kept = join(env.opts.profileDir, `coffer-${id}.cpuprofile`);
        copyFileSync(join(dir, files[0]), kept);
        out.push(`  (kept: ${kept}; open it in Chrome DevTools or summarise with node scripts/bench/cpuprofile.mjs FILE)`);
      }
    } finally {
      await stopServer(s);
    }
  }
  return out.join('\n');
}

async function loginTimes(env, server, n) {
  const times = [];
  for (let i = 0; i < n; i++) {
    times.push((await sftp(env, server, [])).ms);
    await sleep(env.opts.loginGapMs);
  }
  return times;
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  checkPrerequisites();
  const owner = ensureSystemUser();

  // Work folders: server state under the project's .bench/ (sshd's chroot must be on a root-owned
  // path; /tmp is world-writable), client-side data on tmpfs.
  const benchDir = join(PROJECT, '.bench');
  if (!existsSync(benchDir)) onCleanup(() => rmdirSync(benchDir)); // only if empty
  mkdir0755(benchDir);
  const work = join(benchDir, `run-${process.pid}-${Date.now().toString(36)}`);
  removeOnCleanup(work);
  mkdir0755(work);
  const spread = spreadFolders(work);
  const dataDir = mkdtempSync(join(memoryTmpdir(), 'coffer-bench-'));
  removeOnCleanup(dataDir);
  const env = {
    opts, work, dataDir, dlDir: join(dataDir, 'dl'), src: join(dataDir, 'src.bin'), smallDir: join(dataDir, 'small'),
    key: join(work, 'client_ed25519'), cofferStarts: 0, cgroups: false,
  };
  mkdirSync(env.dlDir);

  const ver = (cmd, args) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    return ((r.stdout || '') + (r.stderr || '')).trim().split('\n')[0];
  };
  const commit = commitId();
  const pkg = JSON.parse(readFileSync(join(PROJECT, 'package.json'), 'utf8'));
  const header = [
    `Coffer ${pkg.version} (commit ${commit}, dist/ as built), node ${process.version}; client and sshd: ${ver('ssh', ['-V'])}`,
    `machine: ${cpus().length} x ${cpus()[0]?.model ?? '?'}, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} at start`,
    `Coffer's store: ${opts.store === 'postgres' ? 'PostgreSQL 15 on 127.0.0.1 (--store postgres)' : 'SQLite (the embedded default)'}`,
    `sizes: bulk ${opts.size / MiB} MiB, par4 4 x ${opts.size / 4 / MiB} MiB, ${opts.smallFiles} x ${opts.smallSize} B files, listing ${opts.listEntries} entries x ${opts.listRepeat} per session, ${opts.logins} logins per round; ${opts.rounds} round(s), after ${opts.warmup} untimed warm-up round(s) of the per-file figures`,
  ];
  if (loadavg()[0] > 0.5) header.push(`warning: the machine is not idle (1-minute load ${loadavg()[0].toFixed(2)}): single figures will be noisy; compare the medians and ratios`);
  log(header.join('\n'));

  log(`preparing data in ${dataDir} and ${work} ...`);
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'coffer-bench-client', '-f', env.key]);
  env.srcHash = await writeRandomFile(env.src, opts.size);
  mkdirSync(env.smallDir);
  for (let i = 0; i < opts.smallFiles; i++) writeFileSync(join(env.smallDir, `file-${String(i).padStart(4, '0')}.bin`), randomBytes(opts.smallSize));

  const openssh = await startOpenSSH(env, owner);
  const coffer = await startCoffer(env);
  env.cgroups = Boolean(openssh.cgroup && coffer.cgroup);
  const floor = opts.floor ? await startFloor(env) : null;
  if (floor) env.cgroups &&= Boolean(floor.cgroup);
  const servers = floor ? [openssh, coffer, floor] : [openssh, coffer];
  log(servers.map((s) => `${s.name} pid ${s.proc.pid} on 127.0.0.1:${s.port}`).join('; '));
  // Where the homes are matters on ext4 without a journal (spreadFolders): said in the report.
  header.push(`homes: ${servers.map((s) => `${s.name} ${inodeGroup(s.home)}`).join(', ')}${spread ? ' (work folder chattr +T: each server in a group of its own)' : ' (chattr +T did not take: the servers may share a group)'}`);

  const negotiated = [];
  for (const s of servers) {
    for (const cipher of [null, GCM]) {
      const p = await probe(env, s, cipher);
      negotiated.push(`  ${s.name.padEnd(8)} ${cipher ? '-o Ciphers=aes128-gcm' : 'default cipher       '}  kex ${p.kex}, cipher ${p.cipher}, sftp read/write request size ${p.request}`);
    }
  }
  log('negotiated:\n' + negotiated.join('\n'));

  const figs = figures(env);
  const results = Object.fromEntries(opts.figs.map((id) => [id, Object.fromEntries(servers.map((s) => [s.name, []]))]));
  // Warm-up rounds: the per-file figures once per server, untimed and thrown away, numbered after
  // the measured rounds (their folders do not clash). A server runs for days: its steady state is
  // what users meet, not the first thousand requests of a fresh process (V8 compiles Coffer's hot
  // paths after some thousand calls; OpenSSH forks a fresh session process each time anyway).
  const warmFigs = opts.figs.filter((id) => SMALL_FIGS.includes(id));
  for (let w = 0; w < opts.warmup && warmFigs.length > 0; w++) {
    const round = opts.rounds + w;
    log(`warm-up ${w + 1}/${opts.warmup}: ${warmFigs.join(', ')} (untimed)`);
    for (const id of warmFigs) {
      for (const s of servers) {
        await figs[id].prepare?.(s, round);
        await figs[id].measure(s, round, 0);
      }
    }
  }
  const started = performance.now();
  for (let round = 0; round < opts.rounds; round++) {
    // Each round starts with another server (with --floor, the three take turns).
    const order = servers.map((_, i) => servers[(i + round) % servers.length]);
    log(`round ${round + 1}/${opts.rounds} (${order.map((s) => s.name).join(' first, then ')})`);
    // Logins, alternating between the servers, spaced so each server is idle when a session starts.
    const logins = Object.fromEntries(servers.map((s) => [s.name, []]));
    const loginCpu = Object.fromEntries(servers.map((s) => [s.name, { s: 0, c: 0 }]));
    for (let i = 0; i < opts.logins; i++) {
      for (const s of order) {
        const r = await measured(s, () => sftp(env, s, []));
        logins[s.name].push(r.ms);
        loginCpu[s.name].s += r.serverCpu;
        loginCpu[s.name].c += r.clientCpu;
        await sleep(opts.loginGapMs);
      }
    }
    const conn = {};
    for (const s of servers) {
      conn[s.name] = median(logins[s.name]);
      results.login[s.name].push({ value: conn[s.name], per: opts.logins, serverCpu: loginCpu[s.name].s, clientCpu: loginCpu[s.name].c });
    }
    log(`  login                ${servers.map((s) => `${s.name} ${conn[s.name].toFixed(0)} ms`).join(', ')}`);
    for (const id of opts.figs.filter((x) => x !== 'login')) {
      const parts = [];
      for (const s of order) {
        await figs[id].prepare?.(s, round);
        await sleep(300);
        const perLogin = { server: loginCpu[s.name].s / opts.logins, client: loginCpu[s.name].c / opts.logins };
        const r = await measured(s, () => figs[id].measure(s, round, conn[s.name]), perLogin);
        results[id][s.name].push(r);
        parts.push(`${s.name} ${fmt(r.value, figs[id].unit)}`);
      }
      log(`  ${id.padEnd(20)} ${parts.join(', ')} ${figs[id].unit}`);
    }
  }
  const elapsed = (performance.now() - started) / 1000;

  const { text, missed } = report(env, figs, results);
  const problems = servers.flatMap((s) => s.problems.map((p) => `  ${s.name}: ${p.length > 400 ? p.slice(0, 400) + '...' : p}`));

  await stopServer(coffer);
  if (floor) await stopServer(floor);

  process.stdout.write(`\n${header.join('\n')}\nnegotiated (the client picks; "default" is the first of its ciphers the server offers):\n${negotiated.join('\n')}\n\n${text}\n`);
  process.stdout.write(`\nmeasuring took ${elapsed.toFixed(0)} s; load average at the end ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
  process.stdout.write(missed.length ? `missed targets: ${missed.join(', ')}\n` : 'all targets met\n');
  if (problems.length) process.stdout.write(`\nserver warnings/errors logged during the bench (${problems.length}):\n${problems.slice(0, 30).join('\n')}\n`);

  const toProfile = opts.profile === 'missed' ? missed : opts.profile ?? [];
  if (toProfile.length) {
    await stopServer(openssh); // Coffer runs alone while profiled
    process.stdout.write(await profileFigures(env, figs, toProfile) + '\n');
  } else if (missed.length && !opts.profile) {
    process.stdout.write(`(run with --profile to see where Coffer's time goes in the missed figures)\n`);
  }
}

main().then(
  async () => {
    await cleanup();
    process.exit(0);
  },
  async (err) => {
    if (isInterrupted()) return; // the signal handler exits
    process.stderr.write(`bench: error: ${err instanceof BenchError ? err.message : err?.stack ?? err}\n`);
    await cleanup();
    process.exit(1);
  },
);
