#!/usr/bin/env node
// Coffer load test (issue 8, item 1): `npm run load [-- OPTIONS]`. Not part of `npm test`.
//
// Starts Coffer (from dist/: run npm install first) on 127.0.0.1 with a temporary state root,
// adds users with near-full quotas, and drives N concurrent SSH/SFTP sessions from separate
// driver processes (scripts/load/driver.mjs, ssh2's client) for a fixed time: small uploads,
// downloads with hash checks, STAT, READDIR, renames, removals, and a few sessions streaming large
// files. It samples the server's RSS and CPU from /proc, then stops the load and the server and
// checks every file's sha256 and every user's saved usage against the disk.
// Exit status: 0 all targets met, 1 a target missed or the run failed, 2 bad options, 130 on a signal.
import { fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, writeFileSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { formatSummary, summarizeProfile } from './bench/cpuprofile.mjs';
import {
  cleanup, cleanupSync, installCleanup, isInterrupted, removeOnCleanup, trackChild, trackServer, untrackServer,
} from './lib/cleanup.mjs';
import { addUser, cofferEnv, commitId, listUsers, PROJECT, serverArgs, startPort } from './lib/coffer.mjs';
import { startPostgresStore, useDatabase } from './lib/postgres.mjs';
import { sha256File, sha256Hex } from './lib/hash.mjs';
import { alive, log, run, ScriptError as LoadError, sleep, stopProcess } from './lib/process.mjs';
import { machineCpu, procCpu, procRssKiB } from './lib/procfs.mjs';
import { percentile } from './lib/stats.mjs';
import { table } from './lib/table.mjs';

const DRIVER = join(PROJECT, 'scripts/load/driver.mjs');
const PROBE = join(PROJECT, 'scripts/load/server-probe.mjs');
const KiB = 1024;
const MiB = 1024 * KiB;
const MAX_SESSIONS_PER_USER = 10; // the server's default maxSessionsPerUser, kept as it is
const STREAM_USER_SESSIONS = 8;
const TARGET_SESSIONS = 200;
const TARGET_RSS_MIB = 400;
const TARGET_STAT_P99_MS = 100;

// ---------------------------------------------------------------------------------------------
// Options

const HELP = `usage: npm run load [-- OPTIONS]     (or: node scripts/load.mjs OPTIONS)

Drives N concurrent SFTP sessions against a Coffer server started on 127.0.0.1 with a temporary
state root, for a fixed time, then checks every file's sha256 and every user's usage against the
disk. Prints sessions held, operations/s, latencies, server RSS and CPU, errors, PASS/FAIL per target.

  --sessions N        concurrent sessions, streamers included (default ${TARGET_SESSIONS})
  --users N           users sharing the mixed-work sessions, at most ${MAX_SESSIONS_PER_USER} sessions each (default 20)
  --seconds S         measured time (default 60)
  --streamers N       sessions streaming large files (default 8); they start after a first phase
                      without them (a quarter of the time), so STAT latency is shown with and without
  --stream-mib M      size of each streamed file (default 64)
  --stream-depth N    255 KiB requests each streamer keeps in flight (default 16, 4 MiB)
  --files N           files each mixed session keeps at most (default 16); quotas are set so the
                      users run near full and some uploads are refused
  --think-ms MS       pause 0..MS ms between a session's operations (default 0: back to back)
  --drivers N         processes running the mixed sessions (default 1; streamers get their own)
  --quick             20 sessions (4 users, 2 streamers of 16 MiB), 10 s: a fast check
  --profile           run the server under node --cpu-prof and summarise where its time went
  --tmp DIR           where the temporary state root goes (default: the OS temp folder; /dev/shm
                      takes the disk's writeback out of the figures)
  --server-threadpool N   UV_THREADPOOL_SIZE for the server (default: Node's 4), for diagnosis
  --keep              keep the temporary state root and logs (printed at the end)
  --store sqlite|postgres   the server's store (default sqlite; postgres: a PostgreSQL 15 started
                      for the run, as the tests start it)
  --help

Needs a built dist/ (npm install) and ssh-keygen. Everything stays on 127.0.0.1.`;

function parseArgs(argv) {
  const o = { sessions: null, users: null, seconds: null, streamers: null, streamMiB: null, files: 16, thinkMs: 0, drivers: 1, quick: false, profile: false, keep: false, tmp: null, threadpool: null, streamDepth: 16, store: 'sqlite' };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let v = null;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) { v = a.slice(eq + 1); a = a.slice(0, eq); }
    const next = () => {
      if (v !== null) return v;
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--help' || a === '-h') { process.stdout.write(HELP + '\n'); process.exit(0); }
    else if (a === '--quick') o.quick = true;
    else if (a === '--profile') o.profile = true;
    else if (a === '--keep') o.keep = true;
    else if (a === '--sessions') o.sessions = int(next(), a, 1);
    else if (a === '--users') o.users = int(next(), a, 1);
    else if (a === '--seconds') o.seconds = int(next(), a, 1);
    else if (a === '--streamers') o.streamers = int(next(), a, 0);
    else if (a === '--stream-mib') o.streamMiB = int(next(), a, 1);
    else if (a === '--files') o.files = int(next(), a, 1);
    else if (a === '--think-ms') o.thinkMs = int(next(), a, 0);
    else if (a === '--drivers') o.drivers = int(next(), a, 1);
    else if (a === '--stream-depth') o.streamDepth = int(next(), a, 1);
    else if (a === '--tmp') o.tmp = resolve(next());
    else if (a === '--server-threadpool') o.threadpool = int(next(), a, 1);
    else if (a === '--store') {
      o.store = next();
      if (o.store !== 'sqlite' && o.store !== 'postgres') usage(`--store takes sqlite or postgres, not '${o.store}'`);
    } else usage(`unknown option '${a}'`);
  }
  o.sessions ??= o.quick ? 20 : TARGET_SESSIONS;
  o.users ??= o.quick ? 4 : 20;
  o.seconds ??= o.quick ? 10 : 60;
  o.streamers ??= o.quick ? 2 : 8;
  o.streamMiB ??= o.quick ? 16 : 64;
  if (o.streamers > o.sessions) usage('--streamers cannot exceed --sessions');
  o.mixed = o.sessions - o.streamers;
  if (o.mixed > 0 && Math.ceil(o.mixed / o.users) > MAX_SESSIONS_PER_USER) {
    usage(`${o.mixed} mixed sessions over ${o.users} users is more than the server's maxSessionsPerUser (${MAX_SESSIONS_PER_USER}) each: use --users ${Math.ceil(o.mixed / MAX_SESSIONS_PER_USER)} or more`);
  }
  if (o.users > o.mixed && o.mixed > 0) o.users = o.mixed;
  if (o.drivers > Math.max(1, o.mixed)) o.drivers = Math.max(1, o.mixed);
  return o;
}
function usage(msg) {
  process.stderr.write(`load: error: ${msg}\n\n${HELP}\n`);
  process.exit(2);
}
function int(s, name, min) {
  const n = Number(s);
  if (!Number.isInteger(n) || n < min) usage(`${name} wants an integer >= ${min}, not '${s}'`);
  return n;
}

