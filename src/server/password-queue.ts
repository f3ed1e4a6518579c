/**
 * The bounded queue password checks wait in (SPEC §5). A check costs ~0.5 s of a core and 128 MiB
 * (scrypt N=2^17) and only two run at once, so an unbounded queue let a flood of attempts, each
 * hung up after 0.15 s, pile up minutes of work that ran for nobody and locked out everyone else.
 * Here `parallel` checks run, and at most `perKey` per address key and `total` in all wait for
 * their turn; beyond that an attempt is refused at once. A waiting check whose connection is gone
 * (its signal aborted) leaves the queue without running; a running one cannot be stopped (libuv
 * runs it) and just finishes. Running checks are not counted against their address: four
 * sessions a client opens at once still log in when nothing else is running.
 */

/** Why a check did not run: the queue was full, or its connection went away while it waited. */
export class CheckRefusedError extends Error {
  constructor(readonly code: 'COFFER_AUTH_QUEUE_FULL' | 'COFFER_AUTH_CHECK_DROPPED') {
    super(code === 'COFFER_AUTH_QUEUE_FULL' ? 'password check queue full' : 'password check dropped: connection gone');
  }
}

/** The queue's bounds. */
export interface PasswordQueueLimits {
  /** Checks waiting for one address key. */
  perKey: number;
  /** Checks waiting in all. */
  total: number;
  /** Checks running at once. */
  parallel: number;
}

/** SPEC §5 defaults: 2 per address, 64 in all (the settings passwordQueuePerIp, passwordQueue); 2 at once, as password.ts lets scrypt run. */
export const PASSWORD_QUEUE_LIMITS: PasswordQueueLimits = { perKey: 2, total: 64, parallel: 2 };

interface Entry {
  key: string;
  start(): void;
  drop(): void;
}

/** Password checks in arrival order, bounded per address key and in all. */
export class PasswordQueue {
  private readonly waiting: Entry[] = [];
  private readonly perKey = new Map<string, number>();
  private active = 0;

  constructor(private readonly limits: PasswordQueueLimits = PASSWORD_QUEUE_LIMITS) {}

  /** Checks waiting for their turn. */
  get size(): number {
    return this.waiting.length;
  }

  /** Checks running now. */
  get running(): number {
    return this.active;
  }

  /** Checks of one address key waiting for their turn. */
  sizeOf(key: string): number {
    return this.perKey.get(key) ?? 0;
  }

  /**
   * Runs `work` at once if a slot is free, else once its turn comes; rejects at once with
   * CheckRefusedError when it would have to wait and the queue is full (in all or for `key`),
   * and when `signal` aborts before the work started.
   */
  run<T>(key: string, signal: AbortSignal, work: () => Promise<T>): Promise<T> {
    if (signal.aborted) return Promise.reject(new CheckRefusedError('COFFER_AUTH_CHECK_DROPPED'));
    const mustWait = this.active >= this.limits.parallel;
    if (mustWait && (this.waiting.length >= this.limits.total || this.sizeOf(key) >= this.limits.perKey)) {
      return Promise.reject(new CheckRefusedError('COFFER_AUTH_QUEUE_FULL'));
    }
    return new Promise<T>((resolve, reject) => {
      const entry: Entry = {
        key,
        start: () => {
          signal.removeEventListener('abort', entry.drop);
          this.active += 1;
          // The slot is free before the caller sees the verdict.
          const settle = <V>(fn: (v: V) => void) => (v: V) => {
            this.active -= 1;
            fn(v);
            this.pump();
          };
          Promise.resolve().then(work).then(settle(resolve), settle(reject));
        },
        drop: () => {
          if (!this.unqueue(entry)) return;
          reject(new CheckRefusedError('COFFER_AUTH_CHECK_DROPPED'));
        },
      };
      if (!mustWait) return entry.start();
      signal.addEventListener('abort', entry.drop, { once: true });
      this.waiting.push(entry);
      this.perKey.set(key, this.sizeOf(key) + 1);
    });
  }

  /** Takes a waiting entry out of the queue; false if it is not waiting. */
  private unqueue(entry: Entry): boolean {
    const at = this.waiting.indexOf(entry);
    if (at < 0) return false;
    this.waiting.splice(at, 1);
    const n = this.sizeOf(entry.key) - 1;
    if (n > 0) this.perKey.set(entry.key, n);
    else this.perKey.delete(entry.key);
    return true;
  }

  private pump(): void {
    while (this.active < this.limits.parallel && this.waiting.length > 0) {
      const next = this.waiting[0]!;
      this.unqueue(next);
      next.start();
    }
  }
}
