/**
 * Parses authorized_keys lines into the public keys Coffer stores: ed25519, ecdsa and RSA of at
 * least 2048 bits, each with the SHA256 fingerprint `ssh-keygen -lf` prints. Parsing uses sshpk
 * (>= 1.14.1, free of the ReDoS of CVE-2018-3737) on lines capped in length.
 */
import { createHash } from 'node:crypto';
import sshpk from 'sshpk';
import { InputError } from '../util/errors.js';

/** A validated public key, as stored. */
export interface PublicKey {
  /** SSH algorithm name: ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa. */
  algorithm: string;
  bits: number;
  /** The key's wire blob (RFC 4253), base64. */
  blob: string;
  /** `SHA256:<unpadded base64>`, as `ssh-keygen -lf` prints it. */
  fingerprint: string;
  comment: string;
}

export const MIN_RSA_BITS = 2048;
const MAX_LINE = 16 * 1024;
const ALLOWED = new Set(['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa']);
const KNOWN_REFUSED: Record<string, string> = {
  'ssh-dss': 'DSA keys are not accepted (insecure); use an ed25519 key',
  'sk-ssh-ed25519@openssh.com': 'security-key (FIDO) keys are not supported; use an ed25519 key',
  'sk-ecdsa-sha2-nistp256@openssh.com': 'security-key (FIDO) keys are not supported; use an ed25519 key',
};

/** SHA256 fingerprint of a key's wire blob, in OpenSSH's `SHA256:...` form. */
export function fingerprintOf(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

/**
 * Parses text in authorized_keys format (blank lines and # comments skipped) into keys. Refuses,
 * with an InputError naming the line, a private key, a malformed or unsupported key, an RSA key
 * under 2048 bits, key options, a key listed twice, and text with no key at all.
 */
export function parseAuthorizedKeys(text: string, source = 'input'): PublicKey[] {
  if (/PRIVATE KEY|PuTTY-User-Key-File/.test(text)) {
    throw new InputError(`${source} is a private key; give the public key instead (the .pub file, or 'ssh-keygen -y -f KEYFILE')`);
  }
  if (/^---- BEGIN SSH2 PUBLIC KEY ----/m.test(text)) {
    throw new InputError(`${source} is an RFC 4716 key; convert it first with 'ssh-keygen -i -f ${source}'`);
  }
  const keys: PublicKey[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const key = parseKeyLine(trimmed, `${source} line ${i + 1}`);
    if (keys.some((k) => k.fingerprint === key.fingerprint)) {
      throw new InputError(`${source} line ${i + 1}: key ${key.fingerprint} is listed twice`);
    }
    keys.push(key);
  });
  if (keys.length === 0) throw new InputError(`${source} holds no public key`);
  return keys;
}

/** Parses one `type base64 [comment]` line. */
export function parseKeyLine(line: string, where: string): PublicKey {
  if (line.length > MAX_LINE) throw new InputError(`${where}: line is too long to be a public key`);
  const [type = '', data = '', ...rest] = line.split(/\s+/);
  if (KNOWN_REFUSED[type]) throw new InputError(`${where}: ${KNOWN_REFUSED[type]}`);
  if (!ALLOWED.has(type)) {
    const hint = [...ALLOWED].some((t) => line.includes(t + ' '))
      ? 'authorized_keys options (from=, command=, ...) are not supported'
      : `not a public key (expected a line such as 'ssh-ed25519 AAAA... comment')`;
    throw new InputError(`${where}: ${hint}`);
  }
  const malformed = new InputError(`${where}: malformed ${type} key (its base64 data is not a valid ${type} key)`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(data)) throw malformed;
  let key: sshpk.Key;
  try {
    key = sshpk.parseKey(`${type} ${data}`, 'ssh');
  } catch {
    throw malformed;
  }
  // The blob must re-encode to exactly what was given: no trailing bytes, and its inner type
  // must be the one the line names.
  const blob = key.toBuffer('rfc4253');
  if (!blob.equals(Buffer.from(data, 'base64')) || blob.readUInt32BE(0) !== type.length || blob.toString('latin1', 4, 4 + type.length) !== type) {
    throw malformed;
  }
  if (key.type === 'rsa' && key.size < MIN_RSA_BITS) {
    throw new InputError(`${where}: RSA key of ${key.size} bits is too weak (at least ${MIN_RSA_BITS} bits)`);
  }
  return { algorithm: type, bits: key.size, blob: blob.toString('base64'), fingerprint: fingerprintOf(blob), comment: rest.join(' ') };
}
