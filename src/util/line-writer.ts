/**
 * The JSON log's output (logger.ts): the lines of one event-loop turn leave together, at the end
 * of that turn, in one write system call per PIPE_BUF bytes of whole lines.
 *
 * Why: a transfer's log line (SPEC §5) written synchronously inside the CLOSE that ends it cost
 * that CLOSE about 40 µs in the bench's server (serialising, then a write(2) that wakes the pipe's
 * reader), ahead of the reply: most of what made a small-file download slower than OpenSSH's
 * (issue 20). Written from a setImmediate instead, the line goes out in the same turn, after the
 * turn's replies: a setImmediate runs in the check phase, after the poll phase's callbacks and
 * their nextTicks, where cork.ts hands each socket its replies. A busy server's many lines of a
 * turn share one write.
 *
 * What stays as it was with pino's synchronous destination:
 * - Order: one buffer per process, written in order.
 * - Nothing is lost at a normal or failing exit: `process.exit` and an uncaught exception both
 *   run the 'exit' handler, which writes what is pending. Only a kill the process cannot see
 *   (SIGKILL, the kernel's OOM killer) loses lines, and then at most one turn's.
 * - Lines of several processes on one pipe (coffer-server's workers share its stdout) never mix:
 *   a write of at most PIPE_BUF bytes to a pipe is atomic (pipe(7)), and a line longer than that
 *   is written on its own, as before.
 * - A full pipe whose descriptor is non-blocking (EAGAIN) is waited for, as pino's sonic-boom
 *   does, so lines are never dropped for a slow reader.
 *
 * A descriptor that fails otherwise (EPIPE: the reader is gone; EBADF) drops the turn's lines
 * instead of throwing out of a setImmediate, which would end the process and every session with
 * it: file service goes on without its log. The first such failure is said once on stderr.
 */
import { writeSync } from 'node:fs';

/** Bytes a pipe writes atomically (Linux's PIPE_BUF). */
export const PIPE_BUF = 4096;

/** Pending lines beyond this many UTF-16 units are written at once, not at the turn's end. */
const MAX_PENDING = 1 << 20;

/** How long a write to a full non-blocking pipe waits before it tries again. */
const FULL_PIPE_WAIT_MS = 10;

type Write = (fd: number, data: Buffer, offset: number, length: number) => number;

export class LineWriter {
  private pending: string[] = [];
  private units = 0;
  private scheduled = false;
  private failed = false;

  /** `write` is fs.writeSync's buffer form; tests pass one that fails or writes short. */
  constructor(
    private readonly fd: number,
    private readonly writeFn: Write = writeSync,
  ) {}

  /** Queues one line (pino passes each with its newline); it is written at the turn's end. */
  write(line: string): void {
    this.pending.push(line);
    this.units += line.length;
    if (this.units >= MAX_PENDING) this.flushSync();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushScheduled);
    }
  }

  private readonly flushScheduled = (): void => {
    this.scheduled = false;
    this.flushSync();
  };

  /** Writes every pending line now (pino's logger.flush, the exit handler). */
  flushSync(): void {
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
