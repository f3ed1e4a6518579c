/**
 * Whether a transfer continues from its part file (SPEC §6): the part's length N, the server's
 * checksum of the first N bytes and the local checksum of the same N bytes. Equal: continue at N.
 * Different, or a part longer than the source: start over, and say so. OpenSSH's reget/reput
 * continue blindly instead; with --no-verify Coffer does too (there is no server checksum).
 */
import type { StreamHash } from './hash-thread.js';

/** What to do with an existing part file. */
export type ResumePlan =
  | { kind: 'fresh' }
  | { kind: 'resume'; offset: number; hash: StreamHash | null; checked: boolean }
  | { kind: 'restart'; reason: string };

/** The facts a plan needs; the two prefix hashes are computed only when they matter. */
export interface ResumeInputs {
  /** Length of the part file, null when there is none. */
  partSize: number | null;
  /** Length of the source file (remote for get, local for put). */
  sourceSize: number;
  verify: boolean;
  /** The local hash of the part's length (local part for get, local source for put). */
  localPrefix(length: number): Promise<StreamHash>;
  /** The server's digest of the same length. */
  remotePrefix(length: number): Promise<Buffer>;
}

/** Decides between a fresh start, a resume at the part's length, and a restart. */
export async function planResume(i: ResumeInputs): Promise<ResumePlan> {
  const n = i.partSize;
  if (n === null || n === 0) return { kind: 'fresh' };
  if (n > i.sourceSize) return { kind: 'restart', reason: `the part file (${n} bytes) is longer than the source (${i.sourceSize} bytes)` };
  if (!i.verify) return { kind: 'resume', offset: n, hash: null, checked: false };
  const [local, remote] = await Promise.all([i.localPrefix(n), i.remotePrefix(n).catch((err: Error) => err)]);
  // exec sha256sum cannot hash a prefix without a shell pipeline: unverifiable, so start over.
  if (remote instanceof Error) return { kind: 'restart', reason: `the server cannot checksum the first ${n} bytes (${remote.message.split(';')[0]})` };
  if ((await local.peek()).equals(remote)) return { kind: 'resume', offset: n, hash: local, checked: true };
  return { kind: 'restart', reason: `the first ${n} bytes of the part file differ from the source` };
}

/** The line printed for a plan, or null for a fresh start. */
export function planMessage(name: string, plan: ResumePlan): string | null {
  if (plan.kind === 'resume') return `Resuming ${name} at ${plan.offset} bytes${plan.checked ? '' : ' (not checked: --no-verify)'}`;
  if (plan.kind === 'restart') return `${name}: ${plan.reason}; starting over`;
  return null;
}

/** The part file's name beside a target (`NAME.coffer-part`). */
export function partName(target: string): string {
  return `${target}.coffer-part`;
}
