/**
 * Unit tests of UserQuota (reserve, release, resize, removed, close reconcile, detached files) and
 * QuotaLedger as two processes on one SQLite file (blocks, idle return, refresh, conditional
 * credits and recounts, connections and expiry, a lost store, batched settles); and, through the
 * real server, that 1000 small WRITEs do not cost one database write each.
 */
import assert from 'node:assert/strict';
import type { Stats } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { QuotaLedger } from '../../src/quota/quota-ledger.js';
import { FileCharge } from '../../src/quota/file-charge.js';
import { inodeKey, QuotaExceededError, QuotaUnavailableError, UserQuota } from '../../src/quota/user-quota.js';
import { UserStore } from '../../src/users/user-store.js';
import { createLogger } from '../../src/util/logger.js';
import { LogCapture } from '../support/log-capture.js';
import { addQuotaUser, assertSettled, FXF, liveQuota, RawSession, startQuotaServer } from '../support/quota-helpers.js';
import { waitFor } from '../support/wait.js';

/** Enough of a Stats for the quota: an inode and a size. */
const file = (ino: number, size: number, dev = 7, nlink = 1): Stats => ({ dev, ino, size, nlink, isFile: () => true }) as unknown as Stats;
/** A writable handle on inode `ino` (device 7) of `size` bytes. */
const openF = (q: UserQuota, ino: number, size: number) => q.open(7, ino, size);