installCleanup('load', 'stopping the drivers and the server, removing temp files');

// ---------------------------------------------------------------------------------------------
// Helpers

/** Regular files under dir (iterative, lstat, no symlinks followed): [{ rel, size, path }]. */
function walk(dir) {
  const out = [];
  const stack = [''];
  for (let n = 0; stack.length && n < 1_000_000; n++) {
    const rel = stack.pop();
    for (const name of readdirSync(join(dir, rel))) {
      const r = `${rel}/${name}`;
      const st = lstatSync(join(dir, r));
      if (st.isDirectory()) stack.push(r);
      else if (st.isFile()) out.push({ rel: r, size: st.size, path: join(dir, r) });
    }
  }
  return out;
}

function concatSorted(arrays) {
  const n = arrays.reduce((a, x) => a + x.length, 0);
  const out = new Float64Array(n);
  let o = 0;
  for (const a of arrays) { out.set(a, o); o += a.length; }
  return out.sort();
}
const f1 = (v) => (Number.isFinite(v) ? v.toFixed(1) : 'n/a');
const f0 = (v) => (Number.isFinite(v) ? v.toFixed(0) : 'n/a');
const ms = (v) => (!Number.isFinite(v) ? 'n/a' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const la = () => loadavg().map((x) => x.toFixed(2)).join(' ');

// ---------------------------------------------------------------------------------------------
// Setup: state root, key, users, server

function planUsers(o) {
  const users = [];
  const sessions = [];
  // Mixed sessions, round-robin over the users; each keeps at most o.files files of 1-64 KiB
  // (32.5 KiB on average). A user's quota is a filler file plus 60% of what its sessions would
  // hold at their cap, so the users run near full and some uploads are refused.
  for (let u = 0; u < (o.mixed > 0 ? o.users : 0); u++) {
    users.push({ name: `u${String(u + 1).padStart(2, '0')}`, kind: 'mixed', sessions: 0 });
  }
  for (let i = 0; i < o.mixed; i++) {
    const u = users[i % users.length];
    u.sessions++;
    sessions.push({ id: i + 1, user: u.name, kind: 'mixed', dir: `/s${i + 1}` });
  }
  const filler = 256 * KiB;
  for (const u of users) {
    u.filler = filler;
    u.quota = filler + Math.floor(u.sessions * o.files * 32.5 * KiB * 0.6);
  }
  // Streamers: users of at most 8 sessions, each session keeps at most two big files at once.
  const nStreamUsers = Math.ceil(o.streamers / STREAM_USER_SESSIONS);
  const streamUsers = [];
  for (let u = 0; u < nStreamUsers; u++) streamUsers.push({ name: `big${u + 1}`, kind: 'stream', sessions: 0, filler: 0 });
  for (let j = 0; j < o.streamers; j++) {
    const u = streamUsers[Math.floor(j / STREAM_USER_SESSIONS)];
    u.sessions++;
    sessions.push({ id: o.mixed + j + 1, user: u.name, kind: 'stream', dir: `/stream${j + 1}` });
  }
  for (const u of streamUsers) u.quota = (2 * u.sessions + 1) * o.streamMiB * MiB; // big, not unlimited
  return { users: [...users, ...streamUsers], sessions };
}

async function setup(o, work) {
  const root = join(work, 'root');
  mkdirSync(join(root, 'homes'), { recursive: true, mode: 0o700 });
  const key = join(work, 'client_ed25519');
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'coffer-load', '-f', key]);
  const plan = planUsers(o);
  const manifest = []; // [user, path, size, sha256] of files made before the load (fillers)
  if (o.store === 'postgres') {
    log('starting PostgreSQL (--store postgres)...');
    useDatabase(root, await startPostgresStore());
  }
  log(`adding ${plan.users.length} users...`);
  for (const u of plan.users) {
    if (u.filler) {
      // The home is made before `add`, which counts an existing home's files as the user's usage.
      const home = join(root, 'homes', u.name);
      mkdirSync(home, { mode: 0o700 });
      const data = randomBytes(u.filler);
      writeFileSync(join(home, 'filler.bin'), data, { mode: 0o600 });
      manifest.push([u.name, '/filler.bin', data.length, sha256Hex(data)]);
    }
    addUser(root, u.name, { quota: u.quota, keyPub: key + '.pub' });
  }
  return { root, key, plan, manifest };
}

