/**
 * Issue 5, item 3: exactness under concurrency. Eight sessions of one user (eight SSH connections:
 * ssh2-sftp-client fastPut with 64 writes in flight, raw ssh2 sessions pipelining overlapping
 * writes into one shared file, OpenSSH sftp put) upload at once against a quota smaller than their
 * sum: the ledger never passes the quota (sampled all along), the disk never holds a byte over it,
 * and at the end the stored usage equals the disk's count. Then two users at once: one user's
 * uploads never touch the other's quota.
 *
 * The scenario runs COFFER_QUOTA_RUNS times (default 3; the acceptance is 20 in a row:
 * `COFFER_QUOTA_RUNS=20 node scripts/run-tests.mjs quota/quota-concurrency`).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  addQuotaUser,
  assertSettled,
  bytes,
  diskBytes,
  FXF,
  KiB,
  liveQuota,
  localFile,
  opensshSftp,
  RawSession,
  sftpClient,
  startQuotaServer,
  type QuotaServer,
  type SftpClient,
} from '../support/quota-helpers.js';
import { waitFor } from '../support/wait.js';

const RUNS = Math.max(1, Number(process.env.COFFER_QUOTA_RUNS ?? 3));
const FILE = 512 * KiB;

/** What one uploader did: 'ok' or the error message. */
type Outcome = string;