describe('UserQuota', () => {
  it('reserve counts growth up to the quota exactly and refuses one byte more, counting nothing', () => {
    const q = new UserQuota('u', 1000, 400);
    q.reserve(600);
    assert.equal(q.used, 1000);
    assert.equal(q.free, 0);
    assert.throws(
      () => q.reserve(1),
      (err: unknown) => err instanceof QuotaExceededError && err.message === 'Quota exceeded' && err.code === 'COFFER_QUOTA_EXCEEDED',
    );
    assert.equal(q.used, 1000);
    q.reserve(0);
    q.reserve(-5);
    assert.equal(q.used, 1000);
  });

  it('an unlimited quota never refuses and reports no free figure', () => {
    const q = new UserQuota('u', null, 0);
    q.reserve(2 ** 50);
    assert.equal(q.used, 2 ** 50);
    assert.equal(q.free, null);
  });

  it('release credits and never goes below 0; free is 0, not negative, when the quota was lowered below usage', () => {
    const q = new UserQuota('u', 100, 80);
    q.release(30);
    assert.equal(q.used, 50);
    q.release(500);
    assert.equal(q.used, 0);
    const over = new UserQuota('u', 10, 50);
    assert.equal(over.free, 0);
    assert.throws(() => over.reserve(1), QuotaExceededError);
    over.release(45);
    assert.equal(over.free, 5);
  });

  it('adjust corrects without a quota check (reconciling with the disk)', () => {
    const q = new UserQuota('u', 100, 90);
    q.adjust(50);
    assert.equal(q.used, 140);
    q.adjust(-100);
    assert.equal(q.used, 40);
    q.adjust(0);
    assert.equal(q.used, 40);
  });

  it('handles on one inode share one tracked file: overlapping growth is charged once', () => {
    const q = new UserQuota('u', 10_000, 0);
    const a = openF(q, 1, 0);
    const b = openF(q, 1, 0);
    assert.equal(a, b);
    assert.equal(a.refs, 2);
    assert.equal(q.openFiles, 1);
    q.resize(a, 4000, false); // handle a writes 0..4000
    q.resize(b, 3000, false); // handle b writes 0..3000: inside, free
    q.resize(b, 5000, false); // b writes 3000..5000: 1000 of growth
    assert.equal(q.used, 5000);
    assert.equal(q.tracked(file(1, 123))!.charged, 5000, 'the tracked size, not the stale stat');
    assert.equal(q.tracked(file(2, 123)), undefined);
    assert.equal(q.tracked(file(1, 0, 8)), undefined, 'another device is another inode');
    assert.equal(inodeKey(7, 1), '7:1');
    assert.equal(q.chargedOpen, 5000);
    assert.equal(q.isTracked(7, 1), true);
  });

  it('resize: a write past the quota throws and leaves the charged size; shrink only when asked (truncate)', () => {
    const q = new UserQuota('u', 1000, 200);
    const f = openF(q, 1, 200);
    q.resize(f, 900, false);
    assert.deepEqual([q.used, f.charged], [900, 900]);
    assert.throws(() => q.resize(f, 1001, false), QuotaExceededError);
    assert.deepEqual([q.used, f.charged], [900, 900]);
    q.resize(f, 100, false); // a write inside the file never shrinks it
    assert.deepEqual([q.used, f.charged], [900, 900]);
    q.resize(f, 100, true); // a truncate does
    assert.deepEqual([q.used, f.charged], [100, 100]);
  });

  it('close: the last handle reconciles the charged size with the real size; earlier ones and unknown sizes do not', () => {
    const q = new UserQuota('u', 10_000, 0);
    const f = openF(q, 1, 0);
    openF(q, 1, 0);
    q.resize(f, 5000, false);
    q.close(f, 3000); // not the last handle
    assert.equal(q.used, 5000);
    q.close(f, 4200); // the last: a write failed half way, the disk holds 4200
    assert.equal(q.used, 4200);
    assert.equal(q.openFiles, 0);
    const g = openF(q, 2, 0);
    q.resize(g, 100, false);
    q.close(g, null); // fstat failed: keep the charge
    assert.equal(q.used, 4300);
  });

  it('leaving: an untracked file is credited its size at once; a file held open for writing stays charged, growth included, until its last handle closes', async () => {
    const q = new UserQuota('u', 10_000, 1000); // 1000 bytes in files not open
    const f = openF(q, 1, 0);
    openF(q, 1, 0);
    q.resize(f, 2000, false);
    assert.equal(q.used, 3000);
    let unlinked = 0;
    await q.leaving(async () => file(1, 1500), async () => void unlinked++);
    assert.equal(unlinked, 1);
    assert.equal(f.detached, true);
    assert.equal(q.used, 3000, 'still on the disk while held open');
    q.resize(f, 2500, false); // writes through the handle keep being charged (no bypass)
    assert.equal(q.used, 3500);
    assert.throws(() => q.resize(f, 20_000, false), QuotaExceededError);
    q.close(f, 2500);
    assert.equal(q.used, 3500, 'one handle is left');
    q.close(f, null);
    assert.equal(q.used, 1000, 'the last close releases it');
    await q.leaving(async () => file(3, 600), async () => undefined);
    assert.equal(q.used, 400);
    await q.leaving(async () => file(4, 300, 7, 2), async () => undefined);
    assert.equal(q.used, 400, 'another name keeps the inode in the home');
    await q.leaving(async () => null, async () => undefined);
    await q.leaving(async () => file(5, 100), async () => undefined, () => true);
    assert.equal(q.used, 400, 'nothing, or a file kept, credits nothing');
  });

  it('leaving: a writer that closes while the size is read does not leave its growth charged (fuzz seed 33534031)', async () => {
    const q = new UserQuota('u', 10_000, 0);
    const f = openF(q, 1, 0);
    q.resize(f, 1, false); // an append of one byte, charged
    let reads = 0;
    // The first lstat saw the file before the write landed; the handle closed before it returned.
    const read = async () => {
      reads += 1;
      if (reads === 1) {
        q.close(f, null);
        return file(1, 0);
      }
      return file(1, 1);
    };
    await q.leaving(read, async () => undefined);
    assert.equal(reads, 2, 'read again after a close');
    assert.equal(q.used, 0);
  });

  it('leaving: a tracked file whose handle closes during the unlink is released at that close, with its growth', async () => {
    const q = new UserQuota('u', 10_000, 0);
    const f = openF(q, 1, 0);
    q.resize(f, 10, false);
    await q.leaving(
      async () => file(1, 10),
      async () => {
        q.resize(f, 25, false); // a write landing meanwhile
        q.close(f, 25); // and the handle's close: the hold keeps the file until leaving() ends
        assert.equal(q.used, 25);
        assert.equal(q.openFiles, 1);
      },
    );
    assert.equal(q.used, 0);
    assert.equal(q.openFiles, 0);
  });

  it('leaving: a failed unlink or rename credits nothing and lets go of the file', async () => {
    const q = new UserQuota('u', 10_000, 500);
    const f = openF(q, 1, 0);
    q.resize(f, 50, false);
    await assert.rejects(q.leaving(async () => file(1, 50), async () => Promise.reject(new Error('EACCES'))), /EACCES/);
    await assert.rejects(q.leaving(async () => file(2, 500), async () => Promise.reject(new Error('EACCES'))), /EACCES/);
    assert.equal(q.used, 550);
    assert.equal(f.detached, false);
    assert.equal(f.refs, 1);
    q.close(f, null);
    assert.equal(q.used, 550, 'still in the home: the close keeps its charge');
  });
});

