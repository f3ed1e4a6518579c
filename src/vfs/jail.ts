/**
 * The jail: maps normalised virtual paths to real host paths inside one home, checking at access
 * time (jail rules 2, 3 of DESIGN.md). The parent folder is resolved with realpath and must lie
 * inside the home, compared by path component, never by string prefix (Erlang CVE-2026-23942).
 * A last component that is a symlink is followed only when asked, and only to a target inside the
 * home. Anything outside answers exactly like a missing file.
 */
import { lstatSync, type Stats } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import { ASYNC_IO, type MetaIo } from './meta-io.js';
import { notFound } from './vfs-error.js';
import { NOT_CANONICAL, splitPath } from './virtual-path.js';

/** A name resolved inside the jail. */
export interface Resolved {
  /** Real host path of the parent folder (inside the home), or of the home itself for "/". */
  dir: string;
  /** Last component ("" for the home itself). */
  name: string;
  /** dir + name: the entry itself, not following a symlink in the last component. */
  path: string;
}

/** Confinement of one user to one home folder. */
export class Jail {
  private constructor(
    readonly root: string,
    /** How its file-system calls run (meta-io.ts): on the thread pool, or on the event loop. */
    readonly io: MetaIo,
  ) {}

  /** A jail on `home` (its realpath, so a home reached through a symlink works). */
  static async open(home: string, io: MetaIo = ASYNC_IO): Promise<Jail> {
    return new Jail(await io.realpath(home), io);
  }

  /** True when the host path `p` is the root or below it, by path component. */
  contains(p: string): boolean {
    // A canonical absolute path (what realpath and /proc/self/fd give) is inside exactly when it
    // is the root or the root and a '/' start it: the root is canonical too, so that '/' ends one
    // of p's components, never cuts one ("/home/al" does not contain "/home/alice").
    if (p.charCodeAt(0) === 0x2f && !NOT_CANONICAL.test(p)) {
      const root = this.root;
      return p === root || (p.startsWith(root) && (root.length === 1 || p.charCodeAt(root.length) === 0x2f));
    }
    const rel = relative(this.root, p);
    return rel === '' || (!isAbsolute(rel) && rel !== '..' && !rel.startsWith('..' + sep));
  }

  /** The virtual path of a host path inside the jail, or null if it is outside. */
  toVirtual(p: string): string | null {
    if (!this.contains(p)) return null;
    const rel = relative(this.root, p);
    return rel === '' ? '/' : '/' + rel.split(sep).join('/');
  }

  /**
   * Resolves the parent of a normalised virtual path to its real folder inside the home. The last
   * component is not touched (it may not exist yet). NOT_FOUND if the parent is missing or outside.
   */
  async parent(vpath: string): Promise<Resolved> {
    if (vpath === '/') return { dir: this.root, name: '', path: this.root };
    const { parent, name } = splitPath(vpath);
    const dir = (this.io.sync ? this.plainDir(parent) : null) ?? (await this.realDir(parent));
    return { dir, name, path: join(dir, name) };
  }

  /** Another entry `name` of the folder `r` was resolved in (a rename within one folder). */
  sibling(r: Resolved, name: string): Resolved {
    return { dir: r.dir, name, path: join(r.dir, name) };
  }

  /** realpath of a virtual folder, required inside the home; NOT_FOUND otherwise. */
  private async realDir(vdir: string): Promise<string> {
    let dir: string;
    try {
      dir = await this.io.realpath(join(this.root, vdir));
    } catch {
      throw notFound();
    }
    if (!this.contains(dir)) throw notFound();
    return dir;
  }

  /**
   * The host folder of a normalised virtual folder when none of its components below the root is
   * a symlink (one lstat per component, on the event loop: sync flavour only), else null (then
   * realDir decides). The root is a realpath and the virtual path has no '.' or '..', so a path of
   * plain folders below it is its own realpath, and inside: what realpath would return, without
   * reading every component of the host path above the home. A component that is not a folder or
   * cannot be read also gives null, so the error is realDir's.
   */
  private plainDir(vdir: string): string | null {
    if (vdir === '/') return this.root;
    let at = this.root;
    for (const part of vdir.split('/')) {
      if (part === '') continue;
      at = at + sep + part;
      let st;
      try {
        st = lstatSync(at, { throwIfNoEntry: false });
      } catch {
        return null;
      }
      if (!st?.isDirectory()) return null;
    }
    return at;
  }

  /**
   * Where an open descriptor really is (the kernel's answer, through /proc/self/fd/N), required to
   * be inside the home. Checking the fd after opening closes the race between resolving a path and
   * using it: whatever was swapped into the path meanwhile, the fd is what gets read or changed.
   * Throws NOT_FOUND when the fd is outside (the caller closes it).
   *
   * One readlink of the magic link: the kernel's path of the open dentry (d_path), which is
   * canonical (no symlink, no '..'), so it is what realpath(3) of it returns, which reads the same
   * link and then only re-checks those canonical components. A text ending in " (deleted)" (an
   * inode whose name is gone, or a file really named so) is left to realpath, which fails for
   * the first; one not starting with '/' (outside this process's root) is refused.
   */
  async verifyFd(fd: number): Promise<string> {
    const link = `/proc/self/fd/${fd}`;
    let where = await this.io.readlink(link).catch(() => null);
    if (where?.endsWith(' (deleted)')) where = await this.io.realpath(link).catch(() => null);
    if (where === null || where[0] !== '/' || !this.contains(where)) throw notFound();
    return where;
  }

  /**
   * The real host path of an existing entry. With `follow`, a symlink in the last component is
   * resolved and must land inside the home (a dangling link is missing); without, the link itself.
   */
  async existing(vpath: string, follow: boolean): Promise<string> {
    const r = await this.parent(vpath);
    const st = await this.io.lstat(r.path).catch(() => null);
    if (!st) throw notFound();
    if (!follow || !st.isSymbolicLink()) return r.path;
    const target = await this.io.realpath(r.path).catch(() => null);
    if (target === null || !this.contains(target)) throw notFound();
    return target;
  }

  /**
   * existing(), with the entry's lstat: of the path returned (the link's target when one was
   * followed), so a STAT needs no second lstat of a path it has just checked.
   */
  async existingStat(vpath: string, follow: boolean): Promise<{ path: string; st: Stats }> {
    const r = await this.parent(vpath);
    const st = await this.io.lstat(r.path).catch(() => null);
    if (!st) throw notFound();
    if (!follow || !st.isSymbolicLink()) return { path: r.path, st };
    const target = await this.io.realpath(r.path).catch(() => null);
    if (target === null || !this.contains(target)) throw notFound();
    const tst = await this.io.lstat(target).catch(() => null);
    if (!tst) throw notFound();
    return { path: target, st: tst };
  }
}
