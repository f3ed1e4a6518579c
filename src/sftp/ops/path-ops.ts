/**
 * Requests naming paths: STAT, LSTAT, REALPATH, READLINK, MKDIR, RMDIR, REMOVE, RENAME,
 * posix-rename, SETSTAT, SYMLINK, OPENDIR and READDIR. Paths go to the Vfs as the client sent them;
 * the Vfs normalises and jails them.
 */
import type { Stats } from 'node:fs';
import { attrsFromStats, encodeAttrs } from '../packets/attrs.js';
import { StatusCode } from '../constants.js';
import type { OperationTable, SftpContext } from '../context.js';
import { formatLongname } from '../longname.js';
import { encodeHandle } from '../packets/handle.js';
import { encodeName, encodePathName, type NameEntry } from '../packets/name.js';
import { encodeStatus } from '../packets/status.js';
import { normalizePath } from '../../vfs/virtual-path.js';
import { VfsError } from '../../vfs/vfs-error.js';

/** Most names in one READDIR reply (OpenSSH's sftp-server sends at most 100). */
export const READDIR_BATCH = 100;

const ok = (id: number) => encodeStatus(id, StatusCode.OK);

/** A NAME entry for a listing: the name, an `ls -l` line with the user as owner and group, attributes. */
export function nameEntry(ctx: SftpContext, name: string, stats: Stats, now: number): NameEntry {
  const attrs = attrsFromStats(stats);
  return { filename: name, longname: formatLongname(name, attrs, { owner: ctx.user, group: ctx.user, nlink: stats.nlink, now }), attrs };
}

/**
 * SYMLINK's two paths as (target, link). OpenSSH sends (target, link), the draft (link, target);
 * a draft-order client names an existing target second and a new link first, so that shape is
 * read as draft order, anything else as OpenSSH order (which OpenSSH's sftp always uses).
 */
async function symlinkOrder(ctx: SftpContext, first: string, second: string): Promise<[string, string]> {
  const exists = (p: string) => ctx.vfs.lstat(p).then(() => true, () => false);
  const [firstExists, secondExists] = await Promise.all([exists(first), exists(second)]);
  return secondExists && !firstExists ? [second, first] : [first, second];
}

export const PATH_OPS: OperationTable<
  'stat' | 'lstat' | 'realpath' | 'readlink' | 'mkdir' | 'rmdir' | 'remove' | 'rename' | 'posix-rename' | 'setstat' | 'symlink' | 'opendir' | 'readdir'
> = {
  stat: { writes: false, run: async (ctx, req) => encodeAttrs(req.id, attrsFromStats(await ctx.vfs.stat(req.path))) },
  lstat: { writes: false, run: async (ctx, req) => encodeAttrs(req.id, attrsFromStats(await ctx.vfs.lstat(req.path))) },
  // Lexical, as SFTPGo: the virtual path is canonical already and needs no disk access.
  realpath: { writes: false, run: async (_ctx, req) => encodePathName(req.id, normalizePath(req.path === '' ? '.' : req.path)) },
  readlink: { writes: false, run: async (ctx, req) => encodePathName(req.id, await ctx.vfs.readlink(req.path)) },
  mkdir: { writes: true, run: async (ctx, req) => (await ctx.vfs.mkdir(req.path, req.attrs), ctx.events({ event: 'mkdir', path: req.path }), ok(req.id)) },
  rmdir: { writes: true, run: async (ctx, req) => (await ctx.vfs.rmdir(req.path), ctx.events({ event: 'rmdir', path: req.path }), ok(req.id)) },
  remove: { writes: true, run: async (ctx, req) => (await ctx.vfs.remove(req.path), ctx.events({ event: 'remove', path: req.path }), ok(req.id)) },
  // RENAME never overwrites (OpenSSH sftp-server.c process_rename); posix-rename does.
  rename: {
    writes: true,
    run: async (ctx, req) => (await ctx.vfs.rename(req.oldPath, req.newPath, false), ctx.events({ event: 'rename', path: req.oldPath, target: req.newPath }), ok(req.id)),
  },
  'posix-rename': {
    writes: true,
    run: async (ctx, req) => (await ctx.vfs.rename(req.oldPath, req.newPath, true), ctx.events({ event: 'rename', path: req.oldPath, target: req.newPath }), ok(req.id)),
  },
  setstat: { writes: true, run: async (ctx, req) => (await ctx.vfs.setStat(req.path, req.attrs), ok(req.id)) },
  symlink: {
    writes: true,
    async run(ctx, req) {
      const [target, link] = await symlinkOrder(ctx, req.first, req.second);
      await ctx.vfs.symlink(target, link);
      return ok(req.id);
    },
  },
  opendir: {
    writes: false,
    async run(ctx, req) {
      ctx.handles.ensureRoom();
      const dir = await ctx.vfs.openDir(req.path);
      try {
        return encodeHandle(req.id, ctx.handles.add({ kind: 'dir', dir, path: req.path }));
      } catch (err) {
        await dir.close();
        throw err;
      }
    },
  },
  readdir: {
    writes: false,
    run: (ctx, req) =>
      ctx.handles.run(req.handle, async (target) => {
        if (target.kind !== 'dir') throw new VfsError('FAILURE', 'Not a directory handle');
        const entries = await target.dir.next(READDIR_BATCH);
        if (entries === null) return encodeStatus(req.id, StatusCode.EOF);
        const now = Math.floor(Date.now() / 1000);
        return encodeName(req.id, entries.map((e) => nameEntry(ctx, e.name, e.stats, now)));
      }),
  },
};