describe('QuotaLedger: two processes on one store', () => {
  let dir: string;
  let cli: UserStore;
  let logs: LogCapture;
  let disk: Map<string, number>;
  const ledgers: QuotaLedger[] = [];
  const stores: SqliteStore[] = [];

  /** A ledger on its own connection to the file, as another server process would have. */
  const make = async (opts: { settleMs?: number; idleMs?: number; janitorMs?: number } = {}) => {
    const store = SqliteStore.open(join(dir, 'coffer.db'));
    stores.push(store);
    const ledger = await QuotaLedger.start({
      store,
      log: createLogger({ level: 'debug', format: 'json', destination: logs }),
      settleMs: opts.settleMs ?? 60_000,
      idleMs: opts.idleMs ?? 1000,
      janitorMs: opts.janitorMs ?? 60_000,
      recount: async (user) => ({ bytes: disk.get(user) ?? 0, entries: 0 }),
    });
    ledgers.push(ledger);
    return ledger;
  };
  const row = (name: string) => cli.usage(name)!;
  const blocks = (name: string) =>
    cli.db.prepare<[string], { process_id: string; block_bytes: number; connections: number }>('SELECT process_id, block_bytes, connections FROM quota_holds WHERE user_name = ?').all(name);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'coffer-ledger-'));
    cli = UserStore.open(join(dir, 'coffer.db'));
    cli.add({ name: 'alice', passwordHash: '$scrypt$unused', quotaBytes: 10 << 20, disabled: false, keys: [], usedBytes: 0 });
    cli.add({ name: 'bob', passwordHash: '$scrypt$unused', quotaBytes: null, disabled: false, keys: [], usedBytes: 0 });
    logs = new LogCapture();
    disk = new Map();
  });
  afterEach(async () => {
    for (const l of ledgers.splice(0)) await l.close();
    for (const s of stores.splice(0)) await s.close();
    cli.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('growth is taken synchronously from a block; the store grants blocks so both processes together never pass the quota', async () => {
    const [a, b] = [await make(), await make()];
    const qa = await a.acquire('alice');
    const qb = await b.acquire('alice');
    // The first reservation asks the store (a promise); the next ones come out of the block.
    const first = qa.reserve(4096);
    assert.ok(first instanceof Promise, 'an empty block asks the store');
    await first;
    assert.equal(qa.reserve(4096), undefined, 'covered by the block: synchronous');
    assert.ok(qa.block.bytes > 0);
    // Both write as much as they can, 64 KiB at a time.
    let accepted = 8192;
    const fill = async (q: UserQuota) => {
      for (;;) {
        try {
          await q.reserve(65536);
          accepted += 65536;
        } catch (err) {
          assert.ok(err instanceof QuotaExceededError, String(err));
          return;
        }
      }
    };
    await Promise.all([fill(qa), fill(qb)]);
    assert.ok(accepted <= 10 << 20, `accepted ${accepted} bytes of a 10 MiB quota`);
    assert.ok(accepted > (10 << 20) - 2 * 65536, `refused only at the end (${accepted})`);
    await a.flush();
    await b.flush();
    assert.equal(row('alice').usedBytes, accepted, 'settled as relative deltas: the sum of both');
    assert.ok(blocks('alice').every((r) => r.block_bytes === 0), 'flush gave the blocks back');
    a.release('alice');
    b.release('alice');
  });

  it('appends racing on one inode while the block is short each count their own length (pair fuzz seed 1810327122)', async () => {
    const a = await make();
    const q = await a.acquire('alice');
    const f = q.open(7, 3, 0);
    const handle = new FileCharge(q, f, true, async () => null);
    // Two appends on the inode both wait for one grant; an end computed before the wait would
    // charge the second nothing, though it lands after the first.
    await Promise.all([handle.write(0, 4096, true, async () => {}), handle.write(0, 4096, true, async () => {})]);
    assert.deepEqual([f.charged, q.used], [8192, 8192]);
    q.close(f, null);
    await a.flush();
    assert.equal(row('alice').usedBytes, 8192);
    a.release('alice');
  });

  it('a block unused for idleMs goes back to the store with the next settle', async () => {
    const a = await make({ settleMs: 50, idleMs: 200 });
    const q = await a.acquire('alice');
    await q.reserve(1000);
    assert.ok(blocks('alice')[0]!.block_bytes >= 1000);
    await waitFor(() => blocks('alice').every((r) => r.block_bytes === 0), 3000, 'the idle block to go back');
    assert.equal(row('alice').usedBytes, 1000);
    a.release('alice');
  });

  it('a lowered quota (refresh) drops the block, so it applies to the next growth', async () => {
    const a = await make();
    const q = await a.acquire('alice');
    await q.reserve(1000);
    cli.setQuota('alice', 1500);
    await a.refresh();
    assert.equal(q.block.bytes, 0);
    await q.reserve(500);
    await assert.rejects(async () => q.reserve(1), QuotaExceededError);
    a.release('alice');
  });

  it('a credit for a file the other process has open is not applied: unsure until a recount by the only process serving the user', async () => {
    const [a, b] = [await make(), await make()];
    const qa = await a.acquire('bob');
    const qb = await b.acquire('bob');
    const fa = qa.open(7, 1, 0);
    qa.resize(fa, 700, false);
    await a.flush(); // 700 used; inode 7:1 open on a
    qb.release(700, inodeKey(7, 1)); // b removed it: still on the disk through a's handle
    await b.flush();
    assert.deepEqual([row('bob').usedBytes, row('bob').unsure], [700, true]);
    qa.close(fa, null);
    await a.flush();
    b.release('bob');
    await b.close();
    // Only a serves bob now (b left the store): its janitor recounts (the disk holds nothing).
    disk.set('bob', 0);
    assert.equal(await a.connect('bob', 10), true);
    await (a as unknown as { janitor(): Promise<void> }).janitor();
    assert.deepEqual([row('bob').usedBytes, row('bob').unsure], [0, false]);
    assert.equal(logs.events('quota.recount').length, 1);
    a.release('bob');
    a.disconnect('bob');
  });

  it('a file found already unlinked at open (another process may have credited its removal) is not credited at its close: unsure until a recount (pair fuzz seed 1971231566)', async () => {
    const [a, b] = [await make(), await make()];
    const qa = await a.acquire('bob');
    const qb = await b.acquire('bob');
    qb.reserveEntry(); // b made the file (300 bytes, one entry) ...
    await qb.reserve(300);
    await b.flush();
    assert.deepEqual([row('bob').usedBytes, row('bob').usedFiles], [300, 1]);
    // ... and removed it between a's open(2) and fstat, before the store knew a had it open.
    qb.releaseEntry(inodeKey(7, 9));
    qb.release(300, inodeKey(7, 9));
    const f = qa.open(7, 9, 300, true);
    await b.flush();
    assert.deepEqual([row('bob').usedBytes, row('bob').usedFiles, row('bob').unsure], [0, 0, false], "b's credit applied");
    qa.close(f, null);
    await a.flush();
    await waitFor(() => row('bob').unsure, 3000, 'the close to mark bob unsure');
    assert.deepEqual([row('bob').usedBytes, row('bob').usedFiles], [0, 0], 'not credited a second time');
    // Nobody serves bob now: a recount applies (the disk holds nothing).
    a.release('bob');
    b.release('bob');
    await a.flush();
    await b.flush();
    disk.set('bob', 0);
    await (a as unknown as { janitor(): Promise<void> }).janitor();
    assert.deepEqual([row('bob').usedBytes, row('bob').unsure], [0, false]);
  });

  // Pair fuzz seed 310382113: b REMOVEs a file a has just opened and written to, before a's next
  // settle registers the inode in the store. b's credit (the size its lstat saw) is applied, and
  // remembered (a `c:` row); a's settle then reports the inode it had open, which another process
  // credited meanwhile: the user is unsure (a's growth may stay charged) until a recount.
  it('a file removed by another process while open here, before the store knew it was open, ends unsure (not over and sure)', async () => {
    const [a, b] = [await make(), await make()];
    const qa = await a.acquire('bob');
    const qb = await b.acquire('bob');
    const f = qa.open(7, 5, 0); // a opened an empty file (its entry is in the usage already) ...
    cli.setUsage('bob', 0, 1);
    await qa.resize(f, 1, false); // ... and wrote a byte; not settled yet
    qb.releaseEntry(inodeKey(7, 5)); // b removed it (its lstat saw 0 bytes)
    await b.flush();
    qa.close(f, null);
    await a.flush();
    a.release('bob');
    b.release('bob');
    await a.flush();
    await b.flush();
    // The disk holds nothing now; the store must not count the byte as sure.
    assert.ok(row('bob').usedBytes === 0 || row('bob').unsure, `store ${row('bob').usedBytes} bytes, unsure ${row('bob').unsure}`);
  });

  it('connections count on all processes (maxSessionsPerUser); a dead process is expired: its block charged, its connections gone, the user recounted', async () => {
    const [a, b] = [await make(), await make()];
    assert.equal(await a.connect('alice', 2), true);
    assert.equal(await b.connect('alice', 2), true);
    assert.equal(await a.connect('alice', 2), false);
    const qb = await b.acquire('alice');
    await qb.reserve(5000);
    const held = blocks('alice').find((r) => r.process_id === b.process.id)!.block_bytes;
    // b dies: its heartbeat stops (simulated: aged past STALE_MS) and it never settles.
    cli.db.prepare('UPDATE coffer_processes SET heartbeat_ms = heartbeat_ms - 60000 WHERE id = ?').run(b.process.id);
    await (a as unknown as { janitor(): Promise<void> }).janitor();
    assert.equal(logs.events('quota.process-expired').length, 1);
    // Its block was charged (it may have been written) and alice made unsure; a alone has alice's
    // connections, so the same janitor run recounted her from the disk (empty here).
    assert.ok(held > 0);
    assert.equal(logs.events('quota.recount', { user: 'alice' }).length, 1);
    assert.deepEqual([row('alice').usedBytes, row('alice').unsure], [0, false]);
    assert.equal(await a.connect('alice', 2), true, "b's connection stopped counting");
    ledgers.splice(ledgers.indexOf(b), 1); // dead: never closed
  });

  it('a lost store: growth past the block is refused Temporarily unavailable (never Quota exceeded); the block already held still works', async () => {
    const a = await make();
    const q = await a.acquire('alice');
    await q.reserve(1000);
    const store = stores[0]!;
    const grant = store.quota.grant.bind(store.quota);
    store.quota.grant = () => Promise.reject(new Error('connection refused'));
    q.reserve(1000); // from the block
    await assert.rejects(async () => q.reserve(q.block.bytes + 1), (err: unknown) => err instanceof QuotaUnavailableError && err.message === 'Temporarily unavailable');
    store.quota.grant = grant;
    await q.reserve(q.block.bytes + 1);
    a.release('alice');
  });

  it('1000 reservations between two settles cost one store transaction', async () => {
    const a = await make();
    const q = await a.acquire('alice');
    let grants = 0;
    let settles = 0;
    const store = stores[0]!;
    const [g, s] = [store.quota.grant.bind(store.quota), store.quota.settle.bind(store.quota)];
    store.quota.grant = (...args) => (grants++, g(...args));
    store.quota.settle = (...args) => (settles++, s(...args));
    for (let i = 0; i < 1000; i++) await q.reserve(100);
    await a.flush(false);
    assert.equal(settles, 1);
    assert.ok(grants <= 2, `${grants} grants for 100 KB in 1000 reservations`);
    assert.equal(row('alice').usedBytes, 100_000);
    a.release('alice');
  });
});

