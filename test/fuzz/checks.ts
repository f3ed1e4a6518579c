/**
 * The invariants on what came back from one fuzzed session: exactly one reply per request id
 * (fewer only when the session had to close), VERSION first and once, every reply well formed
 * with a v3 status code, the reply kind each request kind allows, and no host path or canary text
 * in any reply.
 */
import type { SftpReply } from '../../src/sftp/packets/packet.js';
import type { SftpIdRequest } from '../../src/sftp/request-types.js';
import type { ReceivedReply } from './channel.js';

/** What the client sent, as the model saw it. */
export interface Sent {
  /** Request ids owed a reply, with multiplicity. */
  expected: Map<number, number>;
  /** VERSION replies owed (0 or 1). */
  versions: number;
  /** Typed requests by id (an id may be reused). */
  typed: Map<number, SftpIdRequest[]>;
  /** Missing replies are allowed (the session closed for a fatal error, or the client hung up). */
  lossy: boolean;
}

/** Reply kinds other than STATUS each request kind may get. */
const REPLY_KIND: Partial<Record<SftpIdRequest['kind'], SftpReply['kind']>> = {
  open: 'handle',
  opendir: 'handle',
  read: 'data',
  readdir: 'name',
  stat: 'attrs',
  lstat: 'attrs',
  fstat: 'attrs',
  realpath: 'name',
  readlink: 'name',
  'expand-path': 'name',
  'home-directory': 'name',
  statvfs: 'extended-reply',
  fstatvfs: 'extended-reply',
  limits: 'extended-reply',
  'check-file-name': 'extended-reply',
  'check-file-handle': 'extended-reply',
};

const MAX_READ = 261120;

/** A clean virtual path: absolute, no '.', '..' or empty component, no trailing slash. */
function isCanonical(p: string): boolean {
  return p === '/' || (p.startsWith('/') && p.slice(1).split('/').every((c) => c !== '' && c !== '.' && c !== '..'));
}

/** READLINK answers a relative link's text as stored (no host path: checkLeaks sees to that). */
function isLinkText(req: SftpIdRequest, p: string): boolean {
  return req.kind === 'readlink' && p !== '' && !p.startsWith('/');
}

/** Problems with one reply to a request of a known kind. */
export function checkReplyKind(req: SftpIdRequest, reply: SftpReply): string[] {
  const out: string[] = [];
  const what = `${req.kind} id ${req.id}`;
  const allowed = REPLY_KIND[req.kind];
  if (reply.kind === 'status') {
    if (req.kind === 'unknown-extended' && reply.code !== 8) out.push(`${what}: unknown extension answered status ${reply.code}`);
    if (allowed !== undefined && reply.code === 0) out.push(`${what}: STATUS OK instead of ${allowed}`);
    return out;
  }
  if (reply.kind !== allowed) return [`${what}: answered ${reply.kind}`];
  if (reply.kind === 'data' && req.kind === 'read') {
    const max = Math.min(req.length, MAX_READ);
    if (reply.data.length > max) out.push(`${what}: DATA of ${reply.data.length} bytes for a READ of ${req.length}`);
    if (req.length > 0 && reply.data.length === 0) out.push(`${what}: empty DATA instead of EOF`);
  }
  if (reply.kind === 'name') {
    const n = reply.entries.length;
    if (req.kind === 'readdir') {
      if (n < 1 || n > 100) out.push(`${what}: NAME with ${n} entries`);
      for (const e of reply.entries) if (e.filename.includes('/') || e.filename === '') out.push(`${what}: listed name ${JSON.stringify(e.filename)}`);
    } else if (n !== 1) out.push(`${what}: NAME with ${n} entries`);
    else if (!isCanonical(reply.entries[0]!.filename) && !isLinkText(req, reply.entries[0]!.filename)) {
      out.push(`${what}: path ${JSON.stringify(reply.entries[0]!.filename)} is not canonical`);
    }
  }
  return out;
}

/** Counts of replies per id and the VERSION replies, plus malformed ones. */
function tally(replies: readonly ReceivedReply[], out: string[]): { byId: Map<number, SftpReply[]>; versions: number } {
  const byId = new Map<number, SftpReply[]>();
  let versions = 0;
  replies.forEach((r, i) => {
    if (r.reply === null) return void out.push(`reply ${i} does not decode: ${r.error}`);
    if (r.payload.length > 256 * 1024) out.push(`reply ${i} is ${r.payload.length} bytes (over 256 KiB)`);
    if (r.reply.kind === 'version') {
      versions += 1;
      if (i !== 0) out.push(`VERSION arrived as reply ${i}`);
      if (r.reply.version !== 3) out.push(`VERSION ${r.reply.version}`);
      return;
    }
    if (r.reply.kind === 'status' && (r.reply.code > 8 || r.reply.code < 0)) out.push(`id ${r.reply.id}: status code ${r.reply.code}`);
    const list = byId.get(r.reply.id) ?? [];
    list.push(r.reply);
    byId.set(r.reply.id, list);
  });
  return { byId, versions };
}

/** Every protocol-level problem in a session's replies. */
export function checkReplies(sent: Sent, replies: readonly ReceivedReply[]): string[] {
  const out: string[] = [];
  const { byId, versions } = tally(replies, out);
  if (versions > sent.versions || (!sent.lossy && versions < sent.versions)) out.push(`${versions} VERSION replies, ${sent.versions} owed`);
  for (const [id, list] of byId) {
    const owed = sent.expected.get(id) ?? 0;
    if (list.length > owed) out.push(`id ${id}: ${list.length} replies to ${owed} requests (${list.map((r) => r.kind).join(', ')})`);
  }
  if (!sent.lossy) {
    for (const [id, owed] of sent.expected) {
      const got = byId.get(id)?.length ?? 0;
      if (got < owed) out.push(`id ${id}: ${got} replies to ${owed} requests`);
    }
  }
  for (const [id, reqs] of sent.typed) {
    const list = byId.get(id);
    if (reqs.length === 1 && sent.expected.get(id) === 1 && list?.length === 1) out.push(...checkReplyKind(reqs[0]!, list[0]!));
  }
  return out;
}

/** Replies that carry any of `markers` (host paths, canary tokens). */
export function checkLeaks(replies: readonly ReceivedReply[], markers: readonly Buffer[]): string[] {
  const out: string[] = [];
  replies.forEach((r, i) => {
    for (const m of markers) if (r.payload.includes(m)) out.push(`reply ${i} (${r.reply?.kind ?? '?'}) contains ${JSON.stringify(m.toString())}`);
  });
  return out;
}
