/**
 * The JSON log's output (logger.ts): lines are written after the replies of their event-loop turn,
 * gathered into one write system call per PIPE_BUF bytes of whole lines: at the end of the turn
 * once PIPE_BUF characters are pending, else at most FLUSH_DELAY_MS (20 ms) after the first.
 *
 * Why: a transfer's log line (SPEC §5) written synchronously inside the CLOSE that ends it cost
 * that CLOSE about 40 µs in the bench's server (serialising, then a write(2) that wakes the pipe's
 * reader), ahead of the reply: most of what made a small-file download slower than OpenSSH's
 * (issue 20). Written from a setImmediate or a timer instead, the line goes out after the turn's
 * replies: both run after the poll phase's callbacks and their nextTicks, where cork.ts hands each
 * socket its replies. And a write per line woke the log's reader (journald, a pipe) once per file
 * of a small-file transfer; gathered for up to 20 ms, a busy server's lines (about 17 transfer
 * lines fill PIPE_BUF) share one write and one wake-up.
 *
 * What stays as it was with pino's synchronous destination:
 * - Order: one buffer per process, written in order.
 * - Nothing is lost at a normal or failing exit: `process.exit`, the end of the event loop and an
 *   uncaught exception all run the 'exit' handler, which writes what is pending (the timer is
 *   unref'd, so it never keeps a finished process alive). Only a kill the process cannot see
 *   (SIGKILL, the kernel's OOM killer) loses lines, and then at most the last 20 ms of them.
 * - Lines of several processes on one pipe (coffer-server's workers share its stdout) never mix:
 *   a write of at most PIPE_BUF bytes to a pipe is atomic (pipe(7)), and a line longer than that
 *   is written on its own, as before.
 * - A full pipe whose descriptor is non-blocking (EAGAIN) is waited for, as pino's sonic-boom
 *   does, so lines are never dropped for a slow reader.
 *
 * A descriptor that fails otherwise (EPIPE: the reader is gone; EBADF) drops the pending lines
 * instead of throwing out of a setImmediate or timer, which would end the process and every
 * session with it: file service goes on without its log. The first such failure is said once on
 * stderr.
 */
import { writeSync } from 'node:fs';

/** Bytes a pipe writes atomically (Linux's PIPE_BUF). */
export const PIPE_BUF = 4096;

/**
 * How long lines wait for more before they are written, while fewer than PIPE_BUF characters are
 * pending: the longest a line is late, and what a kill the process cannot see may lose.
 */
export const FLUSH_DELAY_MS = 20;

/** Pending lines beyond this many UTF-16 units are written at once, not at the turn's end. */
const MAX_PENDING = 1 << 20;

/** How long a write to a full non-blocking pipe waits before it tries again. */
const FULL_PIPE_WAIT_MS = 10;

type Write = (fd: number, data: Buffer, offset: number, length: number) => number;

export class LineWriter {
  private pending: string[] = [];
  private units = 0;
  /** A flush is queued for the end of this turn (setImmediate). */
  private immediate = false;
  /** The flush of lines waiting for others (FLUSH_DELAY_MS), when one is set. */
  private timer: NodeJS.Timeout | null = null;
  private failed = false;

  /**
   * `write` is fs.writeSync's buffer form; tests pass one that fails or writes short. `delayMs`:
   * how long fewer than PIPE_BUF characters of lines wait for more (0: each turn's lines at its end).
   */
  constructor(
    private readonly fd: number,
    private readonly writeFn: Write = writeSync,
    private readonly delayMs = FLUSH_DELAY_MS,
  ) {}

  /**
   * Queues one line (pino passes each with its newline). It is written at the end of the turn once
   * PIPE_BUF characters are pending (a full write's worth), else within `delayMs`.
   */
  write(line: string): void {
    this.pending.push(line);
    this.units += line.length;
    if (this.units >= MAX_PENDING) this.flushSync();
    else if (this.units >= PIPE_BUF || this.delayMs <= 0) {
      if (!this.immediate) {
        this.immediate = true;
        setImmediate(this.flushScheduled);
      }
    } else if (!this.timer) {
      // Unref'd: it never keeps a finished process alive (the 'exit' handler writes what is left).
      this.timer = setTimeout(this.flushScheduled, this.delayMs);
      this.timer.unref();
    }
  }

  private readonly flushScheduled = (): void => {
    this.immediate = false;
    this.flushSync();
  };

  /** Writes every pending line now (pino's logger.flush, the exit handler). */
  flushSync(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.pending.length === 0) return;
    const lines = this.pending;
    this.pending = [];
    this.units = 0;
    try {
      let chunk = '';
      let chunkBytes = 0;
      for (const line of lines) {
        const bytes = Buffer.byteLength(line);
        if (chunkBytes > 0 && chunkBytes + bytes > PIPE_BUF) {
          this.writeAll(chunk);
          chunk = '';
          chunkBytes = 0;
        }
        chunk += line;
        chunkBytes += bytes;
      }
      if (chunkBytes > 0) this.writeAll(chunk);
    } catch (err) {
      if (!this.failed) {
        this.failed = true;
        process.stderr.write(`coffer: log lines lost: cannot write to descriptor ${this.fd}: ${(err as Error).message}\n`);
      }
    }
  }

  /** pino's flush(cb): writes what is pending, then calls back. */
  flush(cb?: (err?: Error) => void): void {
    this.flushSync();
    cb?.();
  }

  private writeAll(text: string): void {
    const buf = Buffer.from(text);
    let done = 0;
    while (done < buf.length) {
      try {
        done += this.writeFn(this.fd, buf, done, buf.length - done);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, FULL_PIPE_WAIT_MS);
      }
    }
  }
}

let stdoutWriter: LineWriter | null = null;

/** The process's one writer for stdout, flushed at exit (one 'exit' handler however many loggers). */
export function stdoutLines(): LineWriter {
  if (!stdoutWriter) {
    const writer = (stdoutWriter = new LineWriter(1));
    process.on('exit', () => writer.flushSync());
  }
  return stdoutWriter;
}