async function startServer(o, work, root) {
  const logFile = join(work, 'server.log');
  const errFile = join(work, 'server.stderr');
  const profDir = join(work, 'profile');
  const probeFile = join(work, 'server-loop.jsonl');
  if (o.profile) mkdirSync(profDir);
  const out = openSync(logFile, 'w');
  const err = openSync(errFile, 'w');
  const args = [
    ...(o.profile ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []),
    '--import', pathToFileURL(PROBE).href,
    ...serverArgs(root, { extra: [
      '--max-connections', String(o.sessions + 100), '--max-connections-per-ip', String(o.sessions + 100),
      // Every simulated user connects from 127.0.0.1, up to 16 handshakes at once: the pre-login
      // caps (maxStartups, 8 per address by default) would refuse the load as an attack.
      '--max-startups', String(o.sessions + 100), '--max-startups-per-ip', String(o.sessions + 100),
      '--shutdown-grace-seconds', '10',
    ] }),
  ];
  const env = cofferEnv();
  env.LOAD_PROBE_FILE = probeFile;
  if (o.threadpool) env.UV_THREADPOOL_SIZE = String(o.threadpool);
  else delete env.UV_THREADPOOL_SIZE;
  const p = spawn(process.execPath, args, { stdio: ['ignore', out, err], env, cwd: PROJECT });
  closeSync(out);
  closeSync(err);
  trackServer(p);
  const server = { proc: p, pid: p.pid, logFile, errFile, profDir, probeFile, exit: null };
  p.on('exit', (code, signal) => { server.exit = signal ?? code; });
  for (let i = 0; i < 600; i++) { // 60 s
    if (server.exit !== null) throw new LoadError(`the server exited (${server.exit}) before starting:\n${readFileSync(errFile, 'utf8').slice(-2000)}${readFileSync(logFile, 'utf8').slice(-2000)}`);
    const text = readFileSync(logFile, 'utf8');
    for (const line of text.split('\n')) {
      const port = startPort(line); // null for a partial line
      if (port !== null) { server.port = port; return server; }
    }
    await sleep(100);
  }
  throw new LoadError('the server did not log its start line within 60 s');
}

// ---------------------------------------------------------------------------------------------
// Drivers

function startDriver(role, config) {
  const child = fork(DRIVER, [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: cofferEnv(), execArgv: [] });
  trackChild(child);
  const d = { role, child, ready: null, result: null, ticks: [], exit: null, fatal: null, waiters: [] };
  child.on('message', (m) => {
    if (m.type === 'ready') d.ready = m;
    else if (m.type === 'tick') { if (d.ticks.length < 100_000) d.ticks.push(m); }
    else if (m.type === 'result') d.result = m;
    else if (m.type === 'fatal') d.fatal = m.message;
    for (const w of d.waiters.splice(0)) w();
  });
  child.on('exit', (code, signal) => { d.exit = signal ?? code; for (const w of d.waiters.splice(0)) w(); });
  child.send({ type: 'config', role, ...config });
  return d;
}

