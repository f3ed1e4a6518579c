/**
 * The fuzzer's two-process mode: two engines on one store and one home, as two server processes
 * serving one user. One sandbox (sequence A's setup) and a temp SQLite file with the user 'fuzz'
 * (quota and entry limit as runSequence computes them, usage = the seeded home); two SqliteStore
 * connections, each with its own QuotaLedger (one "process" each: store/quota-store.ts), each
 * giving a UserQuota to its own LocalVfs and SftpSession on its own FuzzChannel. Sequences A and B
 * are driven at the same time. Checked: every invariant of one session (harness.ts: replies,
 * leaks, internal errors, hangs, crashes) for each, nothing outside the home changed and no
 * descriptor left, the home within the quota (bytes and entries); once both sessions ended and
 * both ledgers settled everything, the store's usage is at least the disk's (never under-charged);
 * and after a recount (the janitor, with no connection left) it equals the disk and is sure.
 */
import { join } from 'node:path';
import fc from 'fast-check';
import { pino } from 'pino';
import { QuotaLedger } from '../../src/quota/quota-ledger.js';
import type { UserQuota } from '../../src/quota/user-quota.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { countUsage } from '../../src/vfs/usage-scan.js';
import { sequenceArb, type Sequence } from './arbitraries.js';
import { checkLimits, checkSandbox, engineLeaks, FuzzFailure, installCrashTrap, playOnly, startEngine, takeCrashes, triage, WarnLog, type Engine, type RunOptions } from './harness.js';
import { makeWorld } from './world.js';
import { removeTempDir, tempDirSync } from '../support/temp-dirs.js';

const USER = 'fuzz';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Ledger knobs: settles and idle give-backs quick (the other engine waits for blocks), no janitor loop. */
const LEDGER = { settleMs: 20, idleMs: 50, janitorMs: 3_600_000 };

/** Counters across the pairs run in this process (how much the shared ledger was exercised). */
export const pairStats = {
  pairs: 0,
  /** Pairs where both sessions had a WRITE, SETSTAT or new entry succeed (OK status). */
  bothChanged: 0,
  /** Pairs whose settled usage was unsure (a refused credit, an overlap): the recount fixed it. */
  unsure: 0,
  /** Pairs whose settled usage was over the disk before the recount. */
  overBefore: 0,
};

/** One "process": a store connection, its ledger, its log. */
interface Proc {
  name: 'A' | 'B';
  store: SqliteStore;
  ledger: QuotaLedger;
  log: WarnLog;
  quota?: UserQuota;
  connected: boolean;
}

/** Runs sequences A and B at once on one home through two ledgers on one store; returns the new violations. */
/**
 * The pair in a finding file `node scripts/fuzz.mjs --processes 2` saved: fast-check prints the
 * counterexample as a JavaScript literal (Uint8Array.from, __proto__: null), evaluated here.
 * Throws when the text holds none.
 */
export function pairFromFinding(text: string): [Sequence, Sequence] {
  const literal = text.split('counterexample:\n')[1]?.split('\n\nfuzz invariants')[0]?.trim();
  if (!literal) throw new Error('no counterexample in the finding');
  const [[a, b]] = new Function(`return ${literal}`)() as [[Sequence, Sequence]];
  return [a, b];
}

