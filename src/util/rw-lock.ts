/**
 * A fair reader/writer lock for promises: `shared` operations run together, an `exclusive` one
 * runs alone. Waiters start in arrival order: a shared operation queued behind an exclusive one
 * waits for it, so a stream of shared operations cannot starve an exclusive one. The uncontended
 * shared path costs a counter and no extra turn of the event loop.
 */

interface Waiter {
  exclusive: boolean;
  start(): void;
}

export class RwLock {
  private sharedRunning = 0;
  private exclusiveRunning = false;
  private readonly queue: Waiter[] = [];

  /** Runs `op` beside other shared operations, never beside an exclusive one. */
  shared<T>(op: () => Promise<T>): Promise<T> {
    return this.run(false, op);
  }

  /** Runs `op` alone: after every earlier operation has settled, before any later one starts. */
  exclusive<T>(op: () => Promise<T>): Promise<T> {
    return this.run(true, op);
  }

  /** Operations running or waiting (for tests). */
  get pending(): number {
    return this.sharedRunning + (this.exclusiveRunning ? 1 : 0) + this.queue.length;
  }

  private run<T>(exclusive: boolean, op: () => Promise<T>): Promise<T> {
    if (this.queue.length === 0 && this.canStart(exclusive)) return this.started(exclusive, op);
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ exclusive, start: () => this.started(exclusive, op).then(resolve, reject) });
    });
  }

  private canStart(exclusive: boolean): boolean {
    return !this.exclusiveRunning && (!exclusive || this.sharedRunning === 0);
  }

  private started<T>(exclusive: boolean, op: () => Promise<T>): Promise<T> {
    if (exclusive) this.exclusiveRunning = true;
    else this.sharedRunning += 1;
    let result: Promise<T>;
    try {
      result = op();
    } catch (err) {
      result = Promise.reject(err);
    }
    const done = () => {
      if (exclusive) this.exclusiveRunning = false;
      else this.sharedRunning -= 1;
      this.drain();
    };
    result.then(done, done);
    return result;
  }

  private drain(): void {
    while (this.queue.length > 0 && this.canStart(this.queue[0]!.exclusive)) this.queue.shift()!.start();
  }
}
