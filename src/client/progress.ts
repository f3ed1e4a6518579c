/**
 * Transfer progress. On a terminal, one line redrawn with `\r` like OpenSSH's progressmeter.c:
 * `NAME  45%  230MB  120.3MB/s   00:02 ETA`, cut to the terminal width, at most 4 redraws a second,
 * `- stalled -` after 5 s without bytes, and the elapsed time in place of the ETA at the end.
 * Elsewhere (pipes, logs, CI) one summary line per file: name, size, time, rate.
 */

/** Where progress is written: a stream with optional terminal width. */
export interface ProgressStream {
  write(text: string): unknown;
  columns?: number;
  isTTY?: boolean;
}

/** One file's progress. */
export interface ProgressHandle {
  /** Bytes of the file done so far (the resume offset included). */
  update(done: number): void;
  /** All data moved; `note` replaces the ETA while the checksum is computed (TTY only). */
  dataDone(note?: string): void;
  /** The file is complete; `note` (e.g. "sha256 OK") ends the line. */
  finish(note?: string): void;
  /** The transfer stopped; the line is ended as it is. */
  fail(): void;
}

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB'];
const REDRAW_MS = 250;
const STALL_MS = 5000;

/** OpenSSH's format_size: whole numbers, scaled by 1024 while 100000 or more (`512MB`, `97656KB`). */
export function formatBytes(bytes: number): string {
  let n = bytes;
  let i = 0;
  while (n >= 100_000 && i < UNITS.length - 1) {
    n = Math.round(n / 1024);
    i++;
  }
  return `${n}${UNITS[i]}`;
}

