/**
 * A pino destination that keeps every log line (parsed) in memory, so tests can assert on events
 * and wait for them.
 */
import { waitFor } from './wait.js';

/** One parsed log line. */
export type LogLine = Record<string, unknown> & { event?: string; level: number; msg?: string };

/** Collects pino JSON lines. */
export class LogCapture {
  readonly lines: LogLine[] = [];
  readonly raw: string[] = [];

  constructor(private readonly echo = false) {}

  /** pino's destination interface. */
  write(chunk: string): void {
    for (const text of chunk.split('\n')) {
      if (!text) continue;
      this.raw.push(text);
      this.lines.push(JSON.parse(text) as LogLine);
      if (this.echo) process.stderr.write(text + '\n');
    }
  }

  /** Lines with this event (and whose fields match `fields`, if given). */
  events(event: string, fields: Record<string, unknown> = {}): LogLine[] {
    return this.lines.filter((l) => l.event === event && Object.entries(fields).every(([k, v]) => l[k] === v));
  }

  /** Waits until a line with this event (and fields) exists; returns the first one. */
  async waitFor(event: string, fields: Record<string, unknown> = {}, timeoutMs = 5000): Promise<LogLine> {
    await waitFor(() => this.events(event, fields).length > 0, timeoutMs, `log event ${event} ${JSON.stringify(fields)}`);
    return this.events(event, fields)[0]!;
  }

  /** Everything logged, as text (to check that secrets never appear). */
  text(): string {
    return this.raw.join('\n');
  }
}
