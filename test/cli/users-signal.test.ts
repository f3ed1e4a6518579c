/**
 * coffer-users under SIGINT/SIGTERM at any moment of a command (issue: "SIGTERM during start-up",
 * point 3). Every change is one transaction, so the database holds all of it or none: a user is
 * added with its row and its home or not at all, removed with its home moved away or not at all,
 * rescanned or left as it was. The command either finishes (exit 0) or stops with exit 130
 * (SIGINT) / 143 (SIGTERM) and one line saying what it left; the database is closed (no -wal or
 * -shm file), intact, and not locked. A signal that reaches the process before any JavaScript
 * runs (Node's own start) ends it by the signal: accepted only if the command printed and changed
 * nothing.
 */
import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { UserStore } from '../../src/users/user-store.js';
import { tempDir } from '../support/run-cli.js';
import { dbState, exitWithin, randomBetween, runMany, spawnProgram, type Exit, type Spawned } from '../support/signal-runs.js';
import { addTestUser } from '../support/test-server.js';
import { waitFor } from '../support/wait.js';

const tmp = tempDir('coffer-users-signal-');
after(() => tmp.remove());

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;
const STATUS = { SIGINT: 130, SIGTERM: 143 } as const;
const RUNS = 8;
let rootCount = 0;

/**
 * A fresh state root, with `users` added in process (each with `files` small files in its home);
 * with no users, no database either (the command creates it).
 */
async function root(users: string[] = [], files = 0): Promise<string> {
  const dir = join(tmp.path, `r${++rootCount}`);
  mkdirSync(dir);
  if (users.length === 0) return dir;
  const config = loadConfig({ rootFlag: dir, env: {}, stdoutIsTTY: false });
  const store = UserStore.open(config.paths.dbFile);
  try {
    for (const name of users) {
      await addTestUser(store, config, name, { password: 'pw' });
      for (let i = 0; i < files; i++) {
        const sub = join(config.paths.homesDir, name, `d${i % 50}`);
        mkdirSync(sub, { recursive: true });
        writeFileSync(join(sub, `f${i}`), 'x'.repeat(100));
      }
      store.db.prepare('UPDATE users SET used_bytes = 1 WHERE name = ?').run(name); // wrong until a rescan
    }
  } finally {
    store.close();
  }
  return dir;
}

/** The rows that matter, read after the checks on the files. */
function users(dir: string): Map<string, { used: number; epoch: number }> {
  const db = new Database(join(dir, 'db', 'coffer.db'), { fileMustExist: true });
  try {
    // Not locked: a write transaction starts at once (timeout 0).
    db.pragma('busy_timeout = 0');
    db.exec('BEGIN IMMEDIATE; ROLLBACK');
    const rows = db.prepare('SELECT name, used_bytes, usage_seq FROM users').all() as Array<{ name: string; used_bytes: number; usage_seq: number }>;
    return new Map(rows.map((r) => [r.name, { used: r.used_bytes, epoch: r.usage_seq }]));
  } finally {
    db.close();
  }
}

/** How a run ended: 'done', 'interrupted: <detail>', or 'before-js'; throws on anything else. */
function outcome(p: Spawned, exit: Exit, signal: (typeof SIGNALS)[number], dir: string): string {
  const out = p.stdout() + p.stderr();
  const db = dbState(dir);
  if (db.exists) {
    const how = `(${exit.signal ? `died by ${exit.signal}` : `exit ${exit.code}`}): ${out}`;
    assert.equal(db.walBytes, null, `coffer.db-wal left behind ${how}`);
    assert.equal(db.shm, false, `coffer.db-shm left behind ${how}`);
    assert.equal(db.integrity, 'ok');
  }
  // Killed in Node's own start, before any JavaScript: nothing was opened (checked above).
  if (exit.signal === signal && out === '') return 'before-js';
  if (exit.code === 0) {
    assert.equal(p.stderr(), '');
    return 'done';
  }
  assert.equal(exit.code, STATUS[signal], `exit ${exit.code} / ${exit.signal} after ${signal}: ${out}`);
  const m = new RegExp(`^coffer-users: error: interrupted by ${signal}; (.*)\\n$`).exec(p.stderr());
  assert.ok(m, `one line on stderr: ${JSON.stringify(p.stderr())}`);
  return `interrupted: ${m[1]}`;
}

