/**
 * Issue 21, fix 3: a transfer that stops keeps NAME.coffer-part only when it holds data worth
 * resuming, and says so. A put the quota refuses before its first byte left a silent 0-byte part
 * in the home; now nothing is left and the line is just the refusal. A part that held data from
 * an earlier attempt is never removed, and the line says how much it keeps.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { settlePart, type PartFile } from '../../src/client/leftover-part.js';
import { at, coffer, makeFile, openSession, startFixture, type Fixture } from './support.js';

const KiB = 1024;

describe('settlePart', () => {
  /** A part of `size` (null: none; 'unknown': size() rejects) whose removals are counted. */
  const fake = (size: number | null | 'unknown', removable = true) => {
    const calls = { removed: 0 };
    const part: PartFile = {
      path: '/x.coffer-part',
      size: () => (size === 'unknown' ? Promise.reject(new Error('connection lost')) : Promise.resolve(size)),
      remove: async () => {
        calls.removed++;
        if (!removable) throw new Error('Permission denied');
      },
    };
    return { part, calls };
  };

  it('data known good is kept and named, never removed', async () => {
    const { part, calls } = fake(5000);
    assert.equal(await settlePart(part, 4096, false), '; 4096 bytes kept in /x.coffer-part, run the same command again to resume');
    assert.equal(calls.removed, 0);
  });

  it('an empty part is removed and not mentioned; one that cannot be removed is', async () => {
    const a = fake(0);
    assert.equal(await settlePart(a.part, 0, true), '');
    assert.equal(a.calls.removed, 1);
    const b = fake(0, false);
    assert.equal(await settlePart(b.part, 0, true), '; an empty /x.coffer-part is left');
  });

  it('a part that already held data is kept and mentioned; none at all says nothing', async () => {
    const a = fake(777);
    assert.equal(await settlePart(a.part, 0, false), '; /x.coffer-part is kept (777 bytes from an earlier attempt)');
    assert.equal(a.calls.removed, 0);
    assert.equal(await settlePart(fake(null).part, 0, false), '');
  });

  it('when the part cannot be looked at, what this attempt made is reported', async () => {
    assert.equal(await settlePart(fake('unknown').part, 0, true), '; an empty /x.coffer-part is left');
    assert.equal(await settlePart(fake('unknown').part, 0, false), '');
  });
});

describe('coffer put refused by the quota, against the server', () => {
  let fx: Fixture;
  before(async () => {
    fx = await startFixture({ quota: 100 * KiB });
    await fx.server.addUser('bob', { keys: [fx.key.publicLine], maxFiles: 0 });
  });
  after(() => fx.close());

  it('refused before the first byte: exit 1, the refusal alone, no part left in the home', async () => {
    const src = join(fx.work, 'big.bin');
    await makeFile(src, 1024 * KiB);
    const r = await coffer(fx, ['put', src, ...at(fx, 'big.bin')]);
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr, 'coffer: error: big.bin: Quota exceeded\n');
    assert.deepEqual(await readdir(fx.aliceHome), [], 'no big.bin.coffer-part, no big.bin');
  });

  it('a part with data from an earlier attempt is kept, and the line says so', async () => {
    const src = join(fx.work, 'resumed.bin');
    await makeFile(src, 1024 * KiB);
    const part = join(fx.aliceHome, 'resumed.bin.coffer-part');
    const head = (await readFile(src)).subarray(0, 50 * KiB);
    await writeFile(part, head);
    const r = await coffer(fx, ['put', src, ...at(fx, 'resumed.bin')]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /Resuming resumed\.bin at 51200 bytes/);
    assert.equal(r.stderr, 'coffer: error: resumed.bin: Quota exceeded; 51200 bytes kept in /resumed.bin.coffer-part, run the same command again to resume\n');
    assert.ok((await readFile(part)).equals(head), 'the part is untouched');
    assert.ok(!existsSync(join(fx.aliceHome, 'resumed.bin')));
  });

  it('the OPEN refused (entry limit): the refusal alone, nothing created', async () => {
    const src = join(fx.work, 'small.bin');
    await makeFile(src, 10 * KiB);
    const r = await coffer(fx, ['put', src, '-P', String(fx.server.port), 'bob@127.0.0.1:small.bin']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^coffer: error: \/small\.bin\.coffer-part: Quota exceeded\n$/);
    assert.deepEqual(await readdir(join(fx.server.root, 'homes', 'bob')), []);
  });
});

describe('a transfer interrupted before its first byte leaves no part', () => {
  let fx: Fixture;
  before(async () => {
    fx = await startFixture();
  });
  after(() => fx.close());

  /** Runs `line` in a session whose Ctrl-C comes right after the transfer opened `path`. */
  async function interruptedAfterOpen(line: string, path: string): Promise<Error> {
    const { conn, session } = await openSession(fx);
    const controller = new AbortController();
    session.signal = controller.signal;
    const open = conn.ops.open.bind(conn.ops);
    conn.ops.open = async (p, flags, attrs) => {
      const handle = await open(p, flags, attrs);
      if (p.endsWith(path)) controller.abort();
      return handle;
    };
    try {
      const { runLine } = await import('../../src/client/shell.js');
      return await runLine(session, line).then(
        () => assert.fail(`${line} finished`),
        (err: Error) => err,
      );
    } finally {
      await conn.end();
    }
  }

  it('put: the empty remote part is removed; the line is just "interrupted"', async () => {
    await makeFile(join(fx.work, 'up.bin'), 4 * 1024 * KiB);
    const err = await interruptedAfterOpen('put up.bin', 'up.bin.coffer-part');
    assert.equal(err.message, 'up.bin: interrupted');
    assert.deepEqual(await readdir(fx.aliceHome), []);
  });

  it('get: the empty local part is removed; the line is just "interrupted"', async () => {
    await makeFile(join(fx.aliceHome, 'down.bin'), 4 * 1024 * KiB);
    const err = await interruptedAfterOpen('get down.bin', '/down.bin');
    assert.equal(err.message, 'down.bin: interrupted');
    assert.ok(!existsSync(join(fx.work, 'down.bin.coffer-part')));
    assert.ok(!existsSync(join(fx.work, 'down.bin')));
    assert.equal((await stat(join(fx.aliceHome, 'down.bin'))).size, 4 * 1024 * KiB);
  });
});
