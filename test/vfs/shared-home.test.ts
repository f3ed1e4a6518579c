/**
 * A home served by several processes at once (workers, nodes): the user's namespace lock is per
 * process, so another process's rename can swap a folder for a symlink leading out of the home
 * between this process's jail check and its act. With `sharedHome` every operation that creates
 * or removes a name acts through its parent folder's descriptor, checked inside the home.
 *
 * The swap is made deterministic: the jail's parent() is wrapped so that, right after it resolved
 * `/d`, the real folder `d` is renamed away and a symlink `d -> ../outside` put in its place, as a
 * session on another worker could (a user link whose relative target escapes once moved). Without
 * sharedHome the act lands outside (what the pinning is for); with it, the act is refused and
 * nothing outside changes.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { UserQuota } from '../../src/quota/user-quota.js';
import { LocalVfs } from '../../src/vfs/local-vfs.js';
import { flags, makeSandbox, TEST_METADATA_IO, type Sandbox } from './sandbox.js';

describe('LocalVfs on a home shared with other processes (sharedHome)', () => {
  let sb: Sandbox;
  /** A sandbox whose home has d/secret.txt, named as the canary outside/secret.txt is. */
  const fresh = () => {
    sb = makeSandbox();
    mkdirSync(join(sb.home, 'd'));
    writeFileSync(join(sb.home, 'd', 'secret.txt'), 'mine');
  };
  beforeEach(fresh);
  afterEach(() => sb.cleanup());

  /** A LocalVfs whose jail, once it resolved a path below /d, sees `d` swapped for a link out. */
  async function racedVfs(sharedHome: boolean): Promise<LocalVfs> {
    const vfs = await LocalVfs.create(sb.home, { symlinks: true, quota: new UserQuota('u', null, 0), metadataIo: TEST_METADATA_IO, sharedHome });
    const jail = (vfs as unknown as { jail: { parent(v: string): Promise<unknown> } }).jail;
    const parent = jail.parent.bind(jail);
    jail.parent = async (v: string) => {
      const r = await parent(v);
      if (v.startsWith('/d/') && !existsSync(join(sb.home, 'd.moved'))) {
        renameSync(join(sb.home, 'd'), join(sb.home, 'd.moved'));
        symlinkSync('../outside', join(sb.home, 'd'));
      }
      return r;
    };
    return vfs;
  }

  const attacks: Array<[string, (vfs: LocalVfs) => Promise<unknown>, () => boolean]> = [
    ['mkdir', (vfs) => vfs.mkdir('/d/made'), () => existsSync(join(sb.outside, 'made'))],
    ['OPEN with CREAT', async (vfs) => (await vfs.open('/d/created', flags('write', 'creat'))).close(), () => existsSync(join(sb.outside, 'created'))],
    ['remove', (vfs) => vfs.remove('/d/secret.txt'), () => !existsSync(join(sb.outside, 'secret.txt'))],
    ['rename', (vfs) => vfs.rename('/d/secret.txt', '/taken', false), () => !existsSync(join(sb.outside, 'secret.txt'))],
  ];

  for (const [name, act, escaped] of attacks) {
    it(`${name}: alone on the home the swapped path would be followed out; with sharedHome it is refused`, async () => {
      const alone = await racedVfs(false);
      await act(alone).catch(() => undefined);
      assert.equal(escaped(), true, 'the race reaches outside when the per-process lock is all there is');
      sb.cleanup();
      fresh();
      const shared = await racedVfs(true);
      await assert.rejects(act(shared), (err: unknown) => (err as { code?: string }).code === 'NOT_FOUND', 'refused as missing');
      assert.equal(escaped(), false, 'nothing outside changed');
      sb.assertUntouched();
    });
  }

  it('symlink: with sharedHome a swapped parent is refused and nothing is made outside', async () => {
    const shared = await racedVfs(true);
    await assert.rejects(shared.symlink('/x', '/d/link'), (err: unknown) => (err as { code?: string }).code === 'NOT_FOUND');
    assert.equal(existsSync(join(sb.outside, 'link')), false);
    sb.assertUntouched();
  });

  it('without a race, every pinned operation works as usual', async () => {
    const vfs = await LocalVfs.create(sb.home, { symlinks: true, quota: new UserQuota('u', null, 0), metadataIo: TEST_METADATA_IO, sharedHome: true });
    await vfs.mkdir('/d/sub');
    await (await vfs.open('/d/sub/f', flags('write', 'creat'))).close();
    await vfs.rename('/d/sub/f', '/d/g', false);
    await vfs.rename('/d/g', '/d/secret.txt', true);
    await vfs.symlink('secret.txt', '/d/ln');
    await vfs.remove('/d/ln');
    await vfs.rmdir('/d/sub');
    assert.equal((await vfs.lstat('/d/secret.txt')).size, 0, 'the empty file replaced it');
    sb.assertUntouched();
  });
});
