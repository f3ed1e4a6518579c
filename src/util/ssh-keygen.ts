/**
 * SSH key pairs from ssh2's generator, checked. ssh2 1.17's keygen.js strips leading zero bytes
 * from an ed25519 public key as if it were an integer, so about one key in 256 is written with
 * a 31-byte public key that neither ssh2 nor OpenSSH can load ("Malformed OpenSSH private key",
 * ssh-keygen: "error in libcrypto"). For the server's host key that meant a first start that
 * failed, and every start after it. These wrappers discard a pair that does not load and
 * generate another.
 *
 * Contract: the returned private key parses with ssh2.utils.parseKey as a private key and the
 * public key parses too; after MAX_TRIES unusable pairs in a row it throws.
 */
import { promisify } from 'node:util';
import ssh2 from 'ssh2';

export type KeyKind = 'ed25519' | 'rsa';
export interface KeyPair {
  private: string;
  public: string;
}
export interface KeyOptions {
  bits?: number;
  comment?: string;
}

/** Far more than needed: an unusable ed25519 pair comes about once in 256. */
const MAX_TRIES = 16;

/** True when both halves of the pair load. */
export function usableKeyPair(pair: KeyPair): boolean {
  const first = (k: ReturnType<typeof ssh2.utils.parseKey>) => (Array.isArray(k) ? k[0] : k);
  const priv = first(ssh2.utils.parseKey(pair.private));
  const pub = first(ssh2.utils.parseKey(pair.public));
  return !!priv && !(priv instanceof Error) && priv.isPrivateKey() && !!pub && !(pub instanceof Error);
}

type SyncGen = (kind: KeyKind, opts: KeyOptions) => KeyPair;
type AsyncGen = (kind: KeyKind, opts: KeyOptions) => Promise<KeyPair>;

const ssh2Sync: SyncGen = (kind, opts) => ssh2.utils.generateKeyPairSync(kind as 'rsa', opts as { bits: number });
const ssh2Async: AsyncGen = promisify(ssh2.utils.generateKeyPair) as unknown as AsyncGen;

/** A usable key pair (`gen` is ssh2's generator; tests pass their own). */
export function generateKeyPairSync(kind: KeyKind, opts: KeyOptions = {}, gen: SyncGen = ssh2Sync): KeyPair {
  for (let i = 0; i < MAX_TRIES; i++) {
    const pair = gen(kind, opts);
    if (usableKeyPair(pair)) return pair;
  }
  throw new Error(`could not generate a usable ${kind} key in ${MAX_TRIES} tries`);
}

/** The same, without blocking (RSA generation takes a while). */
export async function generateKeyPair(kind: KeyKind, opts: KeyOptions = {}, gen: AsyncGen = ssh2Async): Promise<KeyPair> {
  for (let i = 0; i < MAX_TRIES; i++) {
    const pair = await gen(kind, opts);
    if (usableKeyPair(pair)) return pair;
  }
  throw new Error(`could not generate a usable ${kind} key in ${MAX_TRIES} tries`);
}
