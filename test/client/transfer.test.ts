import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SFTPWrapper } from 'ssh2';
import { SegmentVerifier } from '../../src/client/segments.js';
import { Download, TransferStopped, Upload, type RangeJob } from '../../src/client/transfer.js';

type Cb = (err: Error | undefined, n?: number) => void;

/**
 * A fake SFTP peer over a buffer: replies come back in a scrambled order (each batch of pending
 * requests answered last-first), reads may be short, and one offset may fail.
 */
class FakePeer {
  private pending: Array<() => void> = [];
  private scheduled = false;
  readonly writes: Array<[number, number]> = [];
  constructor(
    public data: Buffer,
    private readonly opts: { shortReads?: boolean; failAt?: number; eofAt?: number } = {},
  ) {}

  private later(fn: () => void): void {
    this.pending.push(fn);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const batch = this.pending.reverse();
      this.pending = [];
      batch.forEach((f) => f());
    });
  }

  readonly sftp = {
    read: (_h: Buffer, buf: Buffer, off: number, len: number, pos: number, cb: Cb) =>
      this.later(() => {
        if (pos === this.opts.failAt) return cb(new Error('Connection lost'));
        const limit = Math.min(this.data.length, this.opts.eofAt ?? Infinity);
        let n = Math.max(0, Math.min(len, limit - pos));
        if (this.opts.shortReads && n > 10) n = Math.ceil(n / 3);
        this.data.copy(buf, off, pos, pos + n);
        cb(undefined, n);
      }),
    write: (_h: Buffer, buf: Buffer, off: number, len: number, pos: number, cb: Cb) => {
      const copy = Buffer.from(buf.subarray(off, off + len)); // ssh2 copies at once too
      this.later(() => {
        if (pos === this.opts.failAt) return cb(new Error('Quota exceeded'));
        if (this.data.length < pos + len) this.data = Buffer.concat([this.data, Buffer.alloc(pos + len - this.data.length)]);
        copy.copy(this.data, pos);
        this.writes.push([pos, len]);
        cb(undefined);
      });
    },
  } as unknown as SFTPWrapper;
}

