/**
 * check-file-name, check-file-handle (and paramiko's older `check-file` name for the handle form)
 * and copy-data: integrity checks and server-side copies, through the jail and the quota.
 */
import { MAX_MESSAGE_LENGTH, StatusCode } from '../constants.js';
import type { OperationTable, SftpContext } from '../context.js';
import { encodeCheckFileReply } from '../packets/extended-reply.js';
import { encodeStatus } from '../packets/status.js';
import type { CheckFileFields } from '../request-types.js';
import { fileOf } from './file-ops.js';
import { checksumFile, DIGEST_BYTES, pickAlgorithm, type ChecksumAlgorithm } from '../../vfs/checksum.js';
import type { VfsFile } from '../../vfs/vfs.js';
import { VfsError } from '../../vfs/vfs-error.js';

/** Bytes copied per read/write step of copy-data. */
const COPY_CHUNK = 256 * 1024;

/** The digests a check-file request asks for, as one EXTENDED_REPLY (the user's share of the hash workers). */
async function checkFile(ctx: SftpContext, file: VfsFile, req: CheckFileFields, legacy: boolean): Promise<Buffer> {
  const algorithm = pickAlgorithm(req.algorithms);
  if (!algorithm) throw new VfsError('UNSUPPORTED', 'No supported hash algorithm (md5, sha1, sha224, sha256, sha384, sha512)');
  const digests = await checksumFile(file, algorithm, { ...req, maxDigests: maxDigests(algorithm) }, { owner: ctx.user, signal: ctx.signal });
  return encodeCheckFileReply(req.id, algorithm, digests, legacy);
}

/** How many digests fit in one reply (the reply's header and names take well under 1 KiB). */
function maxDigests(algorithm: ChecksumAlgorithm): number {
  return Math.floor((MAX_MESSAGE_LENGTH - 1024) / DIGEST_BYTES[algorithm]);
}

/** copy-data: copies [from, from+length) of `src` (length 0 = to its end) to `dst` at `to`. */
async function copyData(src: VfsFile, dst: VfsFile, from: number, length: number, to: number): Promise<void> {
  const [s, d] = await Promise.all([src.stat(), dst.stat()]);
  // OpenSSH refuses a copy onto the same file (sftp-server.c process_extended_copy_data).
  if (s.dev === d.dev && s.ino === d.ino) throw new VfsError('FAILURE', 'Source and destination are the same file');
  const available = Math.max(0, s.size - from);
  const total = length === 0 ? available : Math.min(length, available);
  await dst.reserveWrite(to, total);
  const buf = Buffer.allocUnsafe(Math.min(COPY_CHUNK, Math.max(total, 1)));
  for (let done = 0; done < total; ) {
    const n = await src.readInto(buf, 0, Math.min(buf.length, total - done), from + done);
    if (n === 0) break;
    await dst.write(to + done, buf.subarray(0, n));
    done += n;
  }
}

const ok = (id: number) => encodeStatus(id, StatusCode.OK);

export const CHECKSUM_OPS: OperationTable<'check-file-name' | 'check-file-handle' | 'copy-data'> = {
  'check-file-name': {
    writes: false,
    async run(ctx: SftpContext, req) {
      const file = await ctx.vfs.open(req.path, { read: true, write: false, append: false, creat: false, trunc: false, excl: false });
      try {
        return await checkFile(ctx, file, req, false);
      } finally {
        await file.close();
      }
    },
  },
  'check-file-handle': {
    writes: false,
    run: (ctx, req) => ctx.handles.run(req.handle, (target) => checkFile(ctx, fileOf(target).file, req, req.legacy)),
  },
  'copy-data': {
    writes: true,
    async run(ctx, req) {
      if (Buffer.compare(req.readHandle, req.writeHandle) === 0) throw new VfsError('FAILURE', 'Source and destination are the same file');
      const src = fileOf(ctx.handles.get(req.readHandle));
      return ctx.handles.run(req.writeHandle, async (target) => {
        const dst = fileOf(target);
        if (!dst.writable) throw new VfsError('DENIED', 'Destination not opened for writing');
        await copyData(src.file, dst.file, req.readOffset, req.readLength, req.writeOffset);
        return ok(req.id);
      });
    },
  },
};
