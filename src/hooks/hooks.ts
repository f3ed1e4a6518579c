/**
 * Event hooks (SPEC §8): turns the server's events into the hook event JSON and hands one
 * delivery per matching hook to the bounded queue, where it waits for a quiet moment (at most 2 s:
 * hook-queue.ts) and then runs in the hook runner process. observe() builds a small object and returns:
 * it never waits for a hook and never throws, so hooks cannot delay or fail a user's operation.
 * Deliveries that do not fit the queue are logged `hook.dropped`; failures `hook.failed` with the
 * reason (a post hook is named by its URL's origin and path: never its secret or credentials).
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { FileEvent, Observer, ServerEvent, SessionInfo, TransferOutcome } from '../events/events.js';
import type { Logger } from '../util/logger.js';
import { isRunHook, type HookEventName, type HookSpec } from './hook-config.js';
import { HookQueue, type QuietGate } from './hook-queue.js';
import { HookRunner } from './hook-runner.js';

/** The JSON a hook receives: every key present, null where it does not apply. */
export interface HookEvent {
  event: HookEventName;
  /** ISO 8601, UTC. */
  time: string;
  user: string;
  /** As the user sees it ("/a/b"). */
  path: string | null;
  /** rename: the new path. */
  target: string | null;
  /** The file on the host (path inside the user's home). */
  localPath: string | null;
  /** rename: the new path on the host. */
  localTarget: string | null;
  /** upload, download: bytes moved. */
  bytes: number | null;
  /** upload, download: ok, interrupted, quota-exceeded (or error: a disk error). */
  outcome: TransferOutcome | null;
  /** sftp or scp; null for login and logout. */
  protocol: 'sftp' | 'scp' | null;
  address: string;
  /** This machine's host name (os.hostname()). */
  node: string;
}

/** How hooks run. */
export interface HooksOptions {
  log: Logger;
  timeoutSeconds: number;
  /** First retry delay of post hooks (default 1000 ms). */
  retryBaseMs?: number;
  /** Counted in metrics. */
  onDropped?: () => void;
  onFailed?: (kind: 'run' | 'post') => void;
  onDelivered?: (kind: 'run' | 'post') => void;
  /** Runs at once and waiting deliveries (defaults 8 and 1000, SPEC §8). */
  concurrency?: number;
  capacity?: number;
  /** When waiting deliveries start (hook-queue.ts; default DEFAULT_GATE: after 200 ms of quiet, 2 s at most). */
  gate?: QuietGate;
}

/** The hooks of one server process. */
export class Hooks implements Observer {
  private readonly queue: HookQueue;
  private readonly node = hostname();
  private readonly byEvent = new Map<HookEventName, HookSpec[]>();
  private closed = false;
  /** Delivers the hooks from a process of its own. */
  private readonly runner = new HookRunner();

  constructor(
    hooks: HookSpec[],
    private readonly opts: HooksOptions,
  ) {
    this.queue = new HookQueue(opts.concurrency ?? 8, opts.capacity ?? 1000, opts.gate);
    for (const hook of hooks) for (const name of hook.on) this.byEvent.set(name, [...(this.byEvent.get(name) ?? []), hook]);
    if (hooks.length > 0) this.runner.start();
  }

  /** Deliveries waiting to run. */
  get depth(): number {
    return this.queue.depth;
  }

  observe(e: ServerEvent): void {
    this.queue.touch(); // any event is activity: deliveries wait for a quiet moment
    const event = toHookEvent(e, this.node);
    if (event === null) return;
    const hooks = this.byEvent.get(event.event);
    if (!hooks) return;
    const body = JSON.stringify(event);
    for (const hook of hooks) {
      if (!this.queue.push((signal) => this.deliver(hook, event, body, signal))) {
        const reason = this.closed ? 'shutdown' : 'queue full';
        this.opts.log.warn({ event: 'hook.dropped', hook: describe(hook), hookEvent: event.event, reason, waiting: this.queue.depth }, `hook event dropped: ${reason}`);
        this.opts.onDropped?.();
      }
    }
  }

  private async deliver(hook: HookSpec, event: HookEvent, body: string, signal: AbortSignal): Promise<void> {
    const timeoutMs = this.opts.timeoutSeconds * 1000;
    const reason = isRunHook(hook)
      ? await this.runner.run(hook.run, body, hookEnv(event), timeoutMs, signal)
      : await this.runner.post(body, { url: hook.post, secret: hook.secret, timeoutMs, retryBaseMs: this.opts.retryBaseMs ?? 1000 }, signal);
    if (reason === null) return this.opts.onDelivered?.(isRunHook(hook) ? 'run' : 'post');
    this.opts.log.warn({ event: 'hook.failed', hook: describe(hook), hookEvent: event.event, reason }, `hook failed: ${reason}`);
    this.opts.onFailed?.(isRunHook(hook) ? 'run' : 'post');
  }

  /** At shutdown: drops what waits, gives running hooks `graceMs`, then kills or abandons them. */
  async close(graceMs = 5000): Promise<void> {
    this.closed = true;
    const dropped = await this.queue.close(graceMs);
    this.runner.close();
    if (dropped > 0) {
      this.opts.log.warn({ event: 'hook.dropped', count: dropped, reason: 'shutdown' }, `${dropped} waiting hook events dropped at shutdown`);
      for (let i = 0; i < dropped; i++) this.opts.onDropped?.();
    }
  }
}

/** PATH and the event variables: nothing else of the server's environment. */
export function hookEnv(e: HookEvent): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    COFFER_EVENT: e.event,
    COFFER_USER: e.user,
    COFFER_PATH: e.path ?? '',
    COFFER_LOCAL_PATH: e.localPath ?? '',
  };
}

/** How a hook is named in log lines: the program, or the URL without credentials or query. */
function describe(hook: HookSpec): string {
  if (isRunHook(hook)) return hook.run[0]!;
  const url = new URL(hook.post);
  return `${url.origin}${url.pathname}`;
}

/** The hook event for a server event, or null when no hook event corresponds. */
export function toHookEvent(e: ServerEvent, node: string): HookEvent | null {
  if (e.event === 'login' || e.event === 'logout') return base(e.event, e.user, e.address, null, node);
  if (e.event !== 'file') return null;
  return fileEvent(e.session, e.file, node);
}

function fileEvent(s: SessionInfo, f: FileEvent, node: string): HookEvent | null {
  const local = (p: string) => join(s.home, p);
  switch (f.event) {
    case 'file-close': {
      if (f.transfer === null) return null;
      return { ...base(f.transfer, s.user, s.address, s.protocol, node), path: f.path, localPath: local(f.path), bytes: f.bytes, outcome: f.outcome };
    }
    case 'remove':
    case 'mkdir':
    case 'rmdir':
      return { ...base(f.event, s.user, s.address, s.protocol, node), path: f.path, localPath: local(f.path) };
    case 'rename':
      return { ...base('rename', s.user, s.address, s.protocol, node), path: f.path, localPath: local(f.path), target: f.target, localTarget: local(f.target) };
    case 'quota-refused': {
      const path = f.path ?? null;
      return { ...base('quota-refused', s.user, s.address, s.protocol, node), path, localPath: path === null ? null : local(path), outcome: 'quota-exceeded' };
    }
    default:
      return null;
  }
}

function base(event: HookEventName, user: string, address: string, protocol: 'sftp' | 'scp' | null, node: string): HookEvent {
  return { event, time: new Date().toISOString(), user, path: null, target: null, localPath: null, localTarget: null, bytes: null, outcome: null, protocol, address, node };
}
