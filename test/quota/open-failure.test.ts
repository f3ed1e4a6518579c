/**
 * An OPEN with TRUNC whose truncation fails (here: an append-only file, chattr +a, where ftruncate
 * says EPERM) must not leave the file tracked as open for writing: the handle it registered goes
 * with the descriptor. Before, the file stayed tracked for the rest of the process, so its charge
 * was never settled at a last close. Needs root and a filesystem with chattr (skips otherwise).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UserQuota } from '../../src/quota/user-quota.js';
import { LocalVfs } from '../../src/vfs/local-vfs.js';

describe('OPEN with TRUNC that cannot truncate', () => {
  let home: string;
  let skip: string | false = false;
  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'coffer-open-failure-'));
    await writeFile(join(home, 'log.txt'), 'x'.repeat(100));
    const r = spawnSync('chattr', ['+a', join(home, 'log.txt')], { encoding: 'utf8' });
    if (r.status !== 0) skip = `chattr +a is not possible here (${(r.stderr || r.error?.message || '').trim()})`;
  });
  after(async () => {
    spawnSync('chattr', ['-a', join(home, 'log.txt')]);
    await rm(home, { recursive: true, force: true });
  });

  it('refuses the OPEN and leaves nothing tracked, the charge unchanged', async (t) => {
    if (skip) return t.skip(skip);
    const quota = new UserQuota('u', 10_000, 100);
    const vfs = await LocalVfs.create(home, { symlinks: false, quota });
    const flags = { read: false, write: true, append: true, creat: false, trunc: true, excl: false };
    await assert.rejects(vfs.open('/log.txt', flags), (err: NodeJS.ErrnoException) => err.code === 'EPERM');
    assert.equal(quota.openFiles, 0, 'no file left tracked');
    assert.equal(quota.used, 100);
  });
});
