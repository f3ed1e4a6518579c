/**
 * SIGTERM while coffer-server starts (issue: "SIGTERM during start-up kills the server instead of
 * stopping it cleanly"). A supervisor stops a server at any moment: right as its port starts
 * accepting, or before. Every run must log `signal` and `shutdown.done` and exit 0, leaving the
 * database closed (no -wal or -shm file: the last connection's clean close removes them), intact,
 * fully migrated, no listener and no stray host key file.
 *
 * The one exception: a signal that reaches the process before any JavaScript runs (Node's own
 * start: ~55 ms here, ~95 ms with NODE_EXTRA_CA_CERTS, 0.2-0.4 s on a busy machine) ends it by the
 * signal, whatever the program does. Such a run is accepted only if it printed nothing and created
 * nothing ('before-js'); at least a fifth of the runs must reach Coffer's code.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import ssh2 from 'ssh2';
import { loadConfig } from '../../src/config/load.js';
import { MIGRATIONS } from '../../src/users/database.js';
import { UserStore } from '../../src/users/user-store.js';
import {
  dbState,
  exitWithin,
  freePort,
  pollUntilAccepts,
  randomBetween,
  refusesConnections,
  runMany,
  spawnProgram,
  type Exit,
  type Spawned,
} from '../support/signal-runs.js';
import { startServerProcess } from '../support/server-process.js';
import { closed, connect } from '../support/ssh-clients.js';
import { addTestUser, copyCachedHostKeys } from '../support/test-server.js';

const RUNS = 50;
/** Runs at once: each is a node start, two 128 MiB scrypt hashes, a few files. */
const PARALLEL = 3;
/** A stop during start-up closes what is open at once; the grace time only matters for sessions. */
const EXIT_WITHIN_MS = 20_000;
const KEY_FILES = ['ssh_host_ed25519_key', 'ssh_host_rsa_key'];

/** What one run showed: the problems found (none when it behaved), and how far the start got. */
interface Outcome {
  problems: string[];
  exit: Exit;
  /** The start step the signal stopped (from the `shutdown` line), 'started', or 'before-js'. */
  stage: string;
  acceptMs?: number;
}

async function withRoot<T>(keys: boolean, fn: (root: string) => Promise<T>): Promise<T> {
  const root = await mkdtemp(join(tmpdir(), 'coffer-start-signal-'));
  try {
    if (keys) await copyCachedHostKeys(join(root, 'keys'));
    return await fn(root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

function startServer(root: string, port: number): Spawned {
  return spawnProgram('coffer-server', ['--root', root, '--host', '127.0.0.1', '--port', String(port), '--log-format', 'json', '--log-level', 'info']);
}

/** Checks what a run that received SIGTERM left behind. */
async function inspect(p: Spawned, exit: Exit, root: string, port: number, allowBeforeJs: boolean): Promise<Omit<Outcome, 'acceptMs'>> {
  const problems: string[] = [];
  const killedBeforeJs = exit.signal === 'SIGTERM' && p.stdout() === '' && p.stderr() === '' && !existsSync(join(root, 'db'));
  if (allowBeforeJs && killedBeforeJs) return { problems, exit, stage: 'before-js' };
  if (exit.code !== 0) problems.push(exit.signal ? `died by ${exit.signal}` : `exit status ${exit.code}`);
  const events = p.lines().map((l) => l.event);
  if (!events.includes('signal') || !events.includes('shutdown.done')) problems.push(`log events: ${events.join(' ') || 'none'}`);
  if (p.stderr() !== '') problems.push(`stderr: ${p.stderr().trim()}`);
  const db = dbState(root);
  if (db.exists) {
    if (db.walBytes !== null) problems.push(`coffer.db-wal left behind (${db.walBytes} bytes)`);
    if (db.shm) problems.push('coffer.db-shm left behind');
    if (db.integrity !== 'ok') problems.push(`integrity_check: ${db.integrity}`);
    if (db.userVersion !== MIGRATIONS.length) problems.push(`user_version ${db.userVersion}`);
  }
  if (!(await refusesConnections(port))) problems.push('the port still accepts connections');
  const shutdown = p.lines().find((l) => l.event === 'shutdown');
  const stage = typeof shutdown?.step === 'string' ? shutdown.step : events.includes('start') ? 'started' : 'unknown';
  return { problems, exit, stage };
}

/** True when another program took the free port first (other tests run on this machine too). */
const portTaken = (p: Spawned) => p.stderr().includes('EADDRINUSE');

/** One run: start, wait until the port accepts, SIGTERM at once. */
function signalAtAccept(tries = 3): Promise<Outcome> {
  return withRoot(true, async (root) => {
    const port = await freePort();
    const p = startServer(root, port);
    const socket = await pollUntilAccepts(port, p);
    const acceptMs = performance.now() - p.spawnedAt;
    p.child.kill('SIGTERM');
    socket?.destroy();
    const exit = await exitWithin(p, EXIT_WITHIN_MS);
    if (portTaken(p) && tries > 1) return signalAtAccept(tries - 1);
    return { ...(await inspect(p, exit, root, port, false)), acceptMs };
  });
}

/** One run: SIGTERM `delayMs` after the spawn, whatever the start is doing then. */
function signalAfter(delayMs: number, keys = true, tries = 3): Promise<Outcome> {
  return withRoot(keys, async (root) => {
    const port = await freePort();
    const p = startServer(root, port);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, delayMs - (performance.now() - p.spawnedAt))));
    p.child.kill('SIGTERM');
    const exit = await exitWithin(p, EXIT_WITHIN_MS);
    if (portTaken(p) && tries > 1) return signalAfter(delayMs, keys, tries - 1);
    const outcome = await inspect(p, exit, root, port, true);
    if (!keys) outcome.problems.push(...keyFileProblems(join(root, 'keys')));
    return outcome;
  });
}

