/**
 * The client's hash thread (src/client/hash-thread.ts): digests equal node:crypto's for data that
 * wraps the 16 MiB ring several times in odd-sized pieces, with several hashes interleaved; peek()
 * lets a hash go on; the caller's buffer may be reused right after update(); a file prefix is
 * hashed on the thread and can be fed further; a short or missing file is refused; a hash
 * expected to stay small, or any hash on a machine of two cores, runs on the calling thread; the
 * thread lets the process end.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { INLINE_BYTES, defaultPlace, hashFilePrefix, streamHash } from '../../src/client/hash-thread.js';

const sha = (b: Uint8Array, alg = 'sha256') => createHash(alg).update(b).digest('hex');

describe('hash thread', () => {
  const dir = mkdtempSync(join(tmpdir(), 'coffer-hash-thread-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('hashes 40 MiB fed in odd pieces through the ring, two hashes interleaved, like node:crypto', async () => {
    const a = randomBytes(40 * 1024 * 1024 + 17);
    const b = randomBytes(3 * 1024 * 1024 + 5);
    const ha = streamHash('sha256', Infinity, 'thread');
    const hb = streamHash('md5', Infinity, 'thread');
    const scratch = Buffer.allocUnsafe(1_000_003);
    let pb = 0;
    for (let p = 0; p < a.length; p += scratch.length) {
      // Through one reused buffer: update() must have copied the bytes before it returns.
      const n = a.copy(scratch, 0, p, Math.min(a.length, p + scratch.length));
      ha.update(scratch.subarray(0, n));
      scratch.fill(0xee, 0, n);
      if (pb < b.length) {
        hb.update(b.subarray(pb, pb + 77_777));
        pb += 77_777;
      }
    }
    if (pb < b.length) hb.update(b.subarray(pb));
    const [da, db] = await Promise.all([ha.digest(), hb.digest()]);
    assert.equal(da.toString('hex'), sha(a));
    assert.equal(db.toString('hex'), sha(b, 'md5'));
  });

  for (const place of ['thread', 'inline'] as const) {
    it(`peek gives the digest so far and the hash goes on; an empty hash is the digest of nothing (${place})`, async () => {
      const h = streamHash('sha256', Infinity, place);
      h.update(Buffer.from('hello '));
      assert.equal((await h.peek()).toString('hex'), sha(Buffer.from('hello ')));
      h.update(Buffer.from('world'));
      assert.equal((await h.digest()).toString('hex'), sha(Buffer.from('hello world')));
      assert.equal((await streamHash('sha1', Infinity, place).digest()).toString('hex'), sha(Buffer.alloc(0), 'sha1'));
    });
  }

  it('hashes a file prefix on the thread and continues from there', async () => {
    const data = randomBytes(2 * 1024 * 1024 + 3);
    const path = join(dir, 'prefix.bin');
    writeFileSync(path, data);
    const n = 1024 * 1024 + 1;
    const h = await hashFilePrefix(path, 'sha256', n);
    assert.equal((await h.peek()).toString('hex'), sha(data.subarray(0, n)));
    h.update(data.subarray(n));
    assert.equal((await h.digest()).toString('hex'), sha(data));
  });

  it('refuses a file shorter than the prefix (COFFER_LOCAL) and a missing one (ENOENT)', async () => {
    const path = join(dir, 'short.bin');
    writeFileSync(path, Buffer.alloc(10));
    await assert.rejects(hashFilePrefix(path, 'sha256', 11), (err: NodeJS.ErrnoException) => err.code === 'COFFER_LOCAL' && /shorter than 11 bytes/.test(err.message));
    await assert.rejects(hashFilePrefix(join(dir, 'missing'), 'sha256', 1), (err: NodeJS.ErrnoException) => err.code === 'ENOENT');
    // The thread is still there for the next hash.
    const h = streamHash('sha256', Infinity, 'thread');
    h.update(Buffer.from('x'));
    assert.equal((await h.digest()).toString('hex'), sha(Buffer.from('x')));
  });

  it('a hash expected to stay small is computed on the calling thread, like node:crypto, and can still be fed past that', async () => {
    const data = randomBytes(300_000);
    const h = streamHash('sha256', 1000);
    h.update(data.subarray(0, 1000));
    assert.equal((await h.peek()).toString('hex'), sha(data.subarray(0, 1000)));
    h.update(data.subarray(1000));
    assert.equal((await h.digest()).toString('hex'), sha(data));
  });

  it('puts larger hashes on the thread only with three cores or more, small ones never', () => {
    assert.equal(defaultPlace(INLINE_BYTES, 64), 'inline');
    assert.equal(defaultPlace(INLINE_BYTES + 1, 64), 'thread');
    assert.equal(defaultPlace(Infinity, 3), 'thread');
    assert.equal(defaultPlace(Infinity, 2), 'inline');
    assert.equal(defaultPlace(Infinity, 1), 'inline');
  });

  it('starts no thread for a hash computed inline, and one for a hash on the thread (Linux: counts the threads of a fresh process)', { skip: !existsSync('/proc/self/task') && 'no /proc/self/task' }, () => {
    const mod = fileURLToPath(new URL('../../src/client/hash-thread.js', import.meta.url));
    const code = [
      `import { readdirSync } from 'node:fs';`,
      `const { streamHash, INLINE_BYTES } = await import(${JSON.stringify(mod)});`,
      `const threads = () => readdirSync('/proc/self/task').length;`,
      `const before = threads();`,
      `const small = streamHash('sha256', INLINE_BYTES); small.update(Buffer.alloc(INLINE_BYTES)); await small.digest();`,
      `const inline = streamHash('sha256', Infinity, 'inline'); inline.update(Buffer.alloc(INLINE_BYTES * 4)); await inline.digest();`,
      `const afterSmall = threads();`,
      `const big = streamHash('sha256', INLINE_BYTES + 1, 'thread'); big.update(Buffer.alloc(10)); await big.digest();`,
      `console.log(JSON.stringify({ before, afterSmall, afterBig: threads() }));`,
    ].join('\n');
    const script = join(dir, 'threads.mjs');
    writeFileSync(script, code);
    const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    const n = JSON.parse(r.stdout) as { before: number; afterSmall: number; afterBig: number };
    assert.equal(n.afterSmall, n.before, 'no thread for hashes computed inline');
    assert.ok(n.afterBig > n.before, 'the hash thread for one placed there');
  });

  it('does not keep the process alive: a hash fed and dropped, or a digest taken, and the process ends', () => {
    const mod = fileURLToPath(new URL('../../src/client/hash-thread.js', import.meta.url));
    for (const tail of ['', 'await h.digest();']) {
      const code = `const { streamHash } = await import(${JSON.stringify(mod)}); const h = streamHash('sha256', Infinity, 'thread'); h.update(Buffer.alloc(100000)); ${tail} console.log('done');`;
      const script = join(dir, 'alive.mjs');
      writeFileSync(script, code);
      const r = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 0, `${tail || 'dropped'}: ${r.signal ?? ''} ${r.stderr}`);
      assert.equal(r.stdout, 'done\n');
    }
  });
});
