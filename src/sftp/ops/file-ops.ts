/**
 * Requests on files: OPEN, CLOSE, READ, WRITE, FSTAT, FSETSTAT and fsync@openssh.com. Every
 * handle operation goes through the HandleTable, so requests on one handle keep their order.
 */
import { attrsFromStats, encodeAttrs } from '../packets/attrs.js';
import { MAX_READ_WRITE_LENGTH, OpenFlags, StatusCode } from '../constants.js';
import type { OperationTable, SftpContext } from '../context.js';
import type { HandleTarget } from '../handle-table.js';
import { recycleDataBuffer, takeDataBuffer } from '../data-buffers.js';
import { DATA_HEADER_LENGTH, finishDataReply } from '../packets/data.js';
import { encodeHandle } from '../packets/handle.js';
import { encodeStatus } from '../packets/status.js';
import { toVfsError, VfsError } from '../../vfs/vfs-error.js';
import type { OpenFlags as VfsOpenFlags } from '../../vfs/vfs.js';

/** Decodes SSH_FXF_* bits. */
export function decodeOpenFlags(pflags: number): VfsOpenFlags {
  return {
    read: (pflags & OpenFlags.READ) !== 0,
    write: (pflags & OpenFlags.WRITE) !== 0,
    append: (pflags & OpenFlags.APPEND) !== 0,
    creat: (pflags & OpenFlags.CREAT) !== 0,
    trunc: (pflags & OpenFlags.TRUNC) !== 0,
    excl: (pflags & OpenFlags.EXCL) !== 0,
  };
}

/** The file behind a handle; a folder handle is refused as OpenSSH does (FAILURE). */
export function fileOf(target: HandleTarget): Extract<HandleTarget, { kind: 'file' }> {
  if (target.kind !== 'file') throw new VfsError('FAILURE', 'Not a file handle');
  return target;
}

const ok = (id: number) => encodeStatus(id, StatusCode.OK);

/**
 * A file handle was closed (CLOSE, or the session's end: `interrupted`): logs its transfer per
 * SPEC §5 if bytes moved through it, and reports the close. A handle opened for writing is an
 * upload (even of no bytes), else one that served a READ is a download.
 */
export function fileClosed(ctx: SftpContext, target: HandleTarget, outcome: 'ok' | 'interrupted'): void {
  if (target.kind !== 'file') return;
  const { bytesRead, bytesWritten, openedAt, reads, quotaRefused } = target.stats;
  const transfer = target.writable || bytesWritten > 0 ? 'upload' : reads > 0 ? 'download' : null;
  const bytes = transfer === 'upload' ? bytesWritten : bytesRead;
  const final = quotaRefused && outcome === 'ok' ? 'quota-exceeded' : outcome;
  ctx.events({ event: 'file-close', path: target.path, transfer, bytes, outcome: final });
  if (bytesRead === 0 && bytesWritten === 0) return;
  const direction = bytesWritten > 0 ? 'upload' : 'download';
  ctx.log.info({ event: 'transfer', path: target.path, direction, bytes: direction === 'upload' ? bytesWritten : bytesRead, durationMs: Date.now() - openedAt, outcome }, 'transfer');
}

export const FILE_OPS: OperationTable<'open' | 'close' | 'read' | 'write' | 'fstat' | 'fsetstat' | 'fsync'> = {
  open: {
    // As OpenSSH's process_open in read-only mode: any of WRITE, APPEND, CREAT, TRUNC writes.
    writes: (req) => (req.pflags & (OpenFlags.WRITE | OpenFlags.APPEND | OpenFlags.CREAT | OpenFlags.TRUNC)) !== 0,
    async run(ctx, req) {
      ctx.handles.ensureRoom();
      const flags = decodeOpenFlags(req.pflags);
      const file = await ctx.vfs.open(req.path, flags, req.attrs);
      const writable = flags.write || flags.append || flags.trunc;
      const stats = { openedAt: Date.now(), bytesRead: 0, bytesWritten: 0, reads: 0, quotaRefused: false };
      try {
        const reply = encodeHandle(req.id, ctx.handles.add({ kind: 'file', file, path: req.path, writable, stats }));
        ctx.events({ event: 'file-open' });
        return reply;
      } catch (err) {
        await file.close();
        throw err;
      }
    },
  },
  close: {
    writes: false,
    async run(ctx, req) {
      const target = await ctx.handles.remove(req.handle);
      if (target.kind === 'dir') await target.dir.close();
      else {
        await target.file.close();
        fileClosed(ctx, target, 'ok');
      }
      return ok(req.id);
    },
  },
  read: {
    writes: false,
    run: (ctx, req) =>
      ctx.handles.run(req.handle, async (target) => {
        const t = fileOf(target);
        // Longer reads are shortened, as OpenSSH's sftp-server does (process_read).
        const length = Math.min(req.length, MAX_READ_WRITE_LENGTH);
        const buf = takeDataBuffer(length);
        let n: number;
        try {
          n = length === 0 ? 0 : await t.file.readInto(buf, DATA_HEADER_LENGTH, length, req.offset);
        } catch (err) {
          recycleDataBuffer(buf);
          throw err;
        }
        t.stats.reads += 1;
        // No DATA reply: the buffer goes back to the pool now (a small file's download ends with
        // such a READ, and a lost 255 KiB buffer per file meant a fresh allocation per file).
        if (n === 0 && length > 0) {
          recycleDataBuffer(buf);
          return encodeStatus(req.id, StatusCode.EOF);
        }
        t.stats.bytesRead += n;
        return finishDataReply(buf, req.id, n);
      }),
  },
  write: {
    writes: true,
    run: (ctx, req) =>
      ctx.handles.run(req.handle, async (target) => {
        const t = fileOf(target);
        if (!t.writable) throw new VfsError('DENIED', 'File not opened for writing');
        await t.file.write(req.offset, req.data).catch((err: unknown) => {
          if (toVfsError(err).code === 'QUOTA_EXCEEDED') {
            t.stats.quotaRefused = true;
            ctx.events({ event: 'quota-refused', path: t.path });
          }
          throw err;
        });
        t.stats.bytesWritten += req.data.length;
        return ok(req.id);
      }),
  },
  fstat: {
    writes: false,
    run: (ctx, req) => ctx.handles.run(req.handle, async (target) => encodeAttrs(req.id, attrsFromStats(await fileOf(target).file.stat()))),
  },
  fsetstat: {
    writes: true,
    run: (ctx, req) =>
      ctx.handles.run(req.handle, async (target) => {
        await fileOf(target).file.setStat(req.attrs);
        return ok(req.id);
      }),
  },
  fsync: {
    writes: true,
    run: (ctx, req) =>
      ctx.handles.run(req.handle, async (target) => {
        await fileOf(target).file.sync();
        return ok(req.id);
      }),
  },
};