export async function runPair(seqA: Sequence, seqB: Sequence, opts: RunOptions): Promise<string[]> {
  installCrashTrap();
  const world = makeWorld(seqA.setup);
  const dbDir = tempDirSync('coffer-fuzz-pair-');
  const procs: Proc[] = [];
  try {
    const seeded = await countUsage(world.home);
    const limit = seeded.bytes + seqA.setup.quotaSlack;
    const entrySlack = seqA.setup.entrySlack;
    const maxFiles = entrySlack === undefined ? null : seeded.entries + entrySlack;
    const file = join(dbDir, 'coffer.db');
    for (const name of ['A', 'B'] as const) {
      const store = SqliteStore.open(file);
      if (name === 'A') {
        await store.add({ name: USER, passwordHash: '$scrypt$unused', quotaBytes: limit, maxFiles, disabled: false, keys: [], usedBytes: seeded.bytes, usedFiles: seeded.entries });
      }
      const log = new WarnLog();
      const ledger = await QuotaLedger.start({
        store,
        log: pino({ level: 'warn', base: {} }, log),
        recount: (_user, skip) => countUsage(world.home, skip),
        ...LEDGER,
      }).catch(async (err: unknown) => {
        await store.close();
        throw err;
      });
      procs.push({ name, store, ledger, log, connected: false });
    }
    // As login does (the recount rule reads the connections), then as the SFTP route does.
    const engines: Engine[] = [];
    for (const [i, p] of procs.entries()) {
      p.connected = await p.ledger.connect(USER, 10);
      p.quota = await p.ledger.acquire(USER);
      engines.push(await startEngine(i === 0 ? seqA : seqB, world, p.quota));
    }
    const played = await Promise.all(engines.map((e) => playOnly(e, opts)));
    // One user: a host path one session sent may come back through the other (a link it made).
    const sentHost = engines.some((e) => e.run.sentHostPath);
    engines.forEach((e, i) => played[i]!.push(...engineLeaks(e, sentHost)));
    pairStats.pairs += 1;
    if (engines.every(changedSomething)) pairStats.bothChanged += 1;
    const pairCtx = { lossy: engines.some((e) => e.run.sent.lossy), seq: seqA, other: seqB };
    const problems = played.flatMap((list, i) => triage(list, { lossy: engines[i]!.run.sent.lossy, seq: i === 0 ? seqA : seqB, other: i === 0 ? seqB : seqA }, opts.strict === true).map((v) => `${procs[i]!.name}: ${v}`));

    const own: string[] = [];
    own.push(...checkSandbox(world, procs.map((p) => p.quota!)));
    const disk = await countUsage(world.home);
    own.push(...checkLimits(disk, limit, maxFiles));
    own.push(...(await settleAll(procs, opts.timeoutMs)));
    const before = await procs[0]!.store.quota.view(USER);
    if (!before) own.push('the user row is gone');
    else {
      if (before.usedBytes < disk.bytes) own.push(`under-charged: the store counts ${before.usedBytes} bytes, the disk holds ${disk.bytes}`);
      if (before.usedFiles < disk.entries) own.push(`under-charged: the store counts ${before.usedFiles} entries, the disk holds ${disk.entries}`);
      if (before.unsure) pairStats.unsure += 1;
      if (before.usedBytes > disk.bytes || before.usedFiles > disk.entries) pairStats.overBefore += 1;
      // Nobody serves the user now, so the janitor's recount applies (when the usage is unsure).
      await (procs[0]!.ledger as unknown as { janitor(): Promise<void> }).janitor();
      const after = (await procs[0]!.store.quota.view(USER))!;
      const was = `(before the recount: ${before.usedBytes} bytes, ${before.usedFiles} entries, ${before.unsure ? 'unsure' : 'sure'})`;
      if (after.usedBytes !== disk.bytes) own.push(`after the recount the store counts ${after.usedBytes} bytes, the disk holds ${disk.bytes} ${was}`);
      if (after.usedFiles !== disk.entries) own.push(`after the recount the store counts ${after.usedFiles} entries, the disk holds ${disk.entries} ${was}`);
      if (after.unsure) own.push(`still unsure after the recount ${was}`);
    }
    for (const p of procs) for (const l of p.log.lines) own.push(`ledger ${p.name} logged ${String(l.event)} (${String(l.msg)}): ${String(l.err ?? '')}`);
    own.push(...(await takeCrashes()));
    return [...problems, ...triage(own, pairCtx, opts.strict === true)];
  } finally {
    for (const p of procs) {
      await p.ledger.close().catch(() => undefined);
      await p.store.close().catch(() => undefined);
    }
    removeTempDir(dbDir);
    world.cleanup();
  }
}

const CHANGES = new Set(['write', 'setstat', 'fsetstat', 'mkdir', 'symlink', 'rename', 'posix-rename', 'remove', 'rmdir', 'copy-data']);

/** True when one of the session's changing requests got an OK status. */
function changedSomething(e: Engine): boolean {
  return e.run.channel.replies.some((r) => {
    if (r.reply?.kind !== 'status' || r.reply.code !== 0) return false;
    const reqs = e.run.sent.typed.get(r.reply.id);
    return reqs?.length === 1 && CHANGES.has(reqs[0]!.kind);
  });
}

/**
 * Ends both "processes'" sessions of the user (release, disconnect) and waits until each ledger
 * has settled and given back everything; returns a violation when one does not within `ms`.
 */
async function settleAll(procs: Proc[], ms: number): Promise<string[]> {
  for (const p of procs) {
    if (p.quota) p.ledger.release(USER);
    if (p.connected) await p.store.quota.disconnect(p.ledger.process.id, USER);
  }
  const deadline = Date.now() + ms;
  for (;;) {
    await Promise.all(procs.map((p) => p.ledger.flush(true)));
    const holding = procs.filter((p) => p.ledger.holds(USER));
    if (holding.length === 0) return [];
    if (Date.now() >= deadline) return holding.map((p) => `ledger ${p.name} still holds unsettled usage ${ms} ms after its session ended`);
    await sleep(5);
  }
}

/** The fast-check property: every generated pair of sessions on one home keeps every invariant. */
export function sftpPairProperty(opts: RunOptions): fc.IAsyncPropertyWithHooks<[[Sequence, Sequence]]> {
  return fc.asyncProperty(fc.tuple(sequenceArb, sequenceArb), async ([a, b]) => {
    const violations = await runPair(a, b, opts);
    if (violations.length > 0) throw new FuzzFailure(violations);
  });
}
