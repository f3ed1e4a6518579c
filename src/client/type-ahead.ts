/**
 * Type-ahead for the interactive shell, as a terminal gives it to OpenSSH's sftp: libedit reads a
 * line and stops there, so what is typed while the command runs waits in the terminal and is read
 * at the next prompt, in order, with the cursor at its end (TAB then completes it). Node's
 * readline reads the terminal all the time: keys typed during a command were edited into the next
 * line at once, the next prompt put the cursor back at its start, and a TAB's completion, landing
 * after that, was inserted there (`rget_dir/cd completion_ta`). TypeAhead stands between the
 * terminal and readline and passes one line at a time; it keeps reading meanwhile only to see
 * Ctrl-C, which stops the running command and, as a terminal's interrupt does, drops what was
 * typed ahead of it.
 */
import { Readable } from 'node:stream';

const CTRL_C = 0x03;

/** The terminal side TypeAhead reads (process.stdin on a terminal). */
export interface TerminalInput extends NodeJS.EventEmitter {
  pause(): unknown;
  resume(): unknown;
  isRaw?: boolean;
  setRawMode?(mode: boolean): unknown;
}

/**
 * Where the first line of `chunk` ends (just past CR, LF or CR LF: Enter in raw mode, a pasted
 * newline), or -1 when it holds no line end.
 */
function lineEnd(chunk: Buffer): number {
  for (let i = 0; i < chunk.length; i++) {
    if (chunk[i] === 0x0a) return i + 1;
    if (chunk[i] === 0x0d) return chunk[i + 1] === 0x0a ? i + 2 : i + 1;
  }
  return -1;
}

/** A readline input that lets one line through per release(). */
export class TypeAhead extends Readable {
  private readonly held: Buffer[] = [];
  private open = true;
  private ended = false;
  private readonly onData = (chunk: Buffer) => this.arrive(chunk);
  private readonly onEnd = () => {
    this.ended = true;
    this.flush();
  };

  /** Reads `source` from now on; `interrupt` runs for a Ctrl-C typed while a line is being run. */
  constructor(
    private readonly source: TerminalInput,
    private readonly interrupt: () => void,
  ) {
    super();
    source.on('data', this.onData);
    source.on('end', this.onEnd);
    source.resume();
  }

  // readline sets the terminal's mode through its input: this one's is the terminal's.
  get isTTY(): boolean {
    return true;
  }
  get isRaw(): boolean {
    return Boolean(this.source.isRaw);
  }
  setRawMode(mode: boolean): this {
    this.source.setRawMode?.(mode);
    return this;
  }

  /** The shell is at its prompt again: pass what was typed ahead, up to and including its next line end. */
  release(): void {
    this.open = true;
    this.flush();
  }

  /** Stops reading the terminal (the shell has ended), so the process can exit. */
  detach(): void {
    this.source.off('data', this.onData);
    this.source.off('end', this.onEnd);
    this.source.pause();
  }

  override _read(): void {
    // Pushed as the terminal delivers; readline's pause() holds the rest in this stream's buffer.
  }

  private arrive(chunk: Buffer): void {
    this.held.push(chunk);
    this.flush();
    if (!this.open) this.dropBeforeInterrupt();
  }

  // Ctrl-C while a line runs: the command is stopped and the type-ahead before it dropped (a
  // terminal flushes its input on an interrupt); what follows it stays.
  private dropBeforeInterrupt(): void {
    for (let i = this.held.length - 1; i >= 0; i--) {
      const at = this.held[i]!.lastIndexOf(CTRL_C);
      if (at < 0) continue;
      const rest = this.held[i]!.subarray(at + 1);
      this.held.splice(0, i + 1, ...(rest.length > 0 ? [rest] : []));
      this.interrupt();
      return;
    }
  }

  private flush(): void {
    while (this.open && this.held.length > 0) {
      const chunk = this.held.shift()!;
      const end = lineEnd(chunk);
      if (end < 0) {
        this.push(chunk);
        continue;
      }
      // One line for readline; the rest waits until the shell prompts again.
      if (end < chunk.length) this.held.unshift(chunk.subarray(end));
      this.open = false;
      this.push(chunk.subarray(0, end));
    }
    if (this.open && this.ended && this.held.length === 0) this.push(null);
  }
}
