#!/usr/bin/env node
// What hooks cost uploads: two coffer-server processes, one without hooks and one with a run hook
// (/bin/true, a process per upload) and a post hook (to a node:http receiver here) on `upload`,
// each sent OpenSSH `sftp -b` uploads of N small files and of one large file, in interleaved
// rounds (the order alternates each round); prints the medians and checks every upload's hooks ran.
// Hooks wait for a quiet moment (src/hooks/hook-queue.ts): before each timed phase the script
// waits until every hook of the earlier phases was delivered (coffer_hooks_delivered_total on the
// hooked server's /metrics), so a phase is timed with only its own hooks, and prints how long the
// hook programs kept running after the uploads ended (their own CPU, not the uploads').
// --hook idle: a run hook on an event that never comes (the runner process alone); --hook none: no
// hooks on either server (A/A: the noise of the comparison).
// Usage: node scripts/bench-hooks.mjs [--hook run|post|both|idle|none] [--rounds 5] [--files 200] [--file-kib 4] [--big-mib 256]
//   (after npm run build: runs bin/coffer-server.js of this checkout)
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { installCleanup, cleanup, removeOnCleanup, trackChild, untrackChild } from './lib/cleanup.mjs';
import { addUser, cofferEnv, commitId, serverArgs, startPort } from './lib/coffer.mjs';
import { memoryTmpdir, writeRandomFile } from './lib/files.mjs';
import { log, run, ScriptError, sleep } from './lib/process.mjs';
import { attachOutput, spawnServer, stopServer, waitForLine } from './lib/servers.mjs';
import { median } from './lib/stats.mjs';
import { table } from './lib/table.mjs';

const { values: opt } = parseArgs({
  options: { hook: { type: 'string', default: 'both' }, rounds: { type: 'string', default: '5' }, files: { type: 'string', default: '200' }, 'file-kib': { type: 'string', default: '4' }, 'big-mib': { type: 'string', default: '256' } },
});
const ROUNDS = Number(opt.rounds);
const FILES = Number(opt.files);
installCleanup('bench-hooks', 'stopping the servers');

