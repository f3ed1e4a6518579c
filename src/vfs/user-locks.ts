/**
 * The jail's per-user namespace locks: one RwLock per user with sessions in this process, shared by
 * all of that user's sessions (SFTP, scp, checksum). Operations that change names in the home (or
 * may create a file) take it exclusive, opens of existing files shared (LocalVfs); so no rename can
 * swap a folder for a symlink between another operation's jail check and its act, and no removal
 * can credit a file while a handle on it is being registered. Between processes (workers, nodes)
 * LocalVfs's sharedHome takes over for the jail; the quota store for the accounting.
 */
import { RwLock } from '../util/rw-lock.js';

export class UserLocks {
  private readonly locks = new Map<string, { lock: RwLock; refs: number }>();

  /** The user's lock for a new session; pair every call with release(user). */
  acquire(user: string): RwLock {
    let e = this.locks.get(user);
    if (!e) this.locks.set(user, (e = { lock: new RwLock(), refs: 0 }));
    e.refs += 1;
    return e.lock;
  }

  /** A session of `user` ended; the last one lets go of the lock. */
  release(user: string): void {
    const e = this.locks.get(user);
    if (e && --e.refs <= 0) this.locks.delete(user);
  }

  /** Users holding a lock (for tests). */
  get size(): number {
    return this.locks.size;
  }
}
