/**
 * The bounded queue hook deliveries wait in (SPEC §8): at most `concurrency` run at once, at most
 * `capacity` wait; a delivery beyond that is refused at once (the caller logs `hook.dropped`).
 * push() never waits and never throws: the user's operation is not delayed by hooks.
 *
 * Deliveries also wait for a quiet moment: one starts once the server has seen no activity
 * (touch(): any event, hooked or not) for `quietMs`, or once the oldest waiting has waited
 * `maxDelayMs`, whichever comes first. A burst of uploads then runs its hooks after it, not
 * during it: on 2 vCPUs a hook program per upload, even at nice +10, made a burst of 200 small
 * uploads ~1.5x slower (the programs' CPU, their start-up and the IPC wake the cores the session
 * is using); deferred, the figure is within noise (scripts/bench-hooks.mjs, README "Event
 * hooks"). Under sustained activity every delivery waits maxDelayMs and they run as usual.
 */

/** One delivery: resolves when done; its failures are its own to report. */
export type HookJob = (signal: AbortSignal) => Promise<void>;

/** When waiting deliveries may start (see the module comment). */
export interface QuietGate {
  /** Activity-free time before deliveries start (0: they start at once). */
  quietMs: number;
  /** Longest a delivery waits for a quiet moment. */
  maxDelayMs: number;
}

/** The server's gate: 200 ms of quiet, at most 2 s of waiting. */
export const DEFAULT_GATE: QuietGate = { quietMs: 200, maxDelayMs: 2000 };

interface Waiting {
  job: HookJob;
  since: number;
}

export class HookQueue {
  private readonly waiting: (Waiting | undefined)[] = [];
  private head = 0;
  private active = 0;
  private readonly stop = new AbortController();
  private idle: (() => void)[] = [];
  private closing = false;
  private lastActivity = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly concurrency = 8,
    private readonly capacity = 1000,
    private readonly gate: QuietGate = DEFAULT_GATE,
  ) {}

  /** Deliveries waiting (not running). */
  get depth(): number {
    return this.waiting.length - this.head;
  }

  /** Deliveries running now. */
  get running(): number {
    return this.active;
  }

  /** The server was active now: waiting deliveries hold off for another quietMs. */
  touch(now = Date.now()): void {
    this.lastActivity = now;
  }

  /** Queues `job` (an activity too); false when the queue is full (or closed) and it was dropped. */
  push(job: HookJob): boolean {
    if (this.closing || this.depth >= this.capacity) return false;
    const now = Date.now();
    this.touch(now);
    this.waiting.push({ job, since: now });
    this.pump();
    return true;
  }

  /** Starts what may start now; else sets the timer for when the next one may. */
  private pump(): void {
    while (this.active < this.concurrency && this.depth > 0 && !this.stop.signal.aborted) {
      const wait = this.closing ? 0 : this.holdFor(Date.now());
      if (wait > 0) return this.arm(wait);
      const { job } = this.waiting[this.head]!;
      this.waiting[this.head++] = undefined;
      // Compact now and then, so the array does not grow with every delivery ever queued.
      if (this.head > 1024 && this.head * 2 > this.waiting.length) {
        this.waiting.splice(0, this.head);
        this.head = 0;
      }
      this.start(job);
    }
  }

  /** How long the head delivery must still wait (0: it may start). */
  private holdFor(now: number): number {
    const quiet = this.lastActivity + this.gate.quietMs - now;
    const overdue = this.waiting[this.head]!.since + this.gate.maxDelayMs - now;
    return Math.max(0, Math.min(quiet, overdue));
  }

  /** Sets the timer unless one is set: it fires no later than needed, and pump() re-arms it then. */
  private arm(ms: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, ms);
    this.timer.unref();
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
    this.pump();
    if (this.active === 0 && (this.depth === 0 || this.stop.signal.aborted)) for (const resolve of this.idle.splice(0)) resolve();
  }

  /**
   * Refuses new deliveries, starts the waiting ones without waiting for quiet, and lets them and
   * the running ones go on for up to `graceMs`; then drops what still waits (returns how many)
   * and aborts what runs (run hooks are killed). Resolves once none runs.
   */
  async close(graceMs: number): Promise<number> {
    this.closing = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pump();
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
