/**
 * The bounded queue hook deliveries wait in (SPEC §8): at most `concurrency` run at once, at most
 * `capacity` wait; a delivery beyond that is refused at once (the caller logs `hook.dropped`).
 * push() never waits and never throws: the user's operation is not delayed by hooks.
 */

/** One delivery: resolves when done; its failures are its own to report. */
export type HookJob = (signal: AbortSignal) => Promise<void>;

export class HookQueue {
  private readonly waiting: HookJob[] = [];
  private head = 0;
  private active = 0;
  private readonly stop = new AbortController();
  private idle: (() => void)[] = [];
  private closing = false;

  constructor(
    private readonly concurrency = 8,
    private readonly capacity = 1000,
  ) {}

  /** Deliveries waiting (not running). */
  get depth(): number {
    return this.waiting.length - this.head;
  }

  /** Deliveries running now. */
  get running(): number {
    return this.active;
  }

  /** Starts or queues `job`; false when the queue is full (or closed) and the job was dropped. */
  push(job: HookJob): boolean {
    if (this.closing) return false;
    if (this.active < this.concurrency) {
      this.start(job);
      return true;
    }
    if (this.depth >= this.capacity) return false;
    this.waiting.push(job);
    return true;
  }

  private start(job: HookJob): void {
    this.active += 1;
    let run: Promise<void>;
    try {
      run = job(this.stop.signal);
    } catch {
      run = Promise.resolve();
    }
    void run.catch(() => undefined).finally(() => this.next());
  }

  private next(): void {
    this.active -= 1;
    if (this.depth > 0 && !this.stop.signal.aborted) {
      const job = this.waiting[this.head]!;
      this.waiting[this.head++] = undefined as unknown as HookJob;
      // Compact now and then, so the array does not grow with every delivery ever queued.
      if (this.head > 1024 && this.head * 2 > this.waiting.length) {
        this.waiting.splice(0, this.head);
        this.head = 0;
      }
      this.start(job);
    }
    if (this.active === 0) for (const resolve of this.idle.splice(0)) resolve();
  }

  /**
   * Refuses new deliveries and lets the running and waiting ones go on for up to `graceMs`; then
   * drops what still waits (returns how many) and aborts what runs (run hooks are killed).
   * Resolves once none runs.
   */
  async close(graceMs: number): Promise<number> {
    this.closing = true;
    if (this.active > 0) {
      const timer = setTimeout(() => this.stop.abort(), graceMs);
      await new Promise<void>((resolve) => this.idle.push(resolve));
      clearTimeout(timer);
    }
    const dropped = this.depth;
    this.waiting.length = 0;
    this.head = 0;
    this.stop.abort();
    return dropped;
  }
}