async function withTemp(fn: (dir: string) => Promise<void>) {
  const dir = await mkdtemp(join(tmpdir(), 'coffer-transfer-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function baseJob(peer: FakePeer, local: RangeJob['local'], end: number, progress: number[]): RangeJob {
  return { sftp: peer.sftp, handle: Buffer.from('h'), local, start: 0, end, chunk: 1000, inflight: 8, hash: createHash('sha256'), onProgress: (n) => progress.push(n) };
}

describe('Download', () => {
  test('scrambled replies and short reads: the file and the streamed hash are right, written strictly in order', async () => {
    await withTemp(async (dir) => {
      const src = randomBytes(23_456);
      const peer = new FakePeer(src, { shortReads: true });
      const fh = await open(join(dir, 'part'), 'w');
      const progress: number[] = [];
      const job = baseJob(peer, fh, src.length, progress);
      // The part never holds anything past the contiguous data.
      job.onProgress = (n) => {
        progress.push(n);
        assert.equal(statSync(join(dir, 'part')).size, n);
      };
      assert.equal(await new Download(job).run(), src.length);
      await fh.close();
      assert.deepEqual(await readFile(join(dir, 'part')), src);
      assert.equal((job.hash as ReturnType<typeof createHash>).digest('hex'), createHash('sha256').update(src).digest('hex'));
      assert.deepEqual(progress, [...progress].sort((a, b) => a - b), 'progress only grows');
      assert.equal(progress.at(-1), src.length);
    });
  });

  test('a failed read stops the transfer; the part holds exactly the contiguous data before it', async () => {
    await withTemp(async (dir) => {
      const src = randomBytes(20_000);
      const peer = new FakePeer(src, { failAt: 12_000 });
      const fh = await open(join(dir, 'part'), 'w');
      const err = await new Download(baseJob(peer, fh, src.length, [])).run().then(
        () => assert.fail('should fail'),
        (e: unknown) => e,
      );
      await fh.close();
      assert.ok(err instanceof TransferStopped);
      assert.equal(err.highwater, 12_000);
      assert.match(err.message, /Connection lost/);
      assert.equal((await stat(join(dir, 'part'))).size, 12_000);
      assert.deepEqual(await readFile(join(dir, 'part')), src.subarray(0, 12_000));
    });
  });

  test('a remote file that ends early is an error, and a resume offset starts the reads there', async () => {
    await withTemp(async (dir) => {
      const src = randomBytes(5000);
      const fh = await open(join(dir, 'part'), 'w');
      await assert.rejects(new Download(baseJob(new FakePeer(src, { eofAt: 3000 }), fh, 5000, [])).run(), /shorter than when the transfer started/);
      await fh.close();
      const part = join(dir, 'resume');
      await writeFile(part, src.subarray(0, 1234));
      const fh2 = await open(part, 'r+');
      const job = { ...baseJob(new FakePeer(src), fh2, 5000, []), start: 1234, hash: null };
      await new Download(job).run();
      await fh2.close();
      assert.deepEqual(await readFile(part), src);
    });
  });

  test('an abort signal stops it with an interruption', async () => {
    await withTemp(async (dir) => {
      const src = randomBytes(50_000);
      const fh = await open(join(dir, 'part'), 'w');
      const ac = new AbortController();
      const job = { ...baseJob(new FakePeer(src), fh, src.length, []), signal: ac.signal };
      job.onProgress = (n: number) => n >= 10_000 && ac.abort();
      const err = await new Download(job).run().catch((e: unknown) => e);
      await fh.close();
      assert.ok(err instanceof TransferStopped);
      assert.equal(err.code, 'COFFER_INTERRUPTED');
      assert.equal((await stat(join(dir, 'part'))).size, err.highwater);
    });
  });
});

describe('Upload', () => {
  test('scrambled acks: the remote copy and the hash are right, and progress is the contiguous highwater', async () => {
    await withTemp(async (dir) => {
      const src = randomBytes(30_001);
      await writeFile(join(dir, 'src'), src);
      const fh = await open(join(dir, 'src'), 'r');
      const peer = new FakePeer(Buffer.alloc(0));
      const progress: number[] = [];
      const job = baseJob(peer, fh, src.length, progress);
      await new Upload(job).run();
      await fh.close();
      assert.deepEqual(peer.data, src);
      assert.equal((job.hash as ReturnType<typeof createHash>).digest('hex'), createHash('sha256').update(src).digest('hex'));
      assert.deepEqual(progress, [...progress].sort((a, b) => a - b));
      assert.ok(peer.writes.some(([pos], i) => i > 0 && pos < peer.writes[i - 1]![0]), 'acks really came out of order');
    });
  });

  test('a failed write: highwater is the contiguous acknowledged data', async () => {
    await withTemp(async (dir) => {
      const src = randomBytes(20_000);
      await writeFile(join(dir, 'src'), src);
      const fh = await open(join(dir, 'src'), 'r');
      const err = await new Upload(baseJob(new FakePeer(Buffer.alloc(0), { failAt: 7000 }), fh, src.length, [])).run().catch((e: unknown) => e);
      await fh.close();
      assert.ok(err instanceof TransferStopped);
      assert.equal(err.highwater, 7000);
      assert.match(err.message, /Quota exceeded/);
    });
  });

  test('a local file shorter than announced is an error', async () => {
    await withTemp(async (dir) => {
      await writeFile(join(dir, 'src'), randomBytes(100));
      const fh = await open(join(dir, 'src'), 'r');
      await assert.rejects(new Upload(baseJob(new FakePeer(Buffer.alloc(0)), fh, 5000, [])).run(), /local file is shorter/);
      await fh.close();
    });
  });
});

describe('SegmentVerifier', () => {
  const data = randomBytes(10_000);
  const sha = (b: Buffer) => createHash('sha256').update(b).digest();

  test('segments are asked for as the highwater passes their end; all match', async () => {
    const asked: Array<[number, number]> = [];
    const v = new SegmentVerifier(async (s, n) => (asked.push([s, n]), sha(data.subarray(s, s + n))), 1000, data.length, 4000);
    v.update(data.subarray(1000, 2500));
    v.update(data.subarray(2500, 7777));
    v.reached(4999);
    assert.deepEqual(asked, []);
    v.reached(5000);
    assert.deepEqual(asked, [[1000, 4000]]);
    v.update(data.subarray(7777));
    await v.verify('f', 'f.part');
    // The last 4000 bytes (one segment's worth) go in segments of 500: little to hash at the end.
    assert.deepEqual(asked, [
      [1000, 4000],
      [5000, 4000],
      [9000, 500],
      [9500, 500],
    ]);
  });

  test('a differing segment is a mismatch naming its bytes and both hashes', async () => {
    const v = new SegmentVerifier(async (s, n) => (s === 4000 ? sha(Buffer.from('x')) : sha(data.subarray(s, s + n))), 0, data.length, 4000);
    v.update(data);
    const err = await v.verify('f', 'f.part').catch((e: unknown) => e as Error);
    assert.match(err!.message, new RegExp(`^f: checksum mismatch: local sha256 ${sha(data.subarray(4000, 8000)).toString('hex')}, server sha256 ${sha(Buffer.from('x')).toString('hex')} \\(kept f\\.part; bytes 4000-8000\\)$`));
  });

  test('nothing to send (a complete resumed part): nothing to ask', async () => {
    const v = new SegmentVerifier(async () => assert.fail('no request'), 500, 500);
    await v.verify('f', 'p');
  });
});