describe('quota: exact under concurrent uploads', { timeout: 60_000 + RUNS * 15_000 }, () => {
  let ts: QuotaServer;
  let files: Array<{ path: string; data: Buffer }>;
  let n = 0;

  before(async () => {
    ts = await startQuotaServer();
    files = [];
    for (let i = 0; i < 8; i++) files.push(await localFile(ts.scratch, `src${i}.bin`, FILE));
  });
  after(async () => {
    await ts?.close();
  });

  /** Samples the live ledger of `names` every few ms; returns the highest `used` seen per user. */
  function sampleLedger(names: string[]): { stop(): Map<string, number> } {
    const max = new Map(names.map((u) => [u, 0]));
    const timer = setInterval(() => {
      for (const u of names) max.set(u, Math.max(max.get(u)!, liveQuota(ts, u)?.used ?? 0));
    }, 2);
    return {
      stop: () => {
        clearInterval(timer);
        return max;
      },
    };
  }

  /** ssh2-sftp-client fastPut of local file `i` (64 writes of 32 KiB in flight) on a connected client. */
  async function fastPut(c: SftpClient, i: number, remote: string): Promise<Outcome> {
    try {
      await c.fastPut(files[i]!.path, remote, { concurrency: 64, chunkSize: 32 * KiB });
      return 'ok';
    } catch (err) {
      return (err as Error).message;
    } finally {
      await c.end();
    }
  }

  /** A raw session writing `data` into `remote` (no TRUNC) with every WRITE sent at once, in 16 KiB pieces. */
  async function rawBurst(s: RawSession, remote: string, data: Buffer): Promise<Outcome> {
    const h = await s.openFile(remote, FXF.WRITE | FXF.CREAT);
    const writes: Array<Promise<void>> = [];
    for (let off = 0; off < data.length; off += 16 * KiB) writes.push(s.write(h, data.subarray(off, off + 16 * KiB), off));
    const results = await Promise.allSettled(writes);
    await s.closeFile(h);
    await s.end();
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    return failed ? (failed.reason as Error).message : 'ok';
  }

  async function opensshPut(name: string, i: number, remote: string): Promise<Outcome> {
    const r = await opensshSftp(ts, name, [`put src${i}.bin ${remote}`]);
    return r.code === 0 ? 'ok' : (r.stderr.trim().split('\n').at(-1) ?? `exit ${r.code}`);
  }

  /**
   * Uploads by `name` at once, each on its own connection: local files `fast` by fastPut, `openssh`
   * by OpenSSH sftp, and `raw` raw sessions writing one shared file. Every connection is made first;
   * the ssh2 uploads start once the OpenSSH sessions are up, so all of them overlap.
   */
  async function uploads(name: string, plan: { fast: number[]; openssh: number[]; raw: number }): Promise<Outcome[]> {
    const clients = await Promise.all(plan.fast.map(() => sftpClient(ts, name)));
    const raws = await Promise.all(Array.from({ length: plan.raw }, () => RawSession.open(ts, name)));
    const started = ts.logs.events('subsystem').filter((l) => l.user === name).length;
    const openssh = plan.openssh.map((i) => opensshPut(name, i, `/o${i}.bin`));
    await waitFor(() => ts.logs.events('subsystem').filter((l) => l.user === name).length >= started + plan.openssh.length, 10_000, 'the OpenSSH sessions');
    const shared = bytes(FILE);
    return Promise.all([
      ...plan.fast.map((i, k) => fastPut(clients[k]!, i, `/f${i}.bin`)),
      ...openssh,
      ...raws.map((s) => rawBurst(s, '/shared.bin', shared)),
    ]);
  }

  const refused = (o: Outcome) => /Quota exceeded|Failure/.test(o);

  for (let run = 1; run <= RUNS; run++) {
    it(`8 sessions of one user against a quota smaller than their sum: never a byte over it, usage = disk (run ${run}/${RUNS})`, async (t) => {
      const name = `c${++n}`;
      const quota = 2048 * KiB + 4321; // the 8 uploads send 4 MiB (the shared file counts once: 3.5 MiB)
      const home = await addQuotaUser(ts, name, quota);
      const sampler = sampleLedger([name]);
      const outcomes = await uploads(name, { fast: [0, 1, 2, 3], openssh: [4, 5], raw: 2 });
      const max = sampler.stop().get(name)!;
      const disk = await assertSettled(ts, name);
      t.diagnostic(`stored ${disk} of ${quota}; ledger peak ${max}; outcomes: ${outcomes.map((o) => (o === 'ok' ? 'ok' : refused(o) ? 'refused' : o)).join(', ')}`);
      assert.ok(max <= quota, `the ledger peaked at ${max}, over the quota ${quota}`);
      assert.ok(disk <= quota, `the disk holds ${disk} bytes, over the quota ${quota}`);
      assert.ok(outcomes.some(refused), 'some upload was refused');
      for (const o of outcomes) assert.ok(o === 'ok' || refused(o), `an upload failed for another reason: ${o}`);
      assert.ok(disk > quota / 2, `the uploads filled most of the quota before being refused (${disk})`);
      // Every stored byte is what its uploader sent, at its place.
      // Every stored byte is what its uploader sent: complete files where the upload succeeded,
      // the start of the file where it was refused.
      for (const [k, f] of ['f0.bin', 'f1.bin', 'f2.bin', 'f3.bin', 'o4.bin', 'o5.bin'].entries()) {
        const stored = await readFile(join(home, f)).catch(() => Buffer.alloc(0));
        const sent = files[[0, 1, 2, 3, 4, 5][k]!]!.data;
        if (outcomes[k] === 'ok') assert.deepEqual(stored, sent, `${f} complete`);
        else assert.ok(stored.length <= sent.length, `${f} not longer than sent`);
      }
    });
  }

  it('two users at once: each is held to their own quota, exactly; one user being refused never affects the other', async (t) => {
    const a = `c${++n}`;
    const b = `c${++n}`;
    const quotaA = 1024 * KiB + 777; // a's 4 uploads total 2 MiB: refused
    const quotaB = 4 * FILE; // b's 4 uploads fit to the byte: any of a's usage leaking into b's would refuse b
    const homeA = await addQuotaUser(ts, a, quotaA);
    const homeB = await addQuotaUser(ts, b, quotaB);
    const sampler = sampleLedger([a, b]);
    const [outA, outB] = await Promise.all([uploads(a, { fast: [0, 1, 2], openssh: [3], raw: 0 }), uploads(b, { fast: [4, 5, 6], openssh: [7], raw: 0 })]);
    const max = sampler.stop();
    const diskA = await assertSettled(ts, a);
    const diskB = await assertSettled(ts, b, quotaB);
    t.diagnostic(`${a}: ${diskA}/${quotaA} (peak ${max.get(a)}); ${b}: ${diskB}/${quotaB} (peak ${max.get(b)})`);
    assert.ok(diskA <= quotaA && max.get(a)! <= quotaA, `${a} stayed within the quota`);
    assert.ok(outA.some(refused), `${a} was refused`);
    assert.deepEqual(outB, ['ok', 'ok', 'ok', 'ok'], `${b} was never refused`);
    for (const [i, f] of [[4, 'f4.bin'], [5, 'f5.bin'], [6, 'f6.bin'], [7, 'o7.bin']] as const) assert.deepEqual(await readFile(join(homeB, f)), files[i]!.data, `${b}'s ${f}`);
    assert.equal(await diskBytes(homeA), ts.admin.usage(a)!.usedBytes);
  });
});
