/**
 * Public key checks (security catalog §3.1, §3.3). ssh2 hands over the key, and for a signed
 * request the signature and the signed data, but verifies nothing: this module does.
 */
import { timingSafeEqual } from 'node:crypto';
import ssh2 from 'ssh2';
import type { PublicKeyAuthContext } from 'ssh2';
import type { StoredKey } from '../users/user-store.js';

/** 'accept' = signed by a stored key; 'pk-ok' = a query for a stored key; anything else = why not. */
export type KeyCheck = 'accept' | 'pk-ok' | 'key not authorised' | 'bad signature' | 'sha1 rsa signature';

/** Checks a publickey request against the user's stored keys (empty for unknown or disabled users). */
export function verifyPublicKey(ctx: PublicKeyAuthContext, keys: readonly StoredKey[]): KeyCheck {
  // ssh2 reports rsa-sha2-256/512 as algo ssh-rsa with hashAlgo sha256/sha512; no hashAlgo means
  // the legacy SHA-1 `ssh-rsa` signature, which we refuse (even as a query, so the client moves on).
  if (ctx.key.algo === 'ssh-rsa' && !ctx.hashAlgo) return 'sha1 rsa signature';
  const stored = keys.find((k) => k.algorithm === ctx.key.algo && sameBytes(Buffer.from(k.blob, 'base64'), ctx.key.data));
  if (!stored) return 'key not authorised';
  // A query without signature only earns PK_OK (ssh2's accept() sends that), never a login.
  if (!ctx.signature) return 'pk-ok';
  if (!ctx.blob) return 'bad signature';
  const key = ssh2.utils.parseKey(`${stored.algorithm} ${stored.blob}`);
  if (key instanceof Error || Array.isArray(key)) return 'bad signature';
  // verify() returns true, false or an Error (truthy): only `true` counts.
  return key.verify(ctx.blob, ctx.signature, ctx.hashAlgo as string) === true ? 'accept' : 'bad signature';
}

/** Constant-time comparison that tolerates different lengths. */
function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