async function main() {
  const scratch = mkdtempSync(join(memoryTmpdir(), 'coffer-bench-hooks-'));
  removeOnCleanup(scratch);
  const key = join(scratch, 'id_ed25519');
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  const small = join(scratch, 'small');
  mkdirSync(small);
  for (let i = 0; i < FILES; i++) await writeRandomFile(join(small, `f${String(i).padStart(4, '0')}`), Number(opt['file-kib']) * 1024);
  const big = join(scratch, 'big.bin');
  await writeRandomFile(big, Number(opt['big-mib']) * 1024 * 1024);

  // The post hook's receiver: answers 200 at once, counts deliveries.
  let posts = 0;
  const receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      posts += 1;
      res.end();
    });
  });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  const hooks = [
    ...(opt.hook === 'idle' ? [{ on: ['rmdir'], run: ['/bin/true'] }] : []),
    ...(opt.hook === 'run' || opt.hook === 'both' ? [{ on: ['upload'], run: ['/bin/true'] }] : []),
    ...(opt.hook === 'post' || opt.hook === 'both' ? [{ on: ['upload'], post: `http://127.0.0.1:${receiver.address().port}/`, secret: 'bench' }] : []),
  ];
  const hooked = `${opt.hook === 'both' ? 'run+post' : opt.hook} hook`;
  const perUpload = hooks.filter((h) => h.on.includes('upload')).length;

  const servers = [];
  for (const [name, extra] of [['no hooks', []], [hooked, ['--hooks', JSON.stringify(hooks)]]]) {
    const root = join(scratch, name.replace(/\W/g, '-'));
    mkdirSync(root);
    addUser(root, 'bench', { keyPub: `${key}.pub` });
    const metricsFlags = extra.length > 0 && perUpload > 0 ? ['--metrics-listen', '127.0.0.1:0'] : [];
    const s = spawnServer(name, process.execPath, serverArgs(root, { extra: ['--idle-timeout-seconds', '0', ...metricsFlags, ...extra] }), { env: cofferEnv(), oneProcess: true });
    attachOutput(s, (line) => /"level":(40|50|60)/.test(line));
    s.port = await waitForLine(s, startPort, 'start line');
    // One waiter at a time (it replays the lines seen): the metrics line came before the start line.
    if (metricsFlags.length > 0) s.metricsPort = await waitForLine(s, (line) => (line.includes('"metrics.listen"') ? Number(JSON.parse(line).address.split(':').pop()) : null), 'metrics line');
    servers.push(s);
  }

  // Asynchronous: this process must keep reading the servers' log lines (and answering the post
  // hook) while sftp runs, or a server blocks on its full stdout pipe.
  const sftp = async (s, lines) => {
    const batch = join(scratch, 'batch');
    writeFileSync(batch, lines.join('\n') + '\n');
    const t = performance.now();
    const child = spawn('sftp', ['-q', '-F', '/dev/null', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes',
      '-i', key, '-P', String(s.port), '-b', batch, 'bench@127.0.0.1'], { cwd: scratch, stdio: ['ignore', 'ignore', 'pipe'] });
    trackChild(child);
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise((r) => child.on('close', r));
    untrackChild(child);
    if (code !== 0) throw new ScriptError(`sftp on ${s.name}: ${stderr.trim()}`);
    return (performance.now() - t) / 1000;
  };
  const times = new Map(servers.map((s) => [s.name, { small: [], big: [], smallCpu: [], bigCpu: [] }]));
  let uploads = 0;
  let lastHooked = false;
  const after = [];
  /** Deliveries so far on the hooked server (run and post). */
  const delivered = async () => {
    const text = await (await fetch(`http://127.0.0.1:${servers[1].metricsPort}/metrics`)).text();
    return text.split('\n').filter((l) => l.startsWith('coffer_hooks_delivered_total{')).reduce((n, l) => n + Number(l.split(' ').pop()), 0);
  };
  /** Waits until the hooked server delivered every hook so far; returns how long that took (s). */
  const hooksDone = async () => {
    const t = performance.now();
    const deadline = Date.now() + 120_000;
    while ((await delivered()) < uploads * perUpload) {
      if (Date.now() > deadline) throw new ScriptError(`hooks not delivered after 120 s (${await delivered()} of ${uploads * perUpload})`);
      await sleep(20);
    }
    return (performance.now() - t) / 1000;
  };
  /** Runs a phase; records its wall time and the server process's CPU seconds in it. */
  const phase = async (s, wall, cpu, lines, files) => {
    if (perUpload > 0) {
      const took = await hooksDone();
      if (lastHooked) after.push(took);
    }
    lastHooked = s === servers[1];
    await sleep(500);
    const before = s.cpu();
    wall.push(await sftp(s, lines));
    cpu.push(s.cpu() - before);
    if (s === servers[1]) uploads += files;
  };
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? servers : [...servers].reverse();
    for (const s of order) {
      const t = times.get(s.name);
      // A pause before each timed phase (in phase()): the hook programs of the last phase have
      // finished and do not share the CPU with this one (2 cores here).
      await phase(s, t.small, t.smallCpu, [`mkdir r${round}`, `cd r${round}`, 'lcd small', 'put *'], FILES);
      await phase(s, t.big, t.bigCpu, [`put big.bin big${round}.bin`, `rm big${round}.bin`], 1);
      log(`round ${round + 1}/${ROUNDS} ${s.name}: ${FILES} files ${t.small.at(-1).toFixed(2)} s, big ${t.big.at(-1).toFixed(2)} s`);
    }
  }
  if (perUpload > 0) after.push(await hooksDone());
  const expected = !['post', 'both'].includes(opt.hook) ? 0 : ROUNDS * (FILES + 1);
  const deadline = Date.now() + 60_000;
  while (posts < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const failed = servers[1].lines.filter((l) => l.includes('"hook.failed"') || l.includes('"hook.dropped"')).length;
  for (const s of servers) await stopServer(s);
  receiver.close();

  const mib = Number(opt['big-mib']);
  const rows = [['server', `${FILES} x ${opt['file-kib']} KiB (s)`, 'files/s', 'server CPU (s)', `${mib} MiB (s)`, 'MiB/s', 'server CPU (s)']];
  for (const s of servers) {
    const t = times.get(s.name);
    rows.push([s.name, median(t.small).toFixed(2), (FILES / median(t.small)).toFixed(0), median(t.smallCpu).toFixed(2), median(t.big).toFixed(2), (mib / median(t.big)).toFixed(0), median(t.bigCpu).toFixed(2)]);
  }
  console.log(`bench-hooks @ ${commitId()}: OpenSSH sftp -b uploads, medians of ${ROUNDS} interleaved rounds`);
  console.log(table(rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r']));
  const ratio = (k) => median(times.get(hooked)[k]) / median(times.get('no hooks')[k]);
  console.log(`with hooks / without: small files ${ratio('small').toFixed(3)}, large file ${ratio('big').toFixed(3)}`);
  if (perUpload > 0) console.log(`hooks still running after a phase's uploads ended (the programs' own time, deferred past the uploads): median ${median(after).toFixed(2)} s, longest ${Math.max(...after).toFixed(2)} s`);
  console.log(`post hook deliveries: ${posts} of ${expected}; hook.failed or hook.dropped lines: ${failed}; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  if (posts !== expected || failed > 0) throw new ScriptError('some hook deliveries were missing or failed');
}

main()
  .catch((err) => {
    process.stderr.write(`bench-hooks: ${err instanceof ScriptError ? err.message : err.stack}\n`);
    process.exitCode = 1;
  })
  .finally(() => cleanup());