describe('persistence is batched: 1000 WRITE packets do not cost a store transaction each', { timeout: 60_000 }, () => {
  it('counts the server database writes during 1000 small WRITEs', async (t) => {
    const ts = await startQuotaServer();
    try {
      await addQuotaUser(ts, 'batch', 10 * 1024 * 1024);
      const s = await RawSession.open(ts, 'batch');
      const h = await s.openFile('/many', FXF.WRITE | FXF.CREAT | FXF.TRUNC);
      const db = (ts.server.state.store as SqliteStore).sync;
      const changes = () => (db.db.prepare('SELECT total_changes() AS n').get() as { n: number }).n;
      const before = changes();
      const started = Date.now();
      for (let i = 0; i < 1000; i++) await s.write(h, Buffer.alloc(100, i), i * 100); // each one grows the file
      assert.equal(liveQuota(ts, 'batch')!.used, 100_000);
      await waitFor(() => ts.admin.usage('batch')?.usedBytes === 100_000, 5000, 'the periodic settle');
      const seconds = (Date.now() - started) / 1000;
      const during = changes() - before;
      t.diagnostic(`1000 WRITEs, then the settle, in ${seconds.toFixed(2)} s: ${during} rows changed`);
      // A settle every 250 ms changes a few rows (usage, block, inode); one per WRITE would be 1000+.
      assert.ok(during <= 12 * (Math.ceil(seconds * 4) + 2), `${during} database rows changed in ${seconds} s`);
      await s.closeFile(h);
      await s.end();
      await assertSettled(ts, 'batch', 100_000);
    } finally {
      await ts.close();
    }
  });
});
