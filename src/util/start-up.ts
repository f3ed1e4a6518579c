/**
 * A start that a stop can end part-way. A supervisor (systemd, Kubernetes, a drain) may stop a
 * server at any moment, including while it opens its keys, database and socket; the start must
 * then close what it opened and go no further. Each step is checked against the stop signal before
 * and after it runs, and what the steps opened is closed newest first: by a stopped or failed
 * start, or, once the start has completed, by the program's own stop. A future worker entry point
 * runs the same steps under its own signal.
 */

/** What one step opened, and how to close it. */
interface Closer {
  step: string;
  close(): unknown;
}

/** The steps of one start and what they opened. */
export class StartUp {
  /** The step under way or last begun ('start' before the first): for the stop's log line. */
  current = 'start';
  private readonly closers: Closer[] = [];

  constructor(readonly signal: AbortSignal = new AbortController().signal) {}

  /**
   * Runs one step: not begun once a stop is requested, never cut short (opening a file or a
   * socket is brief, and a half-opened thing cannot be closed), and what it opened is registered
   * with `close` before the stop is checked again. Throws the stop's reason when stopped.
   */
  async step<T>(name: string, work: () => T | Promise<T>, close?: (opened: T) => unknown): Promise<T> {
    this.signal.throwIfAborted();
    this.current = name;
    const opened = await work();
    if (close) this.closers.push({ step: name, close: () => close(opened) });
    this.signal.throwIfAborted();
    return opened;
  }

  /** True when `err` is this start's stop request rather than a failure. */
  isStop(err: unknown): boolean {
    return this.signal.aborted && err === this.signal.reason;
  }

  /** The steps that opened something still open, oldest first. */
  get open(): string[] {
    return this.closers.map((c) => c.step);
  }

  /**
   * Closes everything the steps opened, newest first. Every closer runs even if one fails; then
   * rejects with the first failure. Each is closed once, whoever calls.
   */
  async closeAll(): Promise<void> {
    let failure: unknown;
    for (let closer = this.closers.pop(); closer; closer = this.closers.pop()) {
      try {
        await closer.close();
      } catch (err) {
        failure ??= err;
      }
    }
    if (failure !== undefined) throw failure;
  }
}
