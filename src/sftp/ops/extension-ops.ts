/**
 * The EXTENDED requests Coffer implements: limits@openssh.com, statvfs@openssh.com,
 * fstatvfs@openssh.com, expand-path@openssh.com and home-directory (fsync and posix-rename live
 * with the file and path operations). Unknown extensions answer OP_UNSUPPORTED.
 */
import { MAX_MESSAGE_LENGTH, MAX_READ_WRITE_LENGTH, StatusCode } from '../constants.js';
import type { OperationTable } from '../context.js';
import { encodeLimitsReply, encodeStatvfsReply, type StatVfs } from '../packets/extended-reply.js';
import { fileOf } from './file-ops.js';
import { encodePathName } from '../packets/name.js';
import { encodeStatus } from '../packets/status.js';
import type { SpaceInfo } from '../../vfs/vfs.js';
import { normalizePath } from '../../vfs/virtual-path.js';
import { notFound } from '../../vfs/vfs-error.js';

/** statvfs@openssh.com's eleven fields from what the Vfs reports (fragment size = block size). */
export function toStatVfs(s: SpaceInfo): StatVfs {
  return { bsize: s.bsize, frsize: s.bsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, favail: s.ffree, fsid: 0, flag: 0, namemax: 255 };
}

/**
 * expand-path@openssh.com: `~` and `~/x` are the home ("/"), `~NAME` only for the session's own
 * user; anything else is normalised like REALPATH (OpenSSH's process_extended_expand).
 */
export function expandPath(path: string, user: string): string {
  const m = /^~([^/]*)(\/.*)?$/.exec(path);
  if (!m) return normalizePath(path === '' ? '.' : path);
  if (m[1] !== '' && m[1] !== user) throw notFound();
  return normalizePath(m[2] ?? '/');
}

export const EXTENSION_OPS: OperationTable<'limits' | 'statvfs' | 'fstatvfs' | 'expand-path' | 'home-directory' | 'unknown-extended'> = {
  limits: {
    writes: false,
    run: async (ctx, req) =>
      encodeLimitsReply(req.id, {
        maxPacketLength: MAX_MESSAGE_LENGTH,
        maxReadLength: MAX_READ_WRITE_LENGTH,
        maxWriteLength: MAX_READ_WRITE_LENGTH,
        maxOpenHandles: ctx.handles.limit,
      }),
  },
  statvfs: { writes: false, run: async (ctx, req) => encodeStatvfsReply(req.id, toStatVfs(await ctx.vfs.statvfs(req.path))) },
  fstatvfs: {
    writes: false,
    run: (ctx, req) =>
      ctx.handles.run(req.handle, async (target) => {
        fileOf(target);
        return encodeStatvfsReply(req.id, toStatVfs(await ctx.vfs.statvfs('/')));
      }),
  },
  'expand-path': { writes: false, run: async (ctx, req) => encodePathName(req.id, expandPath(req.path, ctx.user)) },
  'home-directory': {
    writes: false,
    async run(ctx, req) {
      if (req.username !== ctx.user) throw notFound();
      return encodePathName(req.id, '/');
    },
  },
  'unknown-extended': { writes: false, run: async (_ctx, req) => encodeStatus(req.id, StatusCode.OP_UNSUPPORTED) },
};