async function waitFor(drivers, pred, what, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const bad = drivers.find((d) => d.fatal || (d.exit !== null && !pred(d)));
    if (bad) throw new LoadError(`driver ${bad.role} ${bad.fatal ? `failed: ${bad.fatal}` : `exited (${bad.exit})`} before ${what}`);
    if (drivers.every(pred)) return;
    const left = deadline - Date.now();
    if (left <= 0) throw new LoadError(`drivers did not report ${what} within ${timeoutMs / 1000} s`);
    await new Promise((r) => {
      const t = setTimeout(r, Math.min(left, 1000));
      for (const d of drivers) d.waiters.push(() => { clearTimeout(t); r(); });
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  const o = parseArgs(process.argv.slice(2));
  for (const f of [join(PROJECT, 'dist/src/cli/server/main.js'), join(PROJECT, 'bin/coffer-server.js'), DRIVER]) {
    if (!existsSync(f)) throw new LoadError(`${f} is missing${f.includes('dist') ? ' (run npm install, or npx tsc -p .)' : ''}`);
  }
  const work = mkdtempSync(join(o.tmp ?? tmpdir(), 'coffer-load-'));
  if (!o.keep) removeOnCleanup(work);
  const commit = commitId();
  const loadStart = la();
  const header = [
    `Coffer load test: commit ${commit} (dist/ as built), node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? '?'}`,
    `${o.sessions} sessions (${o.mixed} mixed over ${o.users} users, ${o.streamers} streaming ${o.streamMiB} MiB files, ${o.streamDepth} requests in flight each), ${o.seconds} s${o.thinkMs ? `, think time 0-${o.thinkMs} ms` : ', no think time'}, ${o.drivers} mixed driver process(es)${o.streamers ? ' + 1 for the streamers' : ''}${o.quick ? ' (--quick)' : ''}${o.profile ? ', server under --cpu-prof' : ''}${o.threadpool ? `, server UV_THREADPOOL_SIZE=${o.threadpool}` : ''}`,
  ];
  log(header.join('\n'));
  log(`load average at start: ${loadStart}; work folder ${work}`);

  const { root, key, plan, manifest: fillers } = await setup(o, work);
  const server = await startServer(o, work, root);
  log(`server pid ${server.pid} on 127.0.0.1:${server.port}`);

  // Sampler: server RSS and CPU every second, machine CPU, load average.
  const drivers = [];
  const samples = [];
  const sample = () => {
    const s = { at: Date.now(), rssKiB: procRssKiB(server.pid), cpu: procCpu(server.pid), machine: machineCpu(), load1: loadavg()[0], drivers: 0 };
    for (const d of drivers) if (alive(d.child)) s.drivers += procCpu(d.child.pid) || 0;
    if (samples.length < 100_000) samples.push(s);
    return s;
  };
  sample();
  const sampler = setInterval(sample, 1000);

  // Drivers: mixed sessions split round-robin; streamers in a process of their own.
  const common = { host: '127.0.0.1', port: server.port, keyFile: key, filesPerSession: o.files, thinkMs: o.thinkMs, streamBytes: o.streamMiB * MiB, streamDepth: o.streamDepth, connectConcurrency: 16 };
  const mixed = plan.sessions.filter((s) => s.kind === 'mixed');
  const streams = plan.sessions.filter((s) => s.kind === 'stream');
  for (let d = 0; d < (mixed.length ? o.drivers : 0); d++) {
    drivers.push(startDriver(`mixed${d + 1}`, { ...common, sessions: mixed.filter((_, i) => i % o.drivers === d) }));
  }
  if (streams.length) drivers.push(startDriver('stream', { ...common, sessions: streams }));
  const tConnect = Date.now();
  log(`connecting ${o.sessions} sessions...`);
  await waitFor(drivers, (d) => d.ready, 'connecting their sessions', 120_000);
  const connectSeconds = (Date.now() - tConnect) / 1000;
  const connectFailures = drivers.flatMap((d) => d.ready.failures.map((f) => ({ ...f, driver: d.role })));
  const heldAfterConnect = drivers.reduce((a, d) => a + d.ready.held, 0);
  log(`${heldAfterConnect}/${o.sessions} sessions ready in ${connectSeconds.toFixed(1)} s${connectFailures.length ? `; ${connectFailures.length} failed: ${connectFailures[0].message}` : ''}`);

  // The measured window; streamers start after the first quarter (at least 2 s).
  const startAt = Date.now() + 500;
  const streamAt = o.streamers ? startAt + Math.max(2000, Math.round(o.seconds * 250)) : 0;
  const endAt = startAt + o.seconds * 1000;
  for (const d of drivers) d.child.send({ type: 'go', startAt, streamAt, endAt });
  const readings = {};
  const readAt = (name, at) => setTimeout(() => { readings[name] = sample(); }, Math.max(0, at - Date.now()));
  readAt('start', startAt);
  if (streamAt) readAt('stream', streamAt);
  readAt('end', endAt);
  const progress = setInterval(() => {
    const t = (Date.now() - startAt) / 1000;
    if (t < 0) return;
    const last = drivers.map((d) => d.ticks.at(-1)).filter(Boolean);
    const s = samples.at(-1);
    log(`  t=${t.toFixed(0).padStart(3)} s  held ${last.reduce((a, x) => a + x.held, 0)}  ops ${last.reduce((a, x) => a + x.ops, 0)}  refusals ${last.reduce((a, x) => a + x.refusals, 0)}  errors ${last.reduce((a, x) => a + x.errors, 0)}  server RSS ${f0(s.rssKiB / 1024)} MiB  load ${s.load1.toFixed(2)}`);
  }, 5000);
  await waitFor(drivers, (d) => d.result, 'the end of the load', o.seconds * 1000 + 120_000);
  clearInterval(progress);
  const loadEnd = la();
  const rMachineEnd = readings.end ?? sample();

  // Stop the server (it saves usage on shutdown), then check the disk.
  log('load stopped; stopping the server (SIGTERM)...');
  const serverExit = await stopProcess(server.proc, 30_000);
  untrackServer(server.proc);
  clearInterval(sampler);
  for (const d of drivers) if (alive(d.child)) d.child.send({ type: 'exit' });

  log('checking every file and every user\'s usage...');
  const results = drivers.map((d) => d.result);
  const verify = await verifyState(root, plan, [...fillers, ...results.flatMap((r) => r.manifest)]);

  // Server log: warnings and errors, quota refusals, stderr.
  const logInfo = scanLog(server.logFile);
  const stderrText = readFileSync(server.errFile, 'utf8').trim();

  let profileText = '';
  if (o.profile) {
    const files = existsSync(server.profDir) ? readdirSync(server.profDir).filter((f) => f.endsWith('.cpuprofile')) : [];
    if (files.length) {
      profileText = ['', '== server CPU profile over the whole run (node --cpu-prof) ==', ...formatSummary(summarizeProfile(JSON.parse(readFileSync(join(server.profDir, files[0]), 'utf8'))), 25)].join('\n');
    } else profileText = '\n(no .cpuprofile written: did the server exit cleanly?)';
  }

  const loop = existsSync(server.probeFile) ? readFileSync(server.probeFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
  const text = report({ o, loop, header, loadStart, loadEnd, connectSeconds, connectFailures, heldAfterConnect, drivers, results, samples, readings, rMachineEnd, startAt, streamAt, endAt, serverExit, verify, logInfo, stderrText });
  process.stdout.write('\n' + text.text + profileText + '\n');
  if (o.keep) process.stdout.write(`\nkept: ${work} (server log ${server.logFile})\n`);
  return text.pass;
}

async function verifyState(root, plan, manifest) {
  const problems = [];
  const expected = new Map(); // `${user}${path}` -> [size, sha]
  for (const [user, path, size, sha] of manifest) expected.set(`${user}${path}`, [size, sha]);
  const disk = new Map();
  const usageByUser = {};
  let hashed = 0;
  let hashedBytes = 0;
  for (const u of plan.users) {
    const home = join(root, 'homes', u.name);
    let sum = 0;
    for (const f of walk(home)) {
      sum += f.size;
      disk.set(`${u.name}${f.rel}`, f);
    }
    usageByUser[u.name] = { disk: sum };
  }
  for (const [k, [size, sha]] of expected) {
    const f = disk.get(k);
    if (!f) { problems.push(`missing: ${k} (${size} bytes written)`); continue; }
    if (f.size !== size) { problems.push(`size: ${k} is ${f.size} bytes on disk, ${size} written`); continue; }
    if (sha === null) { problems.push(`unknown content: ${k} (after a failed operation)`); continue; }
    const h = await sha256File(f.path);
    hashed++;
    hashedBytes += f.size;
    if (h !== sha) problems.push(`sha256: ${k} on disk ${h.slice(0, 16)}..., written ${sha.slice(0, 16)}...`);
  }
  for (const [k, f] of disk) if (!expected.has(k)) problems.push(`unexpected file on disk: ${k} (${f.size} bytes)`);

  const list = listUsers(root);
  for (const u of plan.users) {
    const row = list.find((x) => x.name === u.name);
    usageByUser[u.name].saved = row?.usedBytes ?? NaN;
    usageByUser[u.name].quota = row?.quotaBytes ?? null;
    if (!row) problems.push(`usage: ${u.name} is not in coffer-users list`);
    else if (row.usedBytes !== usageByUser[u.name].disk) problems.push(`usage: ${u.name} saved usedBytes ${row.usedBytes}, disk ${usageByUser[u.name].disk} (drift ${row.usedBytes - usageByUser[u.name].disk})`);
  }
  return { problems, files: expected.size, diskFiles: disk.size, hashed, hashedBytes, usageByUser };
}

function scanLog(file) {
  const counts = {};
  const bad = [];
  let lines = 0;
  let quotaRefused = 0;
  let transfers = 0;
  const text = readFileSync(file, 'utf8');
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    lines++;
    let j;
    try { j = JSON.parse(line); } catch { if (bad.length < 20) bad.push(`(not JSON) ${line.slice(0, 300)}`); continue; }
    if (j.event === 'quota.refused') quotaRefused++;
    if (j.event === 'transfer') transfers++;
    if (j.level >= 40) {
      const k = `${j.level >= 50 ? 'error' : 'warn'} ${j.event ?? j.msg}`;
      counts[k] = (counts[k] ?? 0) + 1;
      if (bad.length < 20) bad.push(line.slice(0, 400));
    }
  }
  return { lines, counts, bad, quotaRefused, transfers, bytes: text.length };
}

// ---------------------------------------------------------------------------------------------
// Report

function report(x) {
  const { o, results, samples, readings, verify, logInfo } = x;
  const out = [...x.header];
  const window = o.seconds;
  out.push(`load average (1/5/15 min): ${x.loadStart} at start, ${x.loadEnd} at the end (other work on this machine shares its ${cpus().length} cores)`);

  // Sessions held: minimum of the per-second sums during the window.
  const heldSeries = [];
  const byDriverTicks = x.drivers.map((d) => d.ticks.filter((t) => t.at >= x.startAt && t.at <= x.endAt));
  const nTicks = Math.min(...byDriverTicks.map((t) => t.length));
  for (let i = 0; i < nTicks; i++) heldSeries.push(byDriverTicks.reduce((a, t) => a + t[i].held, 0));
  const heldStart = results.reduce((a, r) => a + r.heldAtStart, 0);
  const heldEnd = results.reduce((a, r) => a + r.heldAtEnd, 0);
  const heldMin = Math.min(heldStart, heldEnd, ...heldSeries);
  const lost = results.flatMap((r) => r.lost);

  // Operations.
  const kinds = ['stat', 'upload', 'download', 'readdir', 'rename', 'rename-over', 'remove'];
  const merged = (kind, phase) => concatSorted(results.flatMap((r) => Object.entries(r.ops).filter(([k]) => k === `${kind}|${phase}` || (phase === '*' && k.startsWith(`${kind}|`))).map(([, v]) => v)));
  const baseSeconds = x.streamAt ? (x.streamAt - x.startAt) / 1000 : window;
  const streamSeconds = x.streamAt ? (x.endAt - x.streamAt) / 1000 : 0;
  const opRows = [['operation', 'count', 'ops/s', 'p50 ms', 'p99 ms', 'max ms', ...(x.streamAt ? ['without streamers: ops/s, p50 / p99', 'with streamers: ops/s, p50 / p99'] : [])]];
  let baseOps = 0;
  let streamOps = 0;
  let totalOps = 0;
  const statAll = merged('stat', '*');
  const statBase = merged('stat', 'base');
  const statStream = merged('stat', 'stream');
  for (const k of kinds) {
    const all = merged(k, '*');
    if (!all.length) continue;
    totalOps += all.length;
    const b = merged(k, 'base');
    const s = merged(k, 'stream');
    opRows.push([k, all.length, f1(all.length / window), ms(percentile(all, 50)), ms(percentile(all, 99)), ms(all[all.length - 1]),
      ...(x.streamAt ? [`${f1(b.length / baseSeconds)}, ${ms(percentile(b, 50))} / ${ms(percentile(b, 99))}`, `${f1(s.length / streamSeconds)}, ${ms(percentile(s, 50))} / ${ms(percentile(s, 99))}`] : [])]);
    baseOps += b.length;
    streamOps += s.length;
  }
  const refusals = results.reduce((a, r) => a + r.refusals, 0);
  opRows.push(['all (refused uploads not counted)', totalOps, f1(totalOps / window), '', '', '', ...(x.streamAt ? [f1(baseOps / baseSeconds), f1(streamOps / streamSeconds)] : [])]);

  const st = results.reduce((a, r) => ({ up: a.up + r.stream.upBytes, down: a.down + r.stream.downBytes, files: a.files + r.stream.files, aborted: a.aborted + r.stream.aborted }), { up: 0, down: 0, files: 0, aborted: 0 });
  const smallUp = results.reduce((a, r) => a + r.bytesUp, 0);
  const smallDown = results.reduce((a, r) => a + r.bytesDown, 0);

  // Errors.
  const errorCount = results.reduce((a, r) => a + r.errorCount, 0) + x.connectFailures.length;
  const errorKinds = {};
  for (const r of results) for (const [k, v] of Object.entries(r.errorKinds)) errorKinds[k] = (errorKinds[k] ?? 0) + v;
  for (const f of x.connectFailures) errorKinds[`connect: ${f.message}`] = (errorKinds[`connect: ${f.message}`] ?? 0) + 1;

  // Server resources.
  const rss = samples.map((s) => s.rssKiB).filter(Number.isFinite);
  const rssMax = Math.max(...rss) / 1024;
  const rssEnd = (readings.end?.rssKiB ?? NaN) / 1024;
  const cpuPct = (a, b) => (b && a ? (100 * (b.cpu - a.cpu)) / ((b.at - a.at) / 1000) : NaN);
  const machPct = (a, b) => (b && a ? (100 * (b.machine.busy - a.machine.busy)) / ((b.at - a.at) / 1000) : NaN);
  const drvPct = (a, b) => (b && a ? (100 * (b.drivers - a.drivers)) / ((b.at - a.at) / 1000) : NaN);
  const rs = readings.start;
  const rsm = readings.stream;
  const re = readings.end ?? x.rMachineEnd;
  const load1 = samples.filter((s) => s.at >= x.startAt && s.at <= x.endAt).map((s) => s.load1);

  out.push('', `connect: ${x.heldAfterConnect}/${o.sessions} sessions ready in ${x.connectSeconds.toFixed(1)} s (16 handshakes at a time per driver)`);
  out.push(`sessions held during the window: min ${heldMin}, at start ${heldStart}, at end ${heldEnd}${lost.length ? `; lost ${lost.length}: ${lost.slice(0, 5).map((l) => `#${l.session} ${l.user} (${l.why})`).join(', ')}` : ''}`);
  out.push('', `operations over ${window} s${x.streamAt ? ` (first ${baseSeconds.toFixed(0)} s without streamers, then ${streamSeconds.toFixed(0)} s with ${o.streamers})` : ''}; latency = request sent to answer, as the client sees it:`);
  out.push(table(opRows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r']));
  out.push(`small files: ${f1(smallUp / MiB)} MiB up, ${f1(smallDown / MiB)} MiB down; expected quota refusals (FAILURE 'Quota exceeded'): ${refusals} (${f1((100 * refusals) / Math.max(1, refusals + merged('upload', '*').length))}% of uploads; server logged ${logInfo.quotaRefused} quota.refused)`);
  if (o.streamers) {
    out.push(`streamers: ${st.files} files of ${o.streamMiB} MiB completed, ${f1(st.up / MiB)} MiB up + ${f1(st.down / MiB)} MiB down in ${streamSeconds.toFixed(0)} s = ${f1((st.up + st.down) / MiB / streamSeconds)} MiB/s together (${st.aborted} cut by the deadline, removed)`);
  }
  out.push('', `errors (unexpected): ${errorCount}`);
  for (const [k, v] of Object.entries(errorKinds).sort((a, b) => b[1] - a[1]).slice(0, 20)) out.push(`  ${v} x ${k}`);
  for (const r of results) for (const e of r.errors.slice(0, 5)) out.push(`  e.g. session #${e.session} (${e.user}) ${e.op} at t=${((e.at - x.startAt) / 1000).toFixed(1)} s: ${e.message}`);

  out.push('', 'resources (CPU as % of one core):');
  const resRows = [['', 'whole window', ...(rsm ? ['without streamers', 'with streamers'] : [])]];
  resRows.push(['server CPU', `${f0(cpuPct(rs, re))}%`, ...(rsm ? [`${f0(cpuPct(rs, rsm))}%`, `${f0(cpuPct(rsm, re))}%`] : [])]);
  resRows.push(['driver processes CPU (all)', `${f0(drvPct(rs, re))}%`, ...(rsm ? [`${f0(drvPct(rs, rsm))}%`, `${f0(drvPct(rsm, re))}%`] : [])]);
  resRows.push(['machine busy (all processes)', `${f0(machPct(rs, re))}% of ${cpus().length * 100}%`, ...(rsm ? [`${f0(machPct(rs, rsm))}%`, `${f0(machPct(rsm, re))}%`] : [])]);
  out.push(table(resRows, ['l', 'r', 'r', 'r']));
  for (const r of results) {
    out.push(`  driver ${r.role}: ${f0((100 * r.cpuSeconds) / r.wallSeconds)}% of a core over its run; event-loop delay p50 ${ms(r.loopDelayMs.p50)} ms, p99 ${ms(r.loopDelayMs.p99)} ms, max ${ms(r.loopDelayMs.max)} ms`);
  }
  const loopRow = (a, b) => {
    const v = x.loop.filter((l) => l.at > a && l.at <= b);
    if (!v.length) return 'n/a';
    const p99s = v.map((l) => l.p99).sort((p, q) => p - q);
    return `median of per-second p50 ${ms(percentile(v.map((l) => l.p50).sort((p, q) => p - q), 50))} ms, of p99 ${ms(percentile(p99s, 50))} ms, worst p99 ${ms(p99s.at(-1))} ms, max ${ms(Math.max(...v.map((l) => l.max)))} ms`;
  };
  out.push(`server event-loop delay (preloaded probe, per second):`);
  if (x.streamAt) {
    out.push(`  without streamers: ${loopRow(x.startAt, x.streamAt)}`);
    out.push(`  with streamers:    ${loopRow(x.streamAt, x.endAt)}`);
  } else out.push(`  whole window: ${loopRow(x.startAt, x.endAt)}`);
  out.push(`server RSS: max ${f0(rssMax)} MiB, at the end of the load ${f0(rssEnd)} MiB (VmRSS sampled every second)`);
  out.push(`load average (1 min) during the window: ${load1.length ? `${Math.min(...load1).toFixed(2)}-${Math.max(...load1).toFixed(2)}` : 'n/a'}`);

  out.push('', `server: exit after SIGTERM: ${x.serverExit}; log ${logInfo.lines} lines (${f1(logInfo.bytes / MiB)} MiB), ${logInfo.transfers} transfer lines; warnings/errors: ${Object.keys(logInfo.counts).length ? Object.entries(logInfo.counts).map(([k, v]) => `${v} x ${k}`).join(', ') : 'none'}`);
  for (const l of logInfo.bad.slice(0, 8)) out.push(`  ${l}`);
  if (x.stderrText) out.push(`server stderr:\n  ${x.stderrText.split('\n').slice(0, 20).join('\n  ')}`);

  out.push('', `end check: ${verify.files} files expected, ${verify.diskFiles} on disk, ${verify.hashed} hashed (${f1(verify.hashedBytes / MiB)} MiB); usage saved vs disk for ${Object.keys(verify.usageByUser).length} users`);
  const uRows = [['user', 'quota', 'saved usedBytes', 'disk', 'used %']];
  for (const [name, u] of Object.entries(verify.usageByUser)) uRows.push([name, u.quota === null ? 'unlimited' : u.quota, u.saved, u.disk, u.quota ? `${f0((100 * u.disk) / u.quota)}%` : '']);
  if (Object.keys(verify.usageByUser).length <= 30) out.push(table(uRows, ['l', 'r', 'r', 'r', 'r']));
  out.push(`problems: ${verify.problems.length}`);
  for (const p of verify.problems.slice(0, 30)) out.push(`  ${p}`);

  // Targets.
  const p99Stream = percentile(x.streamAt ? statStream : statAll, 99);
  const targets = [
    [`sessions held concurrently (target: all ${o.sessions}${o.sessions < TARGET_SESSIONS ? `; the full target is ${TARGET_SESSIONS}` : ''})`, `${heldMin}`, heldMin === o.sessions && heldAfterConnectOk(x, o)],
    ['failed operations (target 0; quota refusals excluded)', `${errorCount}`, errorCount === 0],
    ['files: content hash and presence (target 0 problems)', `${verify.problems.filter((p) => !p.startsWith('usage')).length}`, verify.problems.filter((p) => !p.startsWith('usage')).length === 0],
    ['usage saved = disk for every user (target 0 drift)', `${verify.problems.filter((p) => p.startsWith('usage')).length} users off`, verify.problems.filter((p) => p.startsWith('usage')).length === 0],
    [`server RSS max (target < ${TARGET_RSS_MIB} MiB)`, `${f0(rssMax)} MiB`, rssMax < TARGET_RSS_MIB],
    [`STAT p99 ${x.streamAt ? `while ${o.streamers} sessions stream` : '(no streamers)'} (target < ${TARGET_STAT_P99_MS} ms)`, `${ms(p99Stream)} ms`, p99Stream < TARGET_STAT_P99_MS],
    ['server exits cleanly after SIGTERM', String(x.serverExit), x.serverExit === 0],
  ];
  if (o.sessions < TARGET_SESSIONS) targets.push([`scale: at least ${TARGET_SESSIONS} sessions`, `${o.sessions}`, null]);
  out.push('', table([['target', 'measured', 'result'], ...targets.map(([t, m, p]) => [t, m, p === null ? 'n/a (smaller run)' : p ? 'PASS' : 'FAIL'])], ['l', 'r', 'l']));
  const pass = targets.every(([, , p]) => p !== false);
  out.push(pass ? 'ALL TARGETS MET' : `SOME TARGETS MISSED: ${targets.filter(([, , p]) => p === false).map(([t]) => t.replace(/ \(target.*$/, '')).join('; ')}`);
  return { text: out.join('\n'), pass };
}

function heldAfterConnectOk(x, o) { return x.heldAfterConnect === o.sessions; }

main().then(
  (pass) => { cleanupSync(); process.exit(pass ? 0 : 1); },
  async (err) => {
    if (isInterrupted()) return;
    process.stderr.write(`load: error: ${err instanceof LoadError ? err.message : err?.stack ?? err}\n`);
    await cleanup(5000);
    process.exit(1);
  },
);
