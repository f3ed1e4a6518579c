/**
 * Unauthenticated connections (SPEC §5 `maxStartups`, OpenSSH's MaxStartups): counted per address
 * key, kept oldest first, and the choice of which one to evict when they are too many. Evicting
 * from the address holding the most slots means silent or slow clients spread over many addresses
 * push out each other, not the one connection of a client that is logging in.
 */

/** What a slot needs to know about its connection. */
export interface StartupHolder {
  key: string;
}

/** The unauthenticated connections, by address key, each address's oldest first. */
export class StartupSlots<R extends StartupHolder> {
  // A Set iterates in insertion order, so each address's first member is its oldest connection.
  private readonly byKey = new Map<string, Set<R>>();
  private readonly arrival = new Map<R, number>();
  private seq = 0;

  /** Unauthenticated connections in all. */
  get size(): number {
    return this.arrival.size;
  }

  /** Unauthenticated connections of one address key. */
  countOf(key: string): number {
    return this.byKey.get(key)?.size ?? 0;
  }

  /** Takes a slot for a new connection. */
  add(rec: R): void {
    if (this.arrival.has(rec)) return;
    this.arrival.set(rec, this.seq++);
    let set = this.byKey.get(rec.key);
    if (!set) this.byKey.set(rec.key, (set = new Set()));
    set.add(rec);
  }

  /** Gives the slot back (login, close, eviction); false if it held none. */
  remove(rec: R): boolean {
    if (!this.arrival.delete(rec)) return false;
    const set = this.byKey.get(rec.key);
    set?.delete(rec);
    if (set?.size === 0) this.byKey.delete(rec.key);
    return true;
  }

  /** The connection to evict: the oldest of the address holding the most slots (of those, the oldest first). */
  victim(): R | undefined {
    let best: R | undefined;
    let bestCount = 0;
    let bestSeq = Infinity;
    for (const set of this.byKey.values()) {
      const oldest = set.values().next().value as R;
      const seq = this.arrival.get(oldest)!;
      if (set.size > bestCount || (set.size === bestCount && seq < bestSeq)) [best, bestCount, bestSeq] = [oldest, set.size, seq];
    }
    return best;
  }
}
