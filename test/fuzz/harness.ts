/**
 * Runs one fuzzed session against the real SftpSession in-process (no SSH): a fresh sandbox, a
 * UserQuota near the home's usage, a LocalVfs, the session on a FuzzChannel; the steps are sent
 * batch by batch (handles resolved from earlier replies), each batch cut into chunks, and the
 * replies awaited. Then the session is ended (EOF or a dropped channel) and every invariant is
 * checked: no uncaught exception or unhandled rejection, one reply per request id, well-formed
 * replies without host paths or canary text, canaries untouched and nothing created outside the
 * home, no descriptor left open, no internal error logged, and the quota ledger equal to the disk.
 * The pieces (startEngine, playEngine, checkSandbox, checkLimits, triage) are shared with the
 * two-process mode, pair.ts.
 */
import fc from 'fast-check';
import { pino } from 'pino';
import { UserQuota } from '../../src/quota/user-quota.js';
import type { SftpIdRequest } from '../../src/sftp/request-types.js';
import { serveSftp, type SftpSession } from '../../src/sftp/sftp-session.js';
import { LocalVfs } from '../../src/vfs/local-vfs.js';
import { countUsage } from '../../src/vfs/usage-scan.js';
import { sequenceArb, type Sequence } from './arbitraries.js';
import { FuzzChannel } from './channel.js';
import { checkLeaks, checkReplies, type Sent } from './checks.js';
import { encodeInit, encodeStep, type EncodeContext } from './encode.js';
import { KNOWN_FINDINGS, type FindingContext } from './known-findings.js';
import { StreamModel } from './model.js';
import { fingerprint, fingerprintDiff, makeWorld, openFdsUnder, type World } from './world.js';

/** Knobs of a run. */
export interface RunOptions {
  /** How long a batch's replies, or the session's end, may take before it counts as a hang. */
  timeoutMs: number;
  /** Fail on known findings too (by default they are counted in stats.known, not failed on). */
  strict?: boolean;
}

export { KNOWN_FINDINGS } from './known-findings.js';

/** Counters across every session run in this process (for progress lines and coverage asserts). */
export const stats = {
  sequences: 0,
  requests: 0,
  replies: 0,
  fatalSessions: 0,
  /** Occurrences of each known finding (see KNOWN_FINDINGS). */
  known: new Map<string, number>(),
  /** `${request kind} -> ${reply kind or status code}` counts. */
  outcomes: new Map<string, number>(),
  /** Reply kinds and status codes seen. */
  replyKinds: new Map<string, number>(),
  warnings: [] as string[],
};

const bump = (m: Map<string, number>, k: string): void => void m.set(k, (m.get(k) ?? 0) + 1);

// ---- uncaught errors ----

const crashes: string[] = [];
let trapInstalled = false;

/** Records uncaught exceptions and unhandled rejections (the running session reports them). */
export function installCrashTrap(): void {
  if (trapInstalled) return;
  trapInstalled = true;
  process.on('uncaughtException', (err) => crashes.push(`uncaught exception: ${(err as Error)?.stack ?? String(err)}`));
  process.on('unhandledRejection', (err) => crashes.push(`unhandled rejection: ${(err as Error)?.stack ?? String(err)}`));
  process.on('warning', (w) => {
    if (stats.warnings.length < 20) stats.warnings.push(`${w.name}: ${w.message}`);
  });
}

