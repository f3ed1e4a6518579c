/**
 * Temporary bans of source addresses after repeated authentication failures (SPEC §5, security
 * catalog §3.6). Each address key (address-key.ts: an IPv4 address, or an IPv6 /64) counts on its
 * own; failures older than the window are forgotten. Memory is bounded: at most MAX_TRACKED
 * keys, the stalest dropped first.
 */

/** Ban settings, in milliseconds. threshold 0 turns banning off. */
export interface BanPolicy {
  threshold: number;
  windowMs: number;
  banMs: number;
}

/** What fail() decided. */
export interface FailResult {
  /** True when this failure started a ban. */
  banned: boolean;
  /** Failures counted in the window, including this one. */
  failures: number;
  /** When the ban ends (epoch ms), if banned. */
  until?: number;
}

interface Entry {
  failures: number[];
  bannedUntil: number;
}

const MAX_TRACKED = 100_000;

/** Failure counts and bans per address. */
export class BanList {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly policy: BanPolicy,
    private readonly now: () => number = Date.now,
  ) {}

  /** True while `address` is banned. */
  isBanned(address: string): boolean {
    const e = this.entries.get(address);
    if (!e) return false;
    if (e.bannedUntil > this.now()) return true;
    if (e.bannedUntil !== 0) this.entries.delete(address);
    return false;
  }

  /** Counts one failure from `address`; starts a ban when the threshold is reached in the window. */
  fail(address: string): FailResult {
    if (this.policy.threshold <= 0) return { banned: false, failures: 0 };
    const now = this.now();
    let e = this.entries.get(address);
    if (!e) {
      this.makeRoom();
      e = { failures: [], bannedUntil: 0 };
    }
    this.entries.delete(address); // re-insert: Map order is then least recently failed first
    this.entries.set(address, e);
    e.failures = e.failures.filter((t) => now - t < this.policy.windowMs);
    e.failures.push(now);
    const failures = e.failures.length;
    if (failures < this.policy.threshold) return { banned: false, failures };
    e.failures = [];
    e.bannedUntil = now + this.policy.banMs;
    return { banned: true, failures, until: e.bannedUntil };
  }

  /** Takes over a ban decided elsewhere (another process on the store) until `until` (epoch ms). */
  adopt(address: string, until: number): void {
    if (until <= this.now()) return;
    let e = this.entries.get(address);
    if (!e) {
      this.makeRoom();
      this.entries.set(address, (e = { failures: [], bannedUntil: 0 }));
    }
    e.bannedUntil = Math.max(e.bannedUntil, until);
  }

  /** Forgets addresses with no ban and no failure in the window (call now and then). */
  prune(): void {
    const now = this.now();
    for (const [address, e] of this.entries) {
      const stale = e.bannedUntil <= now && e.failures.every((t) => now - t >= this.policy.windowMs);
      if (stale) this.entries.delete(address);
    }
  }

  private makeRoom(): void {
    if (this.entries.size < MAX_TRACKED) return;
    this.prune();
    const oldest = this.entries.keys().next();
    if (this.entries.size >= MAX_TRACKED && !oldest.done) this.entries.delete(oldest.value);
  }
}