/** Runs `args` on `dir` and sends `signal` after `delayMs`; returns its outcome. */
async function signalled(dir: string, args: string[], input: string, signal: (typeof SIGNALS)[number], delayMs: number): Promise<string> {
  const p = spawnProgram('coffer-users', ['--root', dir, ...args], 'pipe');
  p.child.stdin!.end(input);
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, delayMs - (performance.now() - p.spawnedAt))));
  if (!p.ended()) p.child.kill(signal);
  return outcome(p, await exitWithin(p, 20_000), signal, dir);
}

/** How long the command takes uninterrupted, from spawn to exit (ms). */
async function duration(dir: string, args: string[], input = ''): Promise<number> {
  const p = spawnProgram('coffer-users', ['--root', dir, ...args], 'pipe');
  p.child.stdin!.end(input);
  const exit = await exitWithin(p, 60_000);
  assert.equal(exit.code, 0, p.stderr());
  return performance.now() - p.spawnedAt;
}

/** Half the delays anywhere in the command, half in its second half (where its work is). */
const delayFor = (i: number, total: number) => randomBetween(i % 2 === 0 ? 0 : Math.round(total / 2), Math.round(total));

/** Counts of outcomes, without the names and paths in their messages. */
function tally(outcomes: string[]): string {
  const counts = new Map<string, number>();
  for (const o of outcomes.map((x) => x.replace(/ \(.*$|; what is left.*$/, ''))) counts.set(o, (counts.get(o) ?? 0) + 1);
  return [...counts].map(([k, v]) => `${k}: ${v}`).join(', ');
}

describe('coffer-users stopped by a signal', () => {
  const timing = { add: 1500, remove: 1500, rescan: 1500 };

  before(async () => {
    timing.add = await duration(await root(), ['add', 'calib', '--password-stdin'], 'secret\n');
    timing.remove = await duration(await root(['calib'], 1000), ['remove', 'calib', '--purge']);
    timing.rescan = await duration(await root(['a', 'b', 'c', 'd', 'e', 'f'], 200), ['rescan']);
  });

  it(`add --password-stdin (scrypt): the user is added with row and home, or not at all (${RUNS} runs)`, async (t) => {
    const outcomes = await runMany(RUNS, 2, async (i) => {
      const dir = await root();
      const signal = SIGNALS[i % 2]!;
      const o = await signalled(dir, ['add', 'alice', '--password-stdin'], 'secret\n', signal, delayFor(i, timing.add));
      const added = existsSync(join(dir, 'db', 'coffer.db')) && users(dir).has('alice');
      const home = existsSync(join(dir, 'homes', 'alice'));
      assert.equal(home, added, `${o}: row ${added}, home ${home}`);
      assert.equal(added, o === 'done', `${o}: user ${added ? '' : 'not '}added`);
      if (o.startsWith('interrupted')) assert.equal(o, 'interrupted: nothing was changed');
      return o;
    });
    t.diagnostic(`add, ${Math.round(timing.add)} ms uninterrupted: ${tally(outcomes)}`);
  });

  it('add waiting for a password on stdin that never comes: a signal ends it at once, nothing changed', async () => {
    for (const signal of SIGNALS) {
      const dir = await root();
      const p = spawnProgram('coffer-users', ['--root', dir, 'add', 'bob', '--password-stdin'], 'pipe');
      // The database is created (when the name is checked) just before the password is read.
      await waitFor(() => existsSync(join(dir, 'db', 'coffer.db')) || p.ended(), 20_000, 'coffer-users to open the database');
      p.child.kill(signal);
      assert.equal(outcome(p, await exitWithin(p, 10_000), signal, dir), 'interrupted: nothing was changed');
      assert.equal(users(dir).size, 0);
      assert.equal(existsSync(join(dir, 'homes', 'bob')), false);
    }
  });

  it(`remove --purge: the user is removed with the home moved away, or not at all (${RUNS} runs)`, async (t) => {
    const outcomes = await runMany(RUNS, 2, async (i) => {
      const dir = await root(['alice'], 1000);
      const signal = SIGNALS[i % 2]!;
      const o = await signalled(dir, ['remove', 'alice', '--purge'], '', signal, delayFor(i, timing.remove));
      const row = users(dir).has('alice');
      const homes = readdirSync(join(dir, 'homes'));
      if (row) {
        assert.ok(o === 'before-js' || o === 'interrupted: nothing was changed', o);
        assert.equal(readdirSync(join(dir, 'homes', 'alice'), { recursive: true }).length, 1050, 'the home is whole');
        assert.deepEqual(homes, ['alice']);
      } else if (o === 'done') {
        assert.deepEqual(homes, []);
      } else {
        const left = /^interrupted: user alice was removed; what is left of the home folder is at (\S+) \(delete it with rm -rf\)$/.exec(o);
        assert.ok(left, o);
        // rm(1)-like deletion cannot be cut short: it may finish between the stop and the exit.
        if (homes.length > 0) {
          assert.deepEqual(homes, [left[1]!.split('/').pop()]);
          assert.match(homes[0]!, /^\.alice\.removed-[0-9a-f]{8}$/);
        }
      }
      return o;
    });
    t.diagnostic(`remove --purge, ${Math.round(timing.remove)} ms uninterrupted: ${tally(outcomes)}`);
  });

  it('remove --purge stopped while the home folder is being deleted: the user is gone, the message names what is left', async () => {
    const dir = await root(['alice'], 4000);
    // inotify tells the moment the home is renamed away (the transaction committed, deletion begins).
    const homes = join(dir, 'homes');
    const retired = () => readdirSync(homes).some((f) => f.startsWith('.alice.removed-'));
    let watcher: FSWatcher | undefined;
    const moved = new Promise<void>((resolve) => (watcher = watch(homes, () => retired() && resolve())));
    const p = spawnProgram('coffer-users', ['--root', dir, 'remove', 'alice', '--purge'], 'pipe');
    await Promise.race([moved, p.exited]);
    watcher!.close();
    p.child.kill('SIGTERM');
    const o = outcome(p, await exitWithin(p, 10_000), 'SIGTERM', dir);
    // 4000 files take ~170 ms to delete here, far longer than a signal takes; 'done' would mean it did not.
    assert.match(o, /^interrupted: user alice was removed; what is left of the home folder is at \S+\/\.alice\.removed-[0-9a-f]{8} /);
    assert.equal(users(dir).has('alice'), false);
  });

  it(`rescan of 6 users: each user rescanned or left as it was, and the message says which (${RUNS} runs)`, async (t) => {
    const names = ['a', 'b', 'c', 'd', 'e', 'f'];
    const outcomes = await runMany(RUNS, 2, async (i) => {
      const dir = await root(names, 200);
      const signal = SIGNALS[i % 2]!;
      const o = await signalled(dir, ['rescan'], '', signal, delayFor(i, timing.rescan));
      const rows = users(dir);
      const rescanned = names.filter((n) => rows.get(n)!.epoch === 1);
      for (const n of names) {
        const { used, epoch } = rows.get(n)!;
        assert.equal(used, epoch === 1 ? 200 * 100 : 1, `${n}: used ${used} at epoch ${epoch}`);
      }
      if (o === 'done') assert.deepEqual(rescanned, names);
      else if (rescanned.length === 0) assert.ok(o === 'before-js' || o === 'interrupted: nothing was changed', o);
      else assert.equal(o, `interrupted: rescanned ${rescanned.length} of 6 users (${rescanned.join(', ')}); run rescan again for the others`);
      return o;
    });
    t.diagnostic(`rescan, ${Math.round(timing.rescan)} ms uninterrupted: ${tally(outcomes)}`);
  });
});
