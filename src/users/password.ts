/**
 * Password hashing with scrypt in PHC string format: `$scrypt$ln=17,r=8,p=1$<salt>$<hash>` (salt
 * and hash in unpadded base64). N=2^17, r=8, p=1 is OWASP's recommended scrypt level. Hashing runs
 * on libuv's thread pool (crypto.scrypt), never on the event loop, and at most two at a time:
 * the pool has four threads shared with file I/O, and each hash holds 128 MiB.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** scrypt cost parameters: N = 2^ln. */
export interface ScryptParams {
  ln: number;
  r: number;
  p: number;
}

/** OWASP Password Storage Cheat Sheet: scrypt N=2^17 (128 MiB), r=8, p=1. */
export const CURRENT_PARAMS: ScryptParams = { ln: 17, r: 8, p: 1 };

/** Passwords longer than this are refused before any hashing (OpenSSH CVE-2016-6515). */
export const MAX_PASSWORD_BYTES = 1024;

const SALT_BYTES = 16;
const HASH_BYTES = 32;
const MAX_PARALLEL = 2;
/** Bounds for parameters read back from the database, so a tampered row cannot exhaust memory. */
const LIMITS = { ln: [10, 20], r: [1, 32], p: [1, 4] } as const;
const PHC_RE = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d)\$([A-Za-z0-9+/]{16,64})\$([A-Za-z0-9+/]{43})$/; // 43 unpadded base64 characters = HASH_BYTES

let running = 0;
const waiting: Array<() => void> = [];

async function limited<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= MAX_PARALLEL) await new Promise<void>((resolve) => waiting.push(resolve));
  running += 1;
  try {
    return await fn();
  } finally {
    running -= 1;
    waiting.shift()?.();
  }
}

function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const N = 2 ** params.ln;
  const opts: ScryptOptions = { N, r: params.r, p: params.p, maxmem: 256 * N * params.r + 1024 * 1024 };
  return limited(
    () => new Promise((resolve, reject) => scrypt(password, salt, HASH_BYTES, opts, (e, key) => (e ? reject(e) : resolve(key)))),
  );
}

const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '');

/** Hashes a password with a fresh random salt; returns the PHC string to store. */
export async function hashPassword(password: string, params: ScryptParams = CURRENT_PARAMS): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, params);
  return `$scrypt$ln=${params.ln},r=${params.r},p=${params.p}$${b64(salt)}$${b64(hash)}`;
}

interface ParsedHash {
  params: ScryptParams;
  salt: Buffer;
  hash: Buffer;
}

function parsePhc(phc: string): ParsedHash | null {
  const m = PHC_RE.exec(phc);
  if (!m) return null;
  const params = { ln: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  for (const key of ['ln', 'r', 'p'] as const) {
    const [lo, hi] = LIMITS[key];
    if (params[key] < lo || params[key] > hi) return null;
  }
  return { params, salt: Buffer.from(m[4]!, 'base64'), hash: Buffer.from(m[5]!, 'base64') };
}

const dummies = new Map<string, string>();

/**
 * The stand-in checked for an unknown user, once per parameter set and process: a PHC string with
 * `params`, a random salt and random bytes where the hash goes. Checking against it costs the one
 * scrypt a real hash costs (and can never count: verifyPassword refuses a null hash whatever it
 * computes). A hash of a random password cost one more scrypt to make, which the first unknown
 * user paid, or the server's start (two 128 MiB hashes before it listened).
 */
function dummyHash(params: ScryptParams): string {
  const key = `${params.ln},${params.r},${params.p}`;
  let dummy = dummies.get(key);
  if (!dummy) dummies.set(key, (dummy = `$scrypt$ln=${params.ln},r=${params.r},p=${params.p}$${b64(randomBytes(SALT_BYTES))}$${b64(randomBytes(HASH_BYTES))}`));
  return dummy;
}

/**
 * Checks a password against a stored PHC string in constant time. A null `phc` (unknown user,
 * or a user without a password) is checked against a dummy hash made with `params`, so the answer
 * takes as long as for a real user whose hash has those parameters. Malformed hashes and
 * over-long passwords are false.
 */
export async function verifyPassword(password: string, phc: string | null, params: ScryptParams = CURRENT_PARAMS): Promise<boolean> {
  const parsed = parsePhc(phc ?? dummyHash(params));
  if (!parsed) return false;
  const tooLong = Buffer.byteLength(password) > MAX_PASSWORD_BYTES;
  const actual = await derive(tooLong ? '' : password, parsed.salt, parsed.params);
  const same = actual.length === parsed.hash.length && timingSafeEqual(actual, parsed.hash);
  return same && phc !== null && !tooLong;
}

/** True when a stored hash was made with other parameters than CURRENT_PARAMS (re-hash at login). */
export function needsRehash(phc: string, params: ScryptParams = CURRENT_PARAMS): boolean {
  const parsed = parsePhc(phc);
  return !parsed || parsed.params.ln !== params.ln || parsed.params.r !== params.r || parsed.params.p !== params.p;
}

/** True when the text is a PHC string this module can verify. */
export function isPasswordHash(phc: string): boolean {
  return parsePhc(phc) !== null;
}