/** A rate in bytes/s with one decimal (`120.3MB/s`). */
export function formatRate(bytesPerSecond: number): string {
  let n = bytesPerSecond;
  let i = 0;
  while (n >= 1000 && i < UNITS.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(1)}${UNITS[i]}/s`;
}

/** `MM:SS`, or `HH:MM:SS` from one hour on. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const two = (n: number) => String(n).padStart(2, '0');
  const hms = s >= 3600 ? [Math.floor(s / 3600), Math.floor(s / 60) % 60, s % 60] : [Math.floor(s / 60), s % 60];
  return hms.map(two).join(':');
}

/** What one bar line shows. */
export interface BarState {
  name: string;
  done: number;
  total: number;
  /** Smoothed bytes/s (0 = unknown). */
  rate: number;
  /** Right-hand slot: an ETA, `- stalled -`, the elapsed time, or a note. */
  tail: string;
}

/** The bar line for `width` columns: the name is cut (from its start) so the figures always fit. */
export function renderBar(s: BarState, width: number): string {
  const pct = s.total > 0 ? Math.floor((s.done / s.total) * 100) : 100;
  const right = ` ${String(pct).padStart(3)}% ${formatBytes(s.done).padStart(7)} ${formatRate(s.rate).padStart(11)} ${s.tail.padStart(13)}`;
  const room = Math.max(1, width - right.length - 1);
  const name = s.name.length > room ? '…' + s.name.slice(s.name.length - room + 1) : s.name.padEnd(room);
  return (name + right).slice(0, Math.max(0, width - 1));
}

/** The ETA slot: `MM:SS ETA`, `--:-- ETA` with no rate, `- stalled -` after 5 s without bytes. */
export function etaText(remaining: number, rate: number, sinceLastByteMs: number): string {
  if (sinceLastByteMs >= STALL_MS) return '- stalled -';
  if (rate <= 0) return '--:-- ETA';
  return `${formatDuration(remaining / rate)} ETA`;
}

/** The line printed per file without a terminal. */
export function summaryLine(name: string, bytes: number, seconds: number, movedBytes: number, note = ''): string {
  const rate = seconds > 0 ? movedBytes / seconds : 0;
  return `${name} ${formatBytes(bytes)} ${seconds.toFixed(1)}s ${formatRate(rate)}${note ? ' ' + note : ''}`;
}

/** Makes progress handles for files; `clock` is injectable for tests. */
export class Progress {
  constructor(
    private readonly stream: ProgressStream,
    private readonly tty: boolean,
    private readonly clock: () => number = () => Date.now(),
  ) {}

  /** Starts a file of `total` bytes whose first `offset` bytes were already there (resume). */
  start(name: string, total: number, offset: number): ProgressHandle {
    return this.handle(this.stream, name, total, offset, true);
  }

  /**
   * A file among several moving at once (tree.ts): nothing is drawn while it moves; its last
   * line, as start() would have ended it (the bar's final state on a terminal, the summary line
   * elsewhere), goes to `sink` when it finishes or fails, for the caller to print in order.
   */
  deferred(name: string, total: number, offset: number, sink: (text: string) => void): ProgressHandle {
    const out: ProgressStream = { write: (text: string) => void sink(text), columns: this.stream.columns, isTTY: this.stream.isTTY };
    return this.handle(out, name, total, offset, false);
  }

  private handle(stream: ProgressStream, name: string, total: number, offset: number, live: boolean): ProgressHandle {
    const file: FileInfo = { stream, clock: this.clock, name, total, offset };
    return this.tty ? new BarProgress(file, live) : new LineProgress(file);
  }

  /** Writes text to the progress stream as it is (the lines deferred() gave back, in order). */
  write(text: string): void {
    this.stream.write(text);
  }
}

/** The file a progress handle reports on, and where and by which clock. */
interface FileInfo {
  readonly stream: ProgressStream;
  readonly clock: () => number;
  readonly name: string;
  readonly total: number;
  /** Bytes already there before this transfer (a resume). */
  readonly offset: number;
}

/** What both handles keep: the file, and when the transfer started. */
abstract class FileProgress {
  protected readonly stream: ProgressStream;
  protected readonly clock: () => number;
  protected readonly name: string;
  protected readonly total: number;
  protected readonly offset: number;
  protected readonly t0: number;

  constructor(file: FileInfo) {
    ({ stream: this.stream, clock: this.clock, name: this.name, total: this.total, offset: this.offset } = file);
    this.t0 = this.clock();
  }

  /** Seconds since the start. */
  protected elapsed(): number {
    return (this.clock() - this.t0) / 1000;
  }
}

class LineProgress extends FileProgress implements ProgressHandle {
  update(): void {}
  dataDone(): void {}
  finish(note?: string): void {
    const seconds = this.elapsed();
    this.stream.write(summaryLine(this.name, this.total, seconds, this.total - this.offset, note) + '\n');
  }
  fail(): void {}
}

class BarProgress extends FileProgress implements ProgressHandle {
  private done: number;
  private lastSample: number;
  private lastSampleBytes: number;
  private lastByteAt: number;
  private rate = 0;
  private note: string | null = null;
  private readonly timer: NodeJS.Timeout | null;

  constructor(
    file: FileInfo,
    /** False: only the final line is written (finish or fail), with no `\r` redraws before it. */
    private readonly live = true,
  ) {
    super(file);
    this.done = this.offset;
    this.lastSample = this.lastByteAt = this.t0;
    this.lastSampleBytes = this.offset;
    this.timer = live ? setInterval(() => this.draw(), REDRAW_MS) : null;
    this.timer?.unref();
    if (live) this.draw();
  }

  update(done: number): void {
    if (done > this.done) this.lastByteAt = this.clock();
    this.done = done;
  }

  dataDone(note = 'verifying'): void {
    this.note = note;
    if (this.live) this.draw();
  }

  finish(note?: string): void {
    if (this.timer) clearInterval(this.timer);
    const seconds = this.elapsed();
    this.note = formatDuration(seconds) + (note ? ` ${note}` : '');
    // The final line shows the average rate, as OpenSSH's does.
    if (seconds > 0) this.rate = (this.total - this.offset) / seconds;
    this.draw(true);
    this.stream.write('\n');
  }

  fail(): void {
    if (this.timer) clearInterval(this.timer);
    this.draw(true);
    this.stream.write('\n');
  }

  // Exponential smoothing of the rate, as progressmeter.c does (new sample weighs 0.3).
  private sample(final = false): void {
    const now = this.clock();
    const dt = (now - this.lastSample) / 1000;
    if (dt <= 0 || (!final && dt < 0.2)) return;
    const instant = (this.done - this.lastSampleBytes) / dt;
    this.rate = this.rate === 0 ? instant : 0.7 * this.rate + 0.3 * instant;
    this.lastSample = now;
    this.lastSampleBytes = this.done;
  }

  private draw(keepRate = false): void {
    if (!keepRate) this.sample();
    const tail = this.note ?? etaText(this.total - this.done, this.rate, this.clock() - this.lastByteAt);
    // A terminal that reports 0 columns (a pty nobody sized) gets 80, as OpenSSH's sftp does.
    const width = this.stream.columns || 80;
    const line = renderBar({ name: this.name, done: this.done, total: this.total, rate: this.rate, tail }, width);
    this.stream.write(this.live ? '\r' + line : line);
  }
}
