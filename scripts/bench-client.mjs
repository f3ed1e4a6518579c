#!/usr/bin/env node
// Client benchmark (issue 7, item 7): `npm run bench:client [-- OPTIONS]`. Not part of `npm test`.
//
// Starts one Coffer server on 127.0.0.1 and times, against it, in interleaved rounds:
//   coffer put / coffer get  (including the sha256 verification every coffer transfer does)
//   OpenSSH's `sftp -b` put / get with its default cipher, and with -c aes128-gcm@openssh.com
//   coffer put / get --no-verify (what the verification costs; not part of the target)
//   coffer and sftp put -r / get -r of a folder of 300 files of 4 KiB (per-file costs; information)
//   sftp put / get followed by the check a user of OpenSSH would run for the same guarantee:
//   `sha256sum` of the local copy and, at the same time, of the remote one over `ssh` (Coffer
//   serves exec sha256sum); for information only, the target is against plain sftp
// of one file (512 MiB by default), then prints the medians and the coffer/OpenSSH ratio (time of
// sftp / time of coffer; target >= 0.8 against sftp as run, with the cipher it negotiates; the
// ratio against sftp -c aes128-gcm is printed beside it), and each figure's CPU time. Every time
// is the wall time of the whole command (start-up, connection, transfer, verification, exit), as
// a user experiences it.
// The server's files and the downloads live in /dev/shm when it exists, so the local disk (and its
// write-back of earlier rounds) is not what is measured. A first round of every figure warms the
// caches and is not counted.
//
// Needs the OpenSSH client (sftp, ssh-keygen) and a built dist/ (npm install, or npx tsc -p .).
// Exit status: 0 when the bench ran (target met or not: it is a report), 1 when it failed,
// 2 for bad options.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { cleanupSync, installCleanup, isInterrupted, removeOnCleanup, trackChild, untrackChild } from './lib/cleanup.mjs';
import { addUser, bin, cofferEnv, PROJECT, serverArgs, startPort } from './lib/coffer.mjs';
import { writeRandomFile } from './lib/files.mjs';
import { sha256File } from './lib/hash.mjs';
import { onPath, run, ScriptError } from './lib/process.mjs';
import { childrenCpu } from './lib/procfs.mjs';
import { attachOutput, spawnServer, stopServer, waitForLine } from './lib/servers.mjs';
import { median } from './lib/stats.mjs';
import { table } from './lib/table.mjs';
const MiB = 1024 * 1024;
const USER = 'bench';
const GCM = 'aes128-gcm@openssh.com';
const SMALL_FILES = 300;

const HELP = `usage: npm run bench:client [-- OPTIONS]     (or: node scripts/bench-client.mjs OPTIONS)

Times coffer get/put (with verification) against OpenSSH's sftp -b get/put, both talking to one
Coffer server on 127.0.0.1, in interleaved rounds; prints medians and the ratio (target >= 0.8x).
Also, for information: sftp followed by sha256sum of both copies (the remote one over ssh).

  --size MIB     file size in MiB (default 512)
  --rounds N     interleaved rounds (default 5)
  --quick        64 MiB, 1 round
  --help`;

function parseArgs(argv) {
  const o = { sizeMiB: 512, rounds: 5 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) usage(`${a} needs a positive whole number`);
      return n;
    };
    if (a === '--help' || a === '-h') {
      process.stdout.write(HELP + '\n');
      process.exit(0);
    } else if (a === '--quick') [o.sizeMiB, o.rounds] = [64, 1];
    else if (a === '--size') o.sizeMiB = num(argv[++i]);
    else if (a === '--rounds') o.rounds = num(argv[++i]);
    else usage(`unknown option '${a}'`);
  }
  return o;
}

function usage(msg) {
  process.stderr.write(`bench-client: error: ${msg}\n`);
  process.exit(2);
}

function fail(msg) {
  if (isInterrupted()) return; // a signal stopped the bench: its handler cleans up and exits 130
  process.stderr.write(`bench-client: error: ${msg}\n`);
  cleanupSync();
  process.exit(1);
}

installCleanup('bench-client', 'stopping the server and removing temp files');
let server = null;

