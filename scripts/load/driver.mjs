// Load driver for scripts/load.mjs (issue 8 item 1): one child process (child_process.fork) that
// holds a share of the SSH/SFTP sessions and runs their workload. Not a program of its own.
//
// Messages (advanced serialization):
//   parent -> driver  { type: 'config', ... }   connect every session, then answer { type: 'ready' }
//   parent -> driver  { type: 'go', startAt, streamAt, endAt }   run until endAt (epoch ms)
//   driver -> parent  { type: 'tick', held, ops, errors }        every second
//   driver -> parent  { type: 'result', ... }                    after the load stopped and the
//                                                                  sessions were closed
// Every loop is bounded by the deadline and by a count; every SFTP request by a timeout.
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import ssh2 from 'ssh2';
import { sha256Hex } from '../lib/hash.mjs';
import { sleep } from '../lib/process.mjs';

const { Client } = ssh2;
const KiB = 1024;
const MiB = 1024 * KiB;
const FX_FAILURE = 4;
const OP_TIMEOUT_MS = 30_000;
const CHUNK = 255 * KiB; // Coffer's limits@openssh.com read/write length (261120)
const MAX_OPS_PER_SESSION = 10_000_000;

let cfg = null;
let go = null;
const sessions = [];
const eld = monitorEventLoopDelay({ resolution: 10 });
const lag = (ns) => Math.max(0, ns / 1e6 - 10);

// ---------------------------------------------------------------------------------------------
// Statistics