/** Collects the session's warn-level log lines (internal errors, protocol errors). */
export class WarnLog {
  readonly lines: Array<Record<string, unknown>> = [];
  write(chunk: string): void {
    for (const text of chunk.split('\n')) if (text) this.lines.push(JSON.parse(text) as Record<string, unknown>);
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function within<T>(p: Promise<T>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
  const done = await Promise.race([p.then(() => true), timeout]);
  clearTimeout(timer);
  return done;
}

/** The state of one session while it runs. */
export class Run {
  readonly model = new StreamModel();
  readonly sent: Sent = { expected: new Map(), versions: 0, typed: new Map(), lossy: false };
  readonly ctx: EncodeContext;
  private seen = 0;
  private readonly received = new Map<number, number>();
  private outstanding = 0;
  /** Everything the client sent that mentions the sandbox's host path (then echoes are allowed). */
  sentHostPath = false;

  constructor(
    readonly seq: Sequence,
    readonly world: World,
    readonly channel: FuzzChannel,
  ) {
    this.ctx = { handles: [], nextId: 1, home: world.home, box: world.box };
  }

  /** Takes in new replies: handles for later steps, counts per id. */
  absorb(): void {
    for (; this.seen < this.channel.replies.length; this.seen++) {
      const r = this.channel.replies[this.seen]!.reply;
      if (r === null || r.kind === 'version') continue;
      if (r.kind === 'handle') this.ctx.handles.push(Buffer.from(r.handle));
      const got = (this.received.get(r.id) ?? 0) + 1;
      this.received.set(r.id, got);
      if (got <= (this.sent.expected.get(r.id) ?? 0)) this.outstanding -= 1;
    }
  }

  /**
   * Sends steps' bytes (cut into the sequence's chunks) and records what they make the server owe.
   * A typed request is recorded only when the model saw exactly its packet (a mutated length field
   * before it can swallow or shift it).
   */
  async send(parts: ReadonlyArray<{ bytes: Buffer; typed: SftpIdRequest | null }>): Promise<void> {
    for (const part of parts) {
      const exp = this.model.feed(part.bytes);
      if (this.world.hostMarkers.some((m) => part.bytes.includes(m))) this.sentHostPath = true;
      if (exp.version) this.sent.versions += 1;
      for (const id of exp.ids) {
        this.sent.expected.set(id, (this.sent.expected.get(id) ?? 0) + 1);
        if ((this.sent.expected.get(id) ?? 0) > (this.received.get(id) ?? 0)) this.outstanding += 1;
      }
      if (part.typed && exp.ids.length === 1 && exp.ids[0] === part.typed.id && !exp.fatal) this.recordTyped(part.typed);
      stats.requests += exp.ids.length;
    }
    const bytes = Buffer.concat(parts.map((p) => p.bytes));
    const sizes = this.seq.chunks;
    if (sizes.length === 0) return this.channel.send(bytes);
    let pos = 0;
    for (let i = 0; pos < bytes.length; i++) {
      const n = i >= 2000 ? bytes.length - pos : sizes[i % sizes.length]!;
      this.channel.send(bytes.subarray(pos, pos + n));
      pos += n;
      if (i < 16) await tick();
    }
  }

  /** Waits until every owed reply came, or the channel closed; false on timeout. */
  settle(ms: number): Promise<boolean> {
    return this.channel.until(() => {
      this.absorb();
      return this.channel.destroyed || (this.model.fatal === null && this.outstanding === 0 && this.versionsIn());
    }, ms);
  }

  private versionsIn(): boolean {
    return this.sent.versions === 0 || this.channel.replies.some((r) => r.reply?.kind === 'version');
  }

  recordTyped(req: SftpIdRequest): void {
    const list = this.sent.typed.get(req.id) ?? [];
    list.push(req);
    this.sent.typed.set(req.id, list);
  }
}

/** Drives the batches; returns problems found while doing it (hangs). */
async function drive(run: Run, opts: RunOptions): Promise<string[]> {
  const { seq, channel } = run;
  await run.send([{ bytes: encodeInit(seq.setup.init), typed: null }]);
  if (!(await run.settle(opts.timeoutMs))) return [`no VERSION within ${opts.timeoutMs} ms`];
  for (let b = 0; b < seq.batches.length; b++) {
    if (run.model.fatal !== null || channel.destroyed) break;
    await run.send(seq.batches[b]!.map((step) => encodeStep(step, run.ctx)));
    if (seq.end === 'destroy' && b === seq.batches.length - 1) break;
    if (!(await run.settle(opts.timeoutMs))) {
      return [run.model.fatal !== null ? `session still open ${opts.timeoutMs} ms after a fatal packet (${run.model.fatal})` : `batch ${b}: replies missing after ${opts.timeoutMs} ms`];
    }
  }
  return [];
}

/** Ends the session and waits until nothing of it is running any more. */
async function finish(run: Run, session: SftpSession, opts: RunOptions): Promise<string[]> {
  const { channel } = run;
  const clientDropped = run.seq.end === 'destroy' && !channel.destroyed;
  if (clientDropped) channel.destroy();
  else channel.sendEof();
  run.sent.lossy = run.model.fatal !== null || clientDropped;
  if (!(await within(session.done, opts.timeoutMs))) return [`session.done not resolved ${opts.timeoutMs} ms after the end`];
  // Requests still being served after the channel closed (their replies are dropped) must finish.
  const inflight = (): number => (session as unknown as { inflight: number }).inflight;
  const deadline = Date.now() + opts.timeoutMs;
  while (inflight() > 0 && Date.now() < deadline) await sleep(1);
  if (inflight() > 0) return [`${inflight()} requests still running ${opts.timeoutMs} ms after the session ended`];
  for (let i = 0; i < 3; i++) await tick();
  run.absorb();
  const out: string[] = [];
  if (!run.sent.lossy) {
    if (!channel.serverEnded) out.push('the session did not end its side after the client EOF');
    if (channel.exits.join() !== '0') out.push(`exit statuses [${channel.exits.join()}] (want [0])`);
  }
  if (channel.leftover > 0) out.push(`${channel.leftover} bytes of a partial reply`);
  return out;
}

/** Sandbox invariants: nothing outside the home changed, no descriptor left, no file still tracked. */
export function checkSandbox(world: World, quotas: UserQuota[]): string[] {
  const out: string[] = [];
  const diff = fingerprintDiff(world.baseline, fingerprint(world.tmp, world.home));
  if (diff.length > 0) out.push(`outside the home changed:\n    ${diff.join('\n    ')}`);
  const fds = openFdsUnder(world.tmp);
  if (fds.length > 0) out.push(`descriptors left open after the session: ${fds.join(', ')}`);
  for (const quota of quotas) if (quota.openFiles > 0) out.push(`${quota.openFiles} files still tracked as open`);
  return out;
}

/** The home's usage against the limits (bytes: `limit`; entries: `maxFiles`, null = none). */
export function checkLimits(count: { bytes: number; entries: number }, limit: number, maxFiles: number | null): string[] {
  const out: string[] = [];
  if (count.bytes > limit) out.push(`disk usage ${count.bytes} is over the quota ${limit}`);
  if (maxFiles !== null && count.entries > maxFiles) out.push(`${count.entries} entries are over the limit ${maxFiles}`);
  return out;
}

/** Disk-side invariants of one standalone session: the sandbox, and the ledger equal to the disk. */
async function checkDisk(world: World, quota: UserQuota, limit: number): Promise<string[]> {
  const out = checkSandbox(world, [quota]);
  const count = await countUsage(world.home);
  if (quota.used !== count.bytes) out.push(`ledger ${quota.used} != disk ${count.bytes}`);
  if (quota.usedFiles !== count.entries) out.push(`ledger ${quota.usedFiles} entries != disk ${count.entries}`);
  out.push(...checkLimits(count, limit, quota.maxFiles));
  return out;
}

function record(run: Run, session: { fatal: boolean }): void {
  stats.sequences += 1;
  if (session.fatal) stats.fatalSessions += 1;
  for (const r of run.channel.replies) {
    if (!r.reply) continue;
    stats.replies += 1;
    const label = r.reply.kind === 'status' ? `status ${r.reply.code}` : r.reply.kind;
    bump(stats.replyKinds, label);
    if (r.reply.kind === 'version') continue;
    const reqs = run.sent.typed.get(r.reply.id);
    if (reqs?.length === 1) bump(stats.outcomes, `${reqs[0]!.kind} -> ${label}`);
  }
}

function internalErrors(log: WarnLog, fatalExpected: boolean): string[] {
  const out: string[] = [];
  for (const l of log.lines) {
    if (l.event === 'sftp-protocol-error' && fatalExpected) continue;
    if (l.event === 'sftp-protocol-error') out.push(`session closed unexpectedly: ${String(l.err)}`);
    else out.push(`logged ${String(l.event)} (${String(l.msg)}): ${String(l.err ?? '')} op=${String(l.op ?? '')}`);
  }
  return out;
}

/** Splits violations into new ones and known findings (counted in stats.known). */
export function triage(problems: string[], ctx: FindingContext, strict: boolean): string[] {
  if (strict) return problems;
  return problems.filter((v) => {
    const known = KNOWN_FINDINGS.find((k) => k.matches(v, ctx));
    if (known) bump(stats.known, known.id);
    return !known;
  });
}

/** One engine: a session on its own channel and VFS, over `quota`, being fed `seq`. */
export interface Engine {
  run: Run;
  session: SftpSession;
  quota: UserQuota;
  warnLog: WarnLog;
}

/** Starts a session for `seq` on `world`'s home over `quota` (the sequence's own session knobs). */
export async function startEngine(seq: Sequence, world: World, quota: UserQuota): Promise<Engine> {
  const vfs = await LocalVfs.create(world.home, { symlinks: seq.setup.symlinks, quota });
  const warnLog = new WarnLog();
  const log = pino({ level: 'warn', base: {} }, warnLog);
  const channel = new FuzzChannel({ highWaterMark: seq.setup.highWaterMark, slowWrites: seq.setup.slowWrites });
  const session = serveSftp(channel, { vfs, user: 'fuzz', log, maxHandles: seq.setup.maxHandles });
  return { run: new Run(seq, world, channel), session, quota, warnLog };
}

/**
 * Plays the engine's sequence to its end and checks the session's own invariants: no hang, one
 * well-formed reply per request, no host path or canary in a reply, no internal error logged.
 */
export async function playEngine(e: Engine, opts: RunOptions): Promise<string[]> {
  const problems = await playOnly(e, opts);
  problems.push(...engineLeaks(e, e.run.sentHostPath));
  return problems;
}

/** playEngine() without the leak check (the two-process mode checks leaks once both ended). */
export async function playOnly(e: Engine, opts: RunOptions): Promise<string[]> {
  const { run, session, warnLog } = e;
  const problems = await drive(run, opts);
  problems.push(...(await finish(run, session, opts)));
  record(run, { fatal: run.model.fatal !== null });
  problems.push(...checkReplies(run.sent, run.channel.replies));
  problems.push(...internalErrors(warnLog, run.model.fatal !== null));
  return problems;
}

/**
 * No host path or canary in the engine's replies. A host path the client sent itself (`sentHost`:
 * in the two-process mode, either session of the user) may come back as a virtual name (REALPATH
 * of it, a folder or link made with it); the canary tokens are never sent, so they are always checked.
 */
export function engineLeaks(e: Engine, sentHost: boolean): string[] {
  const { run } = e;
  const markers = [...(sentHost ? [] : run.world.hostMarkers), ...run.world.canaryTokens.map((t) => Buffer.from(t))];
  return checkLeaks(run.channel.replies, markers);
}

/** Uncaught exceptions and unhandled rejections recorded since the last call. */
export async function takeCrashes(): Promise<string[]> {
  await tick();
  return crashes.splice(0);
}

/** Runs one sequence; returns every invariant violation that is not a known finding (empty = pass). */
export async function runSequence(seq: Sequence, opts: RunOptions): Promise<string[]> {
  installCrashTrap();
  const world = makeWorld(seq.setup);
  try {
    const seeded = await countUsage(world.home);
    const initial = seeded.bytes;
    const limit = initial + seq.setup.quotaSlack;
    const entrySlack = seq.setup.entrySlack;
    const quota = new UserQuota('fuzz', limit, initial, entrySlack === undefined ? null : seeded.entries + entrySlack, seeded.entries);
    const engine = await startEngine(seq, world, quota);
    const problems = await playEngine(engine, opts);
    problems.push(...(await checkDisk(world, quota, limit)));
    problems.push(...(await takeCrashes()));
    return triage(problems, { lossy: engine.run.sent.lossy, seq }, opts.strict === true);
  } finally {
    world.cleanup();
  }
}

/** Thrown by the property with every violation of the failing sequence. */
export class FuzzFailure extends Error {
  constructor(readonly violations: string[]) {
    super(`fuzz invariants violated:\n  - ${violations.join('\n  - ')}`);
  }
}

/** The fast-check property: every generated session keeps every invariant. */
export function sftpProperty(opts: RunOptions): fc.IAsyncPropertyWithHooks<[Sequence]> {
  return fc.asyncProperty(sequenceArb, async (seq) => {
    const violations = await runSequence(seq, opts);
    if (violations.length > 0) throw new FuzzFailure(violations);
  });
}