/** Host keys are written whole or not at all: both files of a key or neither, each loadable, nothing else. */
function keyFileProblems(keysDir: string): string[] {
  if (!existsSync(keysDir)) return [];
  const problems: string[] = [];
  const files = readdirSync(keysDir);
  const stray = files.filter((f) => !KEY_FILES.some((k) => f === k || f === `${k}.pub`));
  if (stray.length > 0) problems.push(`stray files in keys/: ${stray.join(' ')}`);
  for (const k of KEY_FILES) {
    if (files.includes(k) !== files.includes(`${k}.pub`)) problems.push(`${k} without its pair: ${files.join(' ')}`);
    if (!files.includes(k)) continue;
    const parsed = ssh2.utils.parseKey(readFileSync(join(keysDir, k)));
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    if (!key || key instanceof Error || !key.isPrivateKey()) problems.push(`${k} does not load as a private key`);
  }
  return problems;
}

function tally(outcomes: Outcome[]): string {
  const counts = new Map<string, number>();
  for (const o of outcomes) counts.set(o.stage, (counts.get(o.stage) ?? 0) + 1);
  return [...counts].map(([k, v]) => `${k}: ${v}`).join(', ');
}

function failures(outcomes: Outcome[]): string[] {
  return outcomes.flatMap((o, i) => (o.problems.length ? [`run ${i}: ${o.problems.join('; ')}`] : []));
}

describe('SIGTERM during start-up', () => {
  let acceptMs = 1000;

  before(async () => {
    // How long a start takes on this machine now, PARALLEL at a time as below, so that the
    // delays cover all of it (a busy machine takes several times as long as an idle one). The
    // quickest of them, so that few signals come after the port opened.
    const calibration = await runMany(PARALLEL, PARALLEL, () => signalAtAccept());
    acceptMs = Math.max(300, Math.min(...calibration.map((o) => o.acceptMs ?? acceptMs)));
  });

  it(`SIGTERM the moment the port accepts: ${RUNS} of ${RUNS} runs exit 0, database closed, no listener`, async (t) => {
    const outcomes = await runMany(RUNS, PARALLEL, () => signalAtAccept());
    const times = outcomes.map((o) => Math.round(o.acceptMs ?? 0)).sort((a, b) => a - b);
    t.diagnostic(`accept after ${times[0]}-${times.at(-1)} ms (median ${times[times.length >> 1]}); stopped at: ${tally(outcomes)}`);
    const failed = failures(outcomes);
    assert.deepEqual(failed, [], `${failed.length}/${RUNS} runs failed:\n${failed.join('\n')}`);
  });

  it(`SIGTERM before the port opens (half at 0-300 ms, half until the port would open): ${RUNS} runs`, async (t) => {
    const delays = Array.from({ length: RUNS }, (_, i) => (i % 2 === 0 ? randomBetween(0, 300) : randomBetween(300, Math.round(acceptMs))));
    const outcomes = await runMany(RUNS, PARALLEL, (i) => signalAfter(delays[i]!));
    t.diagnostic(`delays 0-${Math.round(acceptMs)} ms; stopped at: ${tally(outcomes)}`);
    const failed = failures(outcomes);
    assert.deepEqual(failed, [], `${failed.length}/${RUNS} runs failed:\n${failed.join('\n')}`);
    // Not vacuous: most signals must reach Coffer's own code, not Node's start.
    const reached = outcomes.filter((o) => o.stage !== 'before-js').length;
    assert.ok(reached >= RUNS / 5, `only ${reached} of ${RUNS} signals arrived after Node's own start`);
  });

  it('SIGTERM while the host keys are being generated: keys are written whole or not at all', async (t) => {
    const runs = 6;
    const outcomes = await runMany(runs, 2, () => signalAfter(randomBetween(0, Math.round(acceptMs) * 2), false));
    t.diagnostic(`stopped at: ${tally(outcomes)}`);
    const failed = failures(outcomes);
    assert.deepEqual(failed, [], `${failed.length}/${runs} runs failed:\n${failed.join('\n')}`);
  });

  it('a second SIGTERM exits at once with status 1 (shutdown.forced), as before, while a busy session holds the first', async () => {
    await withRoot(true, async (root) => {
      const config = loadConfig({ rootFlag: root, env: {}, stdoutIsTTY: false });
      const admin = UserStore.open(config.paths.dbFile);
      await addTestUser(admin, config, 'alice', { password: 'pw' });
      admin.close();
      const server = await startServerProcess(root);
      const client = await connect(server.port, { username: 'alice', password: 'pw' });
      try {
        // An open file makes the session busy: the first SIGTERM then waits up to 30 s for it.
        await new Promise<void>((resolve, reject) =>
          client.sftp((err, sftp) => (err ? reject(err) : sftp.open('/f', 'w', (e) => (e ? reject(e) : resolve())))),
        );
        server.child.kill('SIGTERM');
        await server.waitFor('shutdown');
        server.child.kill('SIGTERM');
        const exit = await Promise.race([server.exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), 10_000).unref())]);
        assert.deepEqual(exit, { code: 1, signal: null }, server.output());
        assert.equal(server.events('shutdown.forced', { signal: 'SIGTERM' }).length, 1);
        assert.equal(server.events('shutdown.done').length, 0);
      } finally {
        client.end();
        await closed(client);
        await server.kill();
      }
    });
  });
});
