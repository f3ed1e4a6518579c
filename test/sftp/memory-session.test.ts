/**
 * An SFTP session served on a MemoryVfs: the protocol needs nothing of LocalVfs (a next backend
 * plugs in the same way). Upload, listing with longnames, rename, download, and the statuses a
 * client sees for MemoryVfs's refusals.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import type { SftpReply } from '../../src/sftp/packets/packet.js';
import { OpenFlags, StatusCode } from '../../src/sftp/constants.js';
import { serveSftp } from '../../src/sftp/sftp-session.js';
import { MemoryVfs } from '../../src/vfs/memory-vfs.js';
import { TestChannel } from '../support/sftp-channel.js';

const field = <T>(r: SftpReply, key: string): T => {
  assert.ok(key in r, `${key} missing in ${JSON.stringify(r)}`);
  return (r as unknown as Record<string, T>)[key]!;
};

describe('SFTP on a MemoryVfs', () => {
  it('uploads, lists, renames and downloads; refusals arrive as statuses', async () => {
    const channel = new TestChannel();
    const session = serveSftp(channel, { vfs: new MemoryVfs(), user: 'ann', log: pino({ level: 'silent' }), maxHandles: 8 });
    await channel.init();
    assert.equal(field(await channel.request({ kind: 'mkdir', path: '/docs', attrs: {} }), 'code'), StatusCode.OK);
    const w = field<Buffer>(await channel.request({ kind: 'open', path: '/docs/a.txt', pflags: OpenFlags.WRITE | OpenFlags.CREAT | OpenFlags.TRUNC, attrs: {} }), 'handle');
    assert.equal(field(await channel.request({ kind: 'write', handle: w, offset: 0, data: Buffer.from('hello') }), 'code'), StatusCode.OK);
    assert.equal(field(await channel.request({ kind: 'close', handle: w }), 'code'), StatusCode.OK);
    const d = field<Buffer>(await channel.request({ kind: 'opendir', path: '/docs' }), 'handle');
    const entries = field<Array<{ filename: string; longname: string }>>(await channel.request({ kind: 'readdir', handle: d }), 'entries');
    assert.deepEqual(entries.map((e) => e.filename), ['a.txt']);
    assert.match(entries[0]!.longname, /^-rw-r--r-- +1 ann +ann +5 .+ a\.txt$/);
    assert.equal(field(await channel.request({ kind: 'readdir', handle: d }), 'code'), StatusCode.EOF);
    assert.equal(field(await channel.request({ kind: 'rename', oldPath: '/docs/a.txt', newPath: '/b.txt' }), 'code'), StatusCode.OK);
    const r = field<Buffer>(await channel.request({ kind: 'open', path: '/b.txt', pflags: OpenFlags.READ, attrs: {} }), 'handle');
    assert.equal(field<Buffer>(await channel.request({ kind: 'read', handle: r, offset: 0, length: 100 }), 'data').toString(), 'hello');
    assert.equal(field(await channel.request({ kind: 'read', handle: r, offset: 5, length: 100 }), 'code'), StatusCode.EOF);
    const refusals: Array<[SftpReply, number, string]> = [
      [await channel.request({ kind: 'stat', path: '/docs/a.txt' }), StatusCode.NO_SUCH_FILE, 'No such file'],
      [await channel.request({ kind: 'rmdir', path: '/' }), StatusCode.PERMISSION_DENIED, 'The home folder cannot be removed'],
      [await channel.request({ kind: 'rename', oldPath: '/b.txt', newPath: '/docs' }), StatusCode.FAILURE, 'File exists'],
      [await channel.request({ kind: 'symlink', first: '/b.txt', second: '/l' }), StatusCode.PERMISSION_DENIED, 'Creating symlinks is disabled on this server'],
    ];
    for (const [reply, code, message] of refusals) assert.deepEqual([field(reply, 'code'), field(reply, 'message')], [code, message]);
    channel.destroy();
    await session.done;
  });
});
