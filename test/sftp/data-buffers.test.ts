/**
 * The packet pool of src/sftp/data-buffers.ts: large packets come from reused buffers that hold
 * exactly the asked length; small and oversized ones are fresh; only pooled buffers go back, each
 * reused once given back; the framer uses the allocator for packets that span chunks. And the
 * DATA buffers: a READ that sends no DATA (EOF, a failed read) gives its buffer back at once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_MESSAGE_LENGTH, MAX_READ_WRITE_LENGTH } from '../../src/sftp/constants.js';
import { recyclePacketBuffer, takeDataBuffer, takePacketBuffer } from '../../src/sftp/data-buffers.js';
import { PacketFramer } from '../../src/sftp/framing.js';
import type { SftpContext } from '../../src/sftp/context.js';
import { HandleTable } from '../../src/sftp/handle-table.js';
import { FILE_OPS } from '../../src/sftp/ops/file-ops.js';
import type { VfsFile } from '../../src/vfs/vfs.js';

describe('packet buffers', () => {
  it('pools large packets and hands a given-back buffer out again', () => {
    const a = takePacketBuffer(200_000);
    assert.equal(a.length, 200_000);
    assert.equal(a.buffer.byteLength, MAX_MESSAGE_LENGTH);
    recyclePacketBuffer(a);
    const b = takePacketBuffer(70_000);
    assert.equal(b.buffer, a.buffer, 'the same memory, reused');
    assert.equal(b.length, 70_000);
    const c = takePacketBuffer(70_000);
    assert.notEqual(c.buffer, b.buffer, 'a buffer in use is not handed out twice');
  });

  it('gives small and oversized packets their own buffers, and ignores them when given back', () => {
    const small = takePacketBuffer(100);
    assert.equal(small.length, 100);
    recyclePacketBuffer(small);
    const other = Buffer.alloc(100_000);
    recyclePacketBuffer(other);
    const next = takePacketBuffer(100_000);
    assert.notEqual(next.buffer, other.buffer);
    assert.notEqual(next.buffer, small.buffer);
    assert.equal(takePacketBuffer(MAX_MESSAGE_LENGTH + 1).length, MAX_MESSAGE_LENGTH + 1);
  });

  it('the framer assembles a packet that spans chunks in the allocator\'s buffer', () => {
    const sizes: number[] = [];
    const framer = new PacketFramer(undefined, (n) => (sizes.push(n), takePacketBuffer(n)));
    const body = Buffer.alloc(100_000, 0xab);
    const packet = Buffer.concat([Buffer.from([0, 1, 0x86, 0xa0]), body]); // length 100000
    const out: Buffer[] = [];
    framer.push(packet.subarray(0, 50_000), (p) => out.push(p));
    framer.push(packet.subarray(50_000), (p) => out.push(p));
    assert.deepEqual(sizes, [100_000]);
    assert.equal(out.length, 1);
    assert.ok(out[0]!.equals(body));
    assert.equal(out[0]!.buffer.byteLength, MAX_MESSAGE_LENGTH, 'pooled');
  });
});

describe('DATA buffers of READs that send no DATA', () => {
  // A READ on a file whose readInto answers `answer` (bytes read, or an error); returns the buffer
  // the read was given and the reply's packet type.
  async function readWith(answer: number | Error): Promise<{ buf: Buffer; reply: Buffer | Error }> {
    let seen: Buffer | undefined;
    const file = {
      readInto(buf: Buffer) {
        seen = buf;
        return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
      },
    } as unknown as VfsFile;
    const handles = new HandleTable(4);
    const handle = handles.add({ kind: 'file', file, path: '/f', writable: false, stats: { openedAt: 0, bytesRead: 0, bytesWritten: 0, reads: 0, quotaRefused: false } });
    const ctx = { handles } as unknown as SftpContext;
    const reply = await FILE_OPS.read.run(ctx, { kind: 'read', id: 7, handle, offset: 0, length: MAX_READ_WRITE_LENGTH }).catch((e: Error) => e);
    return { buf: seen!, reply };
  }

  it('an EOF answer gives the pooled buffer back: the next READ reuses it', async () => {
    const { buf, reply } = await readWith(0);
    assert.ok(Buffer.isBuffer(reply));
    assert.equal(reply[4], 101, 'a STATUS reply (EOF)');
    assert.equal(takeDataBuffer(MAX_READ_WRITE_LENGTH).buffer, buf.buffer, 'the same memory, not a fresh 255 KiB');
  });

  it('a failed read gives it back too', async () => {
    const { buf, reply } = await readWith(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
    assert.ok(reply instanceof Error);
    assert.equal(takeDataBuffer(MAX_READ_WRITE_LENGTH).buffer, buf.buffer);
  });

  it('a DATA reply keeps it (the session gives it back once the channel has sent it)', async () => {
    const { buf, reply } = await readWith(10);
    assert.ok(Buffer.isBuffer(reply));
    assert.equal(reply.buffer, buf.buffer);
    assert.notEqual(takeDataBuffer(MAX_READ_WRITE_LENGTH).buffer, buf.buffer, 'still in use: not handed out again');
  });
});