/** Latencies (ms) in a growable Float64Array, per operation kind and phase. */
class Samples {
  constructor() { this.a = new Float64Array(1024); this.n = 0; }
  push(v) {
    if (this.n === this.a.length) {
      const b = new Float64Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
  values() { return this.a.slice(0, this.n); }
}

const stats = {
  ops: new Map(), // `${kind}|${phase}` -> Samples (phase: 'base' before streamAt, 'stream' after)
  refusals: 0, // expected: FAILURE 'Quota exceeded'
  refusalsByOp: {},
  errors: [], // unexpected: { op, session, user, message, code, at }
  errorCount: 0,
  errorKinds: {},
  stream: { upBytes: 0, downBytes: 0, upMs: 0, downMs: 0, files: 0, aborted: 0 },
  bytesUp: 0,
  bytesDown: 0,
  opsTotal: 0,
};

function record(kind, ms, startedAtEpoch) {
  const phase = go && go.streamAt && startedAtEpoch >= go.streamAt ? 'stream' : 'base';
  const key = `${kind}|${phase}`;
  let s = stats.ops.get(key);
  if (!s) stats.ops.set(key, (s = new Samples()));
  s.push(ms);
  stats.opsTotal++;
}

function fail(session, op, err) {
  stats.errorCount++;
  const kind = `${op}: ${err?.message ?? err}${err?.code !== undefined ? ` (code ${err.code})` : ''}`;
  stats.errorKinds[kind] = (stats.errorKinds[kind] ?? 0) + 1;
  if (stats.errors.length < 50) {
    stats.errors.push({ op, session: session.id, user: session.user, message: String(err?.message ?? err), code: err?.code ?? null, at: Date.now() });
  }
}

const isQuota = (err) => err && err.code === FX_FAILURE && err.message === 'Quota exceeded';

// ---------------------------------------------------------------------------------------------
// Promises with a timeout around ssh2's callbacks

class TimeoutError extends Error {}

function call(fn, what) {
  return new Promise((resolveP, reject) => {
    const t = setTimeout(() => reject(new TimeoutError(`${what}: no answer within ${OP_TIMEOUT_MS / 1000} s`)), OP_TIMEOUT_MS);
    fn((err, ...v) => {
      clearTimeout(t);
      if (err) reject(err);
      else resolveP(v);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Sessions

class Session {
  constructor(spec) {
    Object.assign(this, spec); // id, user, kind ('mixed' | 'stream'), dir
    this.client = null;
    this.sftp = null;
    this.ready = false;
    this.closed = false;
    this.files = new Map(); // name -> { size, sha256 }
    this.counter = 0;
    this.lost = null;
  }

  connect() {
    return new Promise((resolveP, reject) => {
      const c = new Client();
      this.client = c;
      let settled = false;
      const done = (err) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) { try { c.end(); } catch { /* closed */ } reject(err); } else resolveP();
      };
      const timer = setTimeout(() => done(new Error('connect + sftp: no answer within 60 s')), 60_000);
      c.on('connect', () => c.setNoDelay(true));
      c.on('ready', () => {
        c.setNoDelay(true);
        c.sftp((err, sftp) => {
          if (err) return done(err);
          this.sftp = sftp;
          this.ready = true;
          sftp.on('close', () => this.markLost('sftp channel closed'));
          done();
        });
      });
      c.on('error', (err) => {
        if (!settled) done(err);
        else this.markLost(`connection error: ${err.message}`);
      });
      c.on('close', () => {
        this.closed = true;
        if (!settled) done(new Error('connection closed before the sftp channel opened'));
        else this.markLost('connection closed');
      });
      c.connect({
        host: cfg.host,
        port: cfg.port,
        username: this.user,
        privateKey: cfg.privateKey,
        localAddress: this.localAddress ?? undefined,
        readyTimeout: 60_000,
        keepaliveInterval: 0,
      });
    });
  }

  markLost(why) {
    if (this.ready && !this.stopping) {
      this.lost = why;
      fail(this, 'session', new Error(`lost: ${why}`));
    }
    this.ready = false;
  }

  async end() {
    this.stopping = true;
    if (!this.client || this.closed) return;
    const closed = new Promise((r) => this.client.once('close', r));
    try { this.client.end(); } catch { /* closed */ }
    await Promise.race([closed, sleep(10_000)]);
    if (!this.closed) try { this.client.destroy(); } catch { /* closed */ }
  }

  path(name) { return `${this.dir}/${name}`; }
}

// ---------------------------------------------------------------------------------------------
// Mixed workload: small uploads, downloads, STAT, READDIR, renames, removals

const pool = randomBytes(1 * MiB + 64 * KiB); // content source for small files

function pickFile(s) {
  const n = s.files.size;
  if (n === 0) return null;
  let i = randomInt(n);
  for (const name of s.files.keys()) if (i-- === 0) return name;
  return null;
}

async function timed(s, kind, fn) {
  const startedAt = Date.now();
  const t0 = performance.now();
  const r = await fn();
  record(kind, performance.now() - t0, startedAt);
  return r;
}

async function upload(s) {
  const size = randomInt(1 * KiB, 64 * KiB + 1);
  const off = randomInt(0, pool.length - size);
  const data = Buffer.from(pool.subarray(off, off + size));
  data.writeUInt32BE(s.id, 0); // unique per session and file
  data.writeUInt32BE(s.counter, 4);
  const sha256 = sha256Hex(data);
  const name = `f${s.counter++}.bin`;
  const path = s.path(name);
  const startedAt = Date.now();
  const t0 = performance.now();
  const [handle] = await call((cb) => s.sftp.open(path, 'w', cb), 'open w');
  let refused = null;
  try {
    await call((cb) => s.sftp.write(handle, data, 0, size, 0, cb), 'write');
  } catch (err) {
    if (!isQuota(err)) {
      await call((cb) => s.sftp.close(handle, cb), 'close').catch(() => {});
      throw err;
    }
    refused = err;
  }
  await call((cb) => s.sftp.close(handle, cb), 'close');
  if (refused) {
    // The refused write stored nothing: the file is empty. Remove it (not timed as an upload).
    stats.refusals++;
    stats.refusalsByOp.write = (stats.refusalsByOp.write ?? 0) + 1;
    await call((cb) => s.sftp.unlink(path, cb), 'unlink refused');
    s.nextRemove = true;
    return;
  }
  record('upload', performance.now() - t0, startedAt);
  stats.bytesUp += size;
  s.files.set(name, { size, sha256 });
}

async function download(s) {
  const name = pickFile(s);
  if (!name) return upload(s);
  const want = s.files.get(name);
  const got = await timed(s, 'download', async () => {
    const [handle] = await call((cb) => s.sftp.open(s.path(name), 'r', cb), 'open r');
    try {
      const buf = Buffer.alloc(want.size + 1);
      let pos = 0;
      for (let i = 0; i < 8 && pos <= want.size; i++) {
        const [nb] = await call((cb) => s.sftp.read(handle, buf, pos, buf.length - pos, pos, cb), 'read');
        if (!nb) break;
        pos += nb;
      }
      return buf.subarray(0, pos);
    } finally {
      await call((cb) => s.sftp.close(handle, cb), 'close');
    }
  });
  stats.bytesDown += got.length;
  const h = sha256Hex(got);
  if (got.length !== want.size || h !== want.sha256) {
    throw new Error(`download ${s.user}:${s.path(name)}: ${got.length} bytes sha256 ${h.slice(0, 16)}, expected ${want.size} bytes ${want.sha256.slice(0, 16)}`);
  }
}

async function stat(s) {
  const name = pickFile(s);
  const [attrs] = await timed(s, 'stat', () => call((cb) => s.sftp.stat(name ? s.path(name) : s.dir, cb), 'stat'));
  if (name && attrs.size !== s.files.get(name).size) {
    throw new Error(`stat ${s.user}:${s.path(name)}: size ${attrs.size}, expected ${s.files.get(name).size}`);
  }
}

async function readdir(s) {
  const listRoot = randomInt(4) === 0; // sometimes the user's home (the other sessions' folders)
  const [list] = await timed(s, 'readdir', () => call((cb) => s.sftp.readdir(listRoot ? '/' : s.dir, cb), 'readdir'));
  if (listRoot) {
    if (!list.some((e) => `/${e.filename}` === s.dir)) throw new Error(`readdir ${s.user}:/ does not list ${s.dir}`);
    return;
  }
  const names = list.map((e) => e.filename).sort();
  const want = [...s.files.keys()].sort();
  if (names.join('/') !== want.join('/')) {
    throw new Error(`readdir ${s.user}:${s.dir}: [${names.join(' ')}], expected [${want.join(' ')}]`);
  }
}

async function rename(s) {
  const name = pickFile(s);
  if (!name) return upload(s);
  const entry = s.files.get(name);
  const other = s.files.size > 1 && randomInt(3) === 0 ? pickFile(s) : null;
  if (other && other !== name) {
    // posix-rename over one of our own files: the target's size is given back to the quota.
    await timed(s, 'rename-over', () => call((cb) => s.sftp.ext_openssh_rename(s.path(name), s.path(other), cb), 'posix-rename'));
    s.files.delete(name);
    s.files.set(other, entry);
    return;
  }
  const to = `r${s.counter++}.bin`;
  await timed(s, 'rename', () => call((cb) => s.sftp.rename(s.path(name), s.path(to), cb), 'rename'));
  s.files.delete(name);
  s.files.set(to, entry);
}

async function remove(s) {
  const name = pickFile(s);
  if (!name) return;
  await timed(s, 'remove', () => call((cb) => s.sftp.unlink(s.path(name), cb), 'remove'));
  s.files.delete(name);
}

const MIX = [
  ['stat', 30, stat],
  ['upload', 24, upload],
  ['download', 14, download],
  ['readdir', 10, readdir],
  ['rename', 10, rename],
  ['remove', 12, remove],
];
const MIX_TOTAL = MIX.reduce((a, m) => a + m[1], 0);

function pickOp(s) {
  if (s.nextRemove) { s.nextRemove = false; return MIX.find((m) => m[0] === 'remove'); }
  let r = randomInt(MIX_TOTAL);
  for (const m of MIX) {
    if ((r -= m[1]) < 0) {
      if (m[0] === 'upload' && s.files.size >= cfg.filesPerSession) return MIX.find((x) => x[0] === 'remove');
      return m;
    }
  }
  return MIX[0];
}

async function runMixed(s) {
  for (let i = 0; i < MAX_OPS_PER_SESSION && Date.now() < go.endAt && s.ready; i++) {
    const [op, , fn] = pickOp(s);
    try {
      await fn(s);
    } catch (err) {
      fail(s, op, err);
      if (err instanceof TimeoutError) { s.markLost('request timed out'); break; }
      // Resynchronise our view with the server after a failed operation (bounded: one listing).
      await resync(s);
    }
    if (cfg.thinkMs > 0) await sleep(randomInt(cfg.thinkMs + 1));
  }
}

/** After an unexpected failure, take the server's listing (and sizes) as the truth for this folder. */
async function resync(s) {
  try {
    const [list] = await call((cb) => s.sftp.readdir(s.dir, cb), 'readdir (resync)');
    const present = new Set(list.map((e) => e.filename));
    for (const name of [...s.files.keys()]) if (!present.has(name)) s.files.delete(name);
    for (const e of list) {
      const known = s.files.get(e.filename);
      if (!known || known.size !== e.attrs.size) s.files.set(e.filename, { size: e.attrs.size, sha256: null }); // unknown content
    }
  } catch { /* the session is probably gone; runMixed stops on !ready */ }
}

// ---------------------------------------------------------------------------------------------
// Streamers: large uploads and downloads, pipelined, in a loop

let streamBase = null;

function streamHeader(s, k) {
  const h = Buffer.alloc(32);
  h.write(`coffer-load ${s.id} ${k} `, 0, 'latin1');
  return h;
}

/**
 * Sends requests for [0, size) in CHUNK pieces, at most cfg.streamDepth in flight, in order of
 * offset, until all are answered, one fails or times out, or the deadline stops new ones.
 * issue(at, len, done) sends one and calls done(err) with its answer. Resolves { error, aborted }.
 */
function pipelined(size, what, issue) {
  let pos = 0;
  let inflight = 0;
  let error = null;
  let aborted = false;
  return new Promise((resolveP) => {
    const finish = () => resolveP({ error, aborted });
    const pump = () => {
      while (!error && inflight < cfg.streamDepth && pos < size) {
        if (Date.now() >= go.endAt) { aborted = true; break; }
        const len = Math.min(CHUNK, size - pos);
        const at = pos;
        pos += len;
        inflight++;
        const t = setTimeout(() => { error ??= new TimeoutError(`${what}: no answer within 30 s`); finish(); }, OP_TIMEOUT_MS);
        issue(at, len, (err) => {
          clearTimeout(t);
          inflight--;
          if (err) error ??= err;
          if (inflight === 0 && (error || aborted || pos >= size)) finish();
          else pump();
        });
      }
      if (inflight === 0) finish();
    };
    pump();
  });
}

/** The streamed file's bytes at [at, at + len): streamBase, with the file's header at 0. */
function streamBytes(header, at, len) {
  const b = streamBase.subarray(at, at + len);
  return at === 0 ? Buffer.concat([header, b.subarray(header.length)]) : b;
}

/**
 * Opens path with flags and runs pipelined() requests on the handle (issue(handle, at, len, done));
 * closes it unless a request timed out (the session is then given up). Adds the time to
 * stats.stream[msKey]; throws the first error; resolves with whether the deadline cut it short.
 */
async function streamFile(s, path, flags, what, msKey, issue) {
  const [handle] = await call((cb) => s.sftp.open(path, flags, cb), `open ${flags} (stream)`);
  const t0 = performance.now();
  let r = { error: null, aborted: false };
  try {
    r = await pipelined(cfg.streamBytes, `${what} (stream)`, (at, len, done) => issue(handle, at, len, done));
  } finally {
    if (!(r.error instanceof TimeoutError)) await call((cb) => s.sftp.close(handle, cb), 'close (stream)').catch((e) => { r.error ??= e; });
  }
  stats.stream[msKey] += performance.now() - t0;
  if (r.error) throw r.error;
  return r.aborted;
}

async function streamUpload(s, path, header) {
  const hash = createHash('sha256');
  const aborted = await streamFile(s, path, 'w', 'write', 'upMs', (handle, at, len, done) => {
    const chunk = streamBytes(header, at, len);
    hash.update(chunk);
    s.sftp.write(handle, chunk, 0, len, at, (err) => {
      if (!err) stats.stream.upBytes += len;
      done(err);
    });
  });
  return { aborted, sha256: hash.digest('hex'), size: cfg.streamBytes };
}

async function streamDownload(s, path, header) {
  let mismatch = null;
  const bufs = [];
  const aborted = await streamFile(s, path, 'r', 'read', 'downMs', (handle, at, len, done) => {
    const buf = bufs.pop() ?? Buffer.allocUnsafe(CHUNK);
    s.sftp.read(handle, buf, 0, len, at, (err, nb) => {
      if (!err) {
        stats.stream.downBytes += nb;
        if (nb !== len || buf.compare(streamBytes(header, at, len), 0, len, 0, nb) !== 0) mismatch ??= `bytes ${at}-${at + len}: got ${nb} bytes${nb === len ? ' with different content' : ''}`;
      }
      bufs.push(buf);
      done(err);
    });
  });
  if (mismatch) throw new Error(`download ${s.user}:${path} differs from what was written: ${mismatch}`);
  return { aborted };
}

async function runStreamer(s) {
  if (go.streamAt) await sleep(Math.max(0, go.streamAt - Date.now()));
  let prev = null;
  for (let k = 0; k < 100_000 && Date.now() < go.endAt && s.ready; k++) {
    const name = `b${k}.bin`;
    const path = s.path(name);
    const header = streamHeader(s, k);
    let op = 'stream-upload';
    try {
      const up = await streamUpload(s, path, header);
      if (up.aborted) {
        // The deadline came mid-file: remove the partial file (it is in no manifest).
        stats.stream.aborted++;
        await call((cb) => s.sftp.unlink(path, cb), 'unlink partial');
        break;
      }
      s.files.set(name, { size: up.size, sha256: up.sha256 });
      stats.stream.files++;
      if (prev) {
        op = 'stream-remove';
        await call((cb) => s.sftp.unlink(s.path(prev), cb), 'remove (stream)');
        s.files.delete(prev);
      }
      prev = name;
      op = 'stream-download';
      const down = await streamDownload(s, path, header);
      if (down.aborted) { stats.stream.aborted++; break; }
    } catch (err) {
      fail(s, op, err);
      if (err instanceof TimeoutError) { s.markLost('request timed out'); break; }
      await resync(s);
      if (s.files.has(name) && s.files.get(name).sha256 === null) s.files.delete(name); // dropped below
      prev = [...s.files.keys()][0] ?? null;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Driver lifecycle

async function connectAll() {
  const t0 = performance.now();
  let next = 0;
  const failures = [];
  const worker = async () => {
    for (let i = next++; i < sessions.length; i = next++) {
      const s = sessions[i];
      try {
        await s.connect();
        await call((cb) => s.sftp.mkdir(s.dir, cb), 'mkdir');
      } catch (err) {
        failures.push({ session: s.id, user: s.user, message: String(err?.message ?? err) });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(cfg.connectConcurrency, sessions.length) }, worker));
  return { connectMs: performance.now() - t0, failures };
}

function held() {
  let n = 0;
  for (const s of sessions) if (s.ready) n++;
  return n;
}

async function run() {
  eld.enable();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const ticker = setInterval(() => process.send({ type: 'tick', at: Date.now(), held: held(), ops: stats.opsTotal, errors: stats.errorCount, refusals: stats.refusals, streamBytes: stats.stream.upBytes + stats.stream.downBytes }), 1000);
  await sleep(Math.max(0, go.startAt - Date.now()));
  const heldAtStart = held();
  await Promise.all(sessions.map((s) => (s.ready ? (s.kind === 'stream' ? runStreamer(s) : runMixed(s)) : null)));
  const heldAtEnd = held();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(ticker);
  eld.disable();
  const lost = sessions.filter((s) => s.lost).map((s) => ({ session: s.id, user: s.user, why: s.lost }));
  await Promise.all(sessions.map((s) => s.end()));
  const manifest = [];
  for (const s of sessions) for (const [name, f] of s.files) manifest.push([s.user, s.path(name), f.size, f.sha256]);
  const ops = {};
  for (const [key, smp] of stats.ops) ops[key] = smp.values();
  process.send({
    type: 'result',
    role: cfg.role,
    heldAtStart,
    heldAtEnd,
    lost,
    ops,
    refusals: stats.refusals,
    refusalsByOp: stats.refusalsByOp,
    errorCount: stats.errorCount,
    errorKinds: stats.errorKinds,
    errors: stats.errors,
    stream: stats.stream,
    bytesUp: stats.bytesUp,
    bytesDown: stats.bytesDown,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    wallSeconds: wallMs / 1000,
    // The histogram counts the 10 ms sampling interval in every value: take it out.
    loopDelayMs: { p50: lag(eld.percentile(50)), p99: lag(eld.percentile(99)), max: lag(eld.max) },
    manifest,
  });
}

process.on('message', (m) => {
  if (m.type === 'config') {
    cfg = { ...m, privateKey: readFileSync(m.keyFile) };
    for (const spec of m.sessions) sessions.push(new Session(spec));
    if (sessions.some((s) => s.kind === 'stream')) {
      streamBase = randomBytes(cfg.streamBytes);
    }
    connectAll().then((r) => process.send({ type: 'ready', held: held(), ...r }));
  } else if (m.type === 'go') {
    go = m;
    run().catch((err) => {
      process.send({ type: 'fatal', message: String(err?.stack ?? err) });
    });
  } else if (m.type === 'exit') {
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
