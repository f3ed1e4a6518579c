/**
 * Delivers hooks through the hook runner process (hook-runner-main.ts): the server's part of a
 * delivery is one IPC message out and one back, so starting programs (a fork copies the server's
 * page tables on its event loop) and HTTP requests never run on the server's event loop. The
 * runner runs at nice +10, with PATH as its only environment (a post's secret travels in its message),
 * restarted when it dies (the deliveries it had fail with `hook runner exited`), and ended by
 * close().
 */
import { fork, type ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';

/**
 * The runner's nice level, inherited by the programs it starts: when the CPU is busy, sessions run
 * first and hooks take the time they leave (as the hash workers do, util/thread-priority.ts).
 */
export const HOOK_NICE = 10;

type Settle = (reason: string | null) => void;

/** The server's side of the runner process. */
export class HookRunner {
  private child: ChildProcess | undefined;
  private readonly pending = new Map<number, Settle>();
  private nextId = 1;

  /** Starts the runner now (it takes a moment), so the first hook does not wait for it. */
  start(): void {
    this.ensure();
  }

  /** Runs `argv` with the event on stdin; resolves null on exit status 0, else the reason. */
  run(argv: string[], stdin: string, env: Record<string, string>, timeoutMs: number, signal: AbortSignal): Promise<string | null> {
    return this.deliver({ kind: 'run', argv, stdin, env, timeoutMs }, signal);
  }

  /** Posts `body` (post-hook.ts); resolves null once answered 2xx, else the last failure's reason. */
  post(body: string, opts: { url: string; secret: string; timeoutMs: number; retryBaseMs: number }, signal: AbortSignal): Promise<string | null> {
    return this.deliver({ kind: 'post', body, ...opts }, signal);
  }

  private deliver(message: Record<string, unknown>, signal: AbortSignal): Promise<string | null> {
    return new Promise((resolve) => {
      const id = this.nextId++;
      const child = this.ensure();
      const onAbort = () => this.send(child, { kind: 'abort', id });
      this.pending.set(id, (reason) => {
        signal.removeEventListener('abort', onAbort);
        resolve(reason);
      });
      signal.addEventListener('abort', onAbort, { once: true });
      if (!this.send(child, { ...message, id })) this.settle(id, 'hook runner unavailable');
    });
  }

  /** Disconnects the runner: it kills what still runs and exits. */
  close(): void {
    const child = this.child;
    this.child = undefined;
    if (child?.connected) child.disconnect();
  }

  private ensure(): ChildProcess {
    if (this.child) return this.child;
    const child = fork(new URL('./hook-runner-main.js', import.meta.url), [], {
      env: { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin' },
      execArgv: [],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      serialization: 'json',
    });
    try {
      if (child.pid !== undefined) setPriority(child.pid, HOOK_NICE);
    } catch {
      // not permitted here: the runner keeps the server's priority
    }
    child.on('message', (m: { id: number; reason: string | null }) => this.settle(m.id, m.reason));
    child.on('error', () => {});
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
      for (const id of [...this.pending.keys()]) this.settle(id, 'hook runner exited');
    });
    // The runner must not keep the server alive, nor its channel.
    child.unref();
    (child as unknown as { channel?: { unref(): void } }).channel?.unref();
    this.child = child;
    return child;
  }

  private send(child: ChildProcess, message: object): boolean {
    try {
      return child.connected ? (child.send(message), true) : false;
    } catch {
      return false;
    }
  }

  private settle(id: number, reason: string | null): void {
    const settle = this.pending.get(id);
    if (!settle) return;
    this.pending.delete(id);
    settle(reason);
  }
}