function tempDir(base, prefix) {
  const d = mkdtempSync(join(base, prefix));
  removeOnCleanup(d);
  return d;
}

// Runs a command; resolves with its wall time, its CPU time (with its children: sftp's ssh) and
// the server's CPU time meanwhile, in seconds. A non-zero exit fails the bench.
function timed(cmd, args, opts = {}) {
  const client0 = childrenCpu('self');
  const server0 = server ? server.cpu() : NaN;
  return new Promise((resolvePromise) => {
    const t0 = performance.now();
    const child = trackChild(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts }));
    let err = '';
    child.stdout.resume();
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => {
      untrackChild(child);
      if (isInterrupted()) return; // killed by the cleanup: the signal handler exits
      if (code !== 0) fail(`${cmd} ${args.join(' ')} exited ${code}: ${err.trim().split('\n').pop()}`);
      const wall = (performance.now() - t0) / 1000;
      resolvePromise({ wall, client: childrenCpu('self') - client0, server: server ? server.cpu() - server0 : NaN });
    });
  });
}

/** Starts the Coffer server on root; resolves with its port. */
async function startServer(root) {
  server = spawnServer('Coffer', process.execPath, serverArgs(root), { oneProcess: true, env: cofferEnv(), cwd: PROJECT });
  attachOutput(server, () => null);
  server.proc.on('exit', (code) => code !== null && code !== 0 && fail(`the Coffer server exited ${code}`));
  return waitForLine(server, startPort, "its 'start' line", 30_000);
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  for (const tool of ['sftp', 'ssh-keygen']) if (!onPath(tool)) fail(`${tool} is not installed (apt-get install openssh-client)`);
  if (!existsSync(join(PROJECT, 'dist/src/cli/client/main.js'))) fail('dist/ is missing: run npm install (or npx tsc -p .) first');
  const size = o.sizeMiB * MiB;
  const base = tempDir(tmpdir(), 'coffer-bench-client-');
  const fast = existsSync('/dev/shm') ? tempDir('/dev/shm', 'coffer-bench-client-') : base;
  // The server's files live in memory too: writing back 512 MiB uploads to the disk (and freeing
  // the previous ones) made run-to-run times swing by half, for coffer and sftp alike.
  const root = join(fast, 'state');
  const home = join(base, 'home');
  mkdirSync(join(home, '.ssh'), { recursive: true, mode: 0o700 });
  const key = join(home, '.ssh', 'id_ed25519');
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bench', '-f', key]);
  const port = await startServer(root);
  addUser(root, USER, { keyPub: key + '.pub' });
  const userHome = join(root, 'homes', USER);
  process.stdout.write(`coffer-bench-client: ${o.sizeMiB} MiB, ${o.rounds} round(s), server on 127.0.0.1:${port}, server files and downloads in ${fast}\n`);
  const src = join(base, 'src.bin');
  await writeRandomFile(src, size);
  await writeRandomFile(join(userHome, 'down.bin'), size);
  // A folder of small files, here and on the server.
  const smallDir = join(base, 'small');
  mkdirSync(smallDir);
  mkdirSync(join(userHome, 'small'));
  for (let i = 0; i < SMALL_FILES; i++) {
    const data = randomBytes(4096);
    writeFileSync(join(smallDir, `f${i}.bin`), data);
    writeFileSync(join(userHome, 'small', `f${i}.bin`), data);
  }
  const env = { ...cofferEnv(), HOME: home, SSH_AUTH_SOCK: '' };
  const coffer = (args) => timed(process.execPath, [bin('coffer'), '-P', String(port), ...args], { env, cwd: base });
  // First contact: trust the host key (coffer writes ~/.ssh/known_hosts; sftp is told not to check).
  await coffer(['ls', '--accept-new-host-key', `${USER}@127.0.0.1`]);
  const sftp = (cipher, line) => {
    const batch = join(base, `batch-${Math.random().toString(36).slice(2)}`);
    writeFileSync(batch, line + '\n');
    const args = ['-q', '-b', batch, '-P', String(port), '-i', key, '-F', '/dev/null', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'IdentitiesOnly=yes', '-o', 'LogLevel=ERROR'];
    if (cipher) args.push('-c', cipher);
    return timed('sftp', [...args, `${USER}@127.0.0.1`], { env, cwd: base });
  };
  // sftp, then both copies hashed at once (local sha256sum, remote over ssh) and compared.
  const sshArgs = ['-q', '-p', String(port), '-i', key, '-F', '/dev/null', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'IdentitiesOnly=yes', '-o', 'LogLevel=ERROR'];
  const q = (x) => `'${x.replaceAll("'", `'\\''`)}'`;
  const sftpChecked = (line, local, remote) => {
    const batch = join(base, `batch-${Math.random().toString(36).slice(2)}`);
    writeFileSync(batch, line + '\n');
    const sftpCmd = ['sftp', '-b', batch, ...sshArgs.map((a) => (a === '-p' ? '-P' : a)), `${USER}@127.0.0.1`].map(q).join(' ');
    const sshCmd = ['ssh', ...sshArgs, `${USER}@127.0.0.1`, `sha256sum ${remote}`].map(q).join(' ');
    const script = `set -e; ${sftpCmd} >/dev/null; ${sshCmd} > ${q(batch + '.r')} & sha256sum ${q(local)} > ${q(batch + '.l')}; wait $!; [ "$(cut -c1-64 ${q(batch + '.r')})" = "$(cut -c1-64 ${q(batch + '.l')})" ]`;
    return timed('sh', ['-c', script], { env, cwd: base });
  };
  const rmUp = (name) => rmSync(join(userHome, name), { force: true, recursive: true });
  const rmDown = (name) => rmSync(join(fast, name), { force: true, recursive: true });
  const figs = {
    'coffer put': () => (rmUp('up-coffer.bin'), coffer(['put', src, `${USER}@127.0.0.1:up-coffer.bin`])),
    'sftp put': () => (rmUp('up-sftp.bin'), sftp(null, `put ${src} up-sftp.bin`)),
    'sftp put (gcm)': () => (rmUp('up-sftp-gcm.bin'), sftp(GCM, `put ${src} up-sftp-gcm.bin`)),
    'coffer get': () => (rmDown('coffer.bin'), coffer(['get', `${USER}@127.0.0.1:down.bin`, join(fast, 'coffer.bin')])),
    'sftp get': () => (rmDown('sftp.bin'), sftp(null, `get down.bin ${join(fast, 'sftp.bin')}`)),
    'sftp get (gcm)': () => (rmDown('sftp-gcm.bin'), sftp(GCM, `get down.bin ${join(fast, 'sftp-gcm.bin')}`)),
    // The same transfers without the sha256 on both ends: what the verification costs.
    'coffer put (no verify)': () => (rmUp('up-coffer-nv.bin'), coffer(['put', '--no-verify', src, `${USER}@127.0.0.1:up-coffer-nv.bin`])),
    'coffer get (no verify)': () => (rmDown('coffer-nv.bin'), coffer(['get', '--no-verify', `${USER}@127.0.0.1:down.bin`, join(fast, 'coffer-nv.bin')])),
    // OpenSSH's client with the check a user would add for the same guarantee (information only).
    'sftp put + sha256sum': () => (rmUp('up-sftp-sum.bin'), sftpChecked(`put ${src} up-sftp-sum.bin`, src, 'up-sftp-sum.bin')),
    'sftp get + sha256sum': () => (rmDown('sftp-sum.bin'), sftpChecked(`get down.bin ${join(fast, 'sftp-sum.bin')}`, join(fast, 'sftp-sum.bin'), 'down.bin')),
    // Per-file costs: a folder of small files each way (into fresh folders every time).
    [`coffer put -r ${SMALL_FILES} files`]: () => (rmUp('small-coffer'), coffer(['put', '-r', smallDir, `${USER}@127.0.0.1:small-coffer`])),
    [`sftp put -r ${SMALL_FILES} files`]: () => (rmUp('small-sftp'), sftp(null, `put -r ${smallDir} small-sftp`)),
    [`coffer get -r ${SMALL_FILES} files`]: () => (rmDown('small-coffer'), coffer(['get', '-r', `${USER}@127.0.0.1:small`, join(fast, 'small-coffer')])),
    [`sftp get -r ${SMALL_FILES} files`]: () => (rmDown('small-sftp'), sftp(null, `get -r small ${join(fast, 'small-sftp')}`)),
  };
  const times = Object.fromEntries(Object.keys(figs).map((k) => [k, []]));
  const order = Object.keys(figs);
  // One uncounted round first: every figure's first run was slower than the rest (cold caches).
  process.stdout.write('  warm-up round (not counted)...\n');
  for (const name of order) await figs[name]();
  for (let r = 0; r < o.rounds; r++) {
    const names = r % 2 ? [...order].reverse() : order;
    for (const name of names) {
      const t = await figs[name]();
      times[name].push(t);
      process.stdout.write(`  round ${r + 1}: ${name.padEnd(15)} ${t.wall.toFixed(2)} s  (cpu client ${t.client.toFixed(2)} s, server ${t.server.toFixed(2)} s)\n`);
    }
  }
  // Every copy must be the file it claims to be.
  const want = { up: await sha256File(src), down: await sha256File(join(userHome, 'down.bin')) };
  for (const f of ['up-coffer.bin', 'up-sftp.bin', 'up-sftp-gcm.bin', 'up-coffer-nv.bin', 'up-sftp-sum.bin']) if ((await sha256File(join(userHome, f))) !== want.up) fail(`${f}: wrong sha256`);
  for (const f of ['coffer.bin', 'sftp.bin', 'sftp-gcm.bin', 'coffer-nv.bin', 'sftp-sum.bin']) if ((await sha256File(join(fast, f))) !== want.down) fail(`${f}: wrong sha256`);
  for (const [dir, base2] of [[join(userHome, 'small-coffer'), smallDir], [join(userHome, 'small-sftp'), smallDir], [join(fast, 'small-coffer'), join(userHome, 'small')], [join(fast, 'small-sftp'), join(userHome, 'small')]]) {
    for (let i = 0; i < SMALL_FILES; i++) if (!readFileSync(join(dir, `f${i}.bin`)).equals(readFileSync(join(base2, `f${i}.bin`)))) fail(`${dir}/f${i}.bin: wrong content`);
  }
  report(o, size, times);
  caCertsNote(env);
  await stopServer(server, 10_000);
  cleanupSync();
}

// Node 20 loads the certificates NODE_EXTRA_CA_CERTS names every time it starts, before any of
// coffer's code runs (nodejs/node#40524), although coffer makes no TLS connection. Where the
// variable is set, this says what it adds to each coffer command (sftp does not pay it).
function caCertsNote(env) {
  if (!env.NODE_EXTRA_CA_CERTS) return;
  const start = (e) => {
    const t0 = performance.now();
    spawnSync(process.execPath, ['-e', '0'], { env: e });
    return performance.now() - t0;
  };
  const without = { ...env };
  delete without.NODE_EXTRA_CA_CERTS;
  const [a, b] = [[], []];
  for (let i = 0; i < 11; i++) a.push(start(env)), b.push(start(without));
  process.stdout.write(`note: NODE_EXTRA_CA_CERTS is set; Node loads those certificates at every start: ${(median(a) - median(b)).toFixed(0)} ms of each coffer command above (node -e 0: ${median(a).toFixed(0)} ms with it, ${median(b).toFixed(0)} ms without; medians of 11)\n`);
}

function report(o, size, times) {
  const pick = (k, f) => times[k].map((t) => t[f]);
  const med = Object.fromEntries(Object.keys(times).map((k) => [k, median(pick(k, 'wall'))]));
  const rate = (s) => `${(size / MiB / s).toFixed(0)} MiB/s`;
  const rows = [['figure', 'median', 'throughput', 'cpu client', 'cpu server', 'all runs (s)']];
  for (const k of Object.keys(times)) {
    rows.push([k, `${med[k].toFixed(2)} s`, k.endsWith(' files') ? `${(SMALL_FILES / med[k]).toFixed(0)} files/s` : rate(med[k]), `${median(pick(k, 'client')).toFixed(2)} s`, `${median(pick(k, 'server')).toFixed(2)} s`, pick(k, 'wall').map((x) => x.toFixed(2)).join(' ')]);
  }
  process.stdout.write('\n' + table(rows, rows[0].map(() => 'l'), { rule: false }) + '\n\n');
  // The target (issue 7): coffer, verification included, against OpenSSH's sftp client as a user
  // runs it against Coffer, which negotiates aes128-ctr + hmac-sha2-256 (Coffer offers no
  // chacha20-poly1305 or -etm MACs: Terrapin). Paired ratios (each round's sftp against that
  // round's coffer) cancel slow drifts of the machine's load, as the rounds are interleaved; the
  // target needs both the ratio of the medians and the paired one. sftp with coffer's own cipher
  // (-c aes128-gcm) is the stricter comparison, printed beside it.
  for (const dir of ['put', 'get']) {
    const c = `coffer ${dir}`;
    const paired = (peer) => median(times[c].map((t, i) => times[peer][i].wall / t.wall));
    const d = `sftp ${dir}`;
    const g = `sftp ${dir} (gcm)`;
    const [ratio, pairedD] = [med[d] / med[c], paired(d)];
    process.stdout.write(
      `coffer ${dir}: ${ratio.toFixed(2)}x sftp, per round ${pairedD.toFixed(2)}x (target >= 0.80 against sftp as run: ${Math.min(ratio, pairedD) >= 0.8 ? 'met' : 'MISSED'}); ` +
        `${(med[g] / med[c]).toFixed(2)}x sftp -c ${GCM}, per round ${paired(g).toFixed(2)}x (coffer's own cipher, stricter)\n`,
    );
  }
  // Both ends share this machine's cores: what each figure cost in CPU, client and server together.
  const cpu = (k) => median(pick(k, 'client')) + median(pick(k, 'server'));
  for (const dir of ['put', 'get']) {
    process.stdout.write(
      `for information: CPU seconds (client + server, medians) of a ${dir}: coffer ${cpu(`coffer ${dir}`).toFixed(2)} (${cpu(`coffer ${dir} (no verify)`).toFixed(2)} with --no-verify), ` +
        `sftp ${cpu(`sftp ${dir}`).toFixed(2)}, sftp -c ${GCM} ${cpu(`sftp ${dir} (gcm)`).toFixed(2)}; this machine has ${availableParallelism()} cores\n`,
    );
  }
  for (const dir of ['put', 'get']) {
    const nv = med[`coffer ${dir} (no verify)`];
    process.stdout.write(
      `without verification (--no-verify): coffer ${dir} ${(med[`sftp ${dir}`] / nv).toFixed(2)}x sftp (default cipher), ` +
        `${(med[`sftp ${dir} (gcm)`] / nv).toFixed(2)}x -c ${GCM}; the sha256 on both ends costs ${(med[`coffer ${dir}`] - nv).toFixed(2)} s\n`,
    );
  }
  for (const dir of ['put', 'get']) {
    const checked = med[`sftp ${dir} + sha256sum`];
    process.stdout.write(
      `for information: sftp ${dir} followed by sha256sum of both copies (at once, the remote one over ssh) takes ${checked.toFixed(2)} s; ` +
        `coffer ${dir} is ${(checked / med[`coffer ${dir}`]).toFixed(2)}x that (not the target, which is against plain sftp)\n`,
    );
  }
  for (const dir of ['put', 'get']) {
    const c = med[`coffer ${dir} -r ${SMALL_FILES} files`];
    const d = med[`sftp ${dir} -r ${SMALL_FILES} files`];
    process.stdout.write(`for information: ${dir} -r of ${SMALL_FILES} files of 4 KiB: coffer ${c.toFixed(2)} s (each file verified), sftp ${d.toFixed(2)} s; coffer is ${(d / c).toFixed(2)}x sftp\n`);
  }
  process.stdout.write(`(${o.sizeMiB} MiB, medians of ${o.rounds}; wall time of each whole command, coffer including sha256 verification unless marked)\n`);
}

main().catch((err) => fail(err instanceof ScriptError ? err.message : err.stack || String(err)));
