/**
 * Host keys (SPEC §3): keys/ssh_host_ed25519_key and keys/ssh_host_rsa_key (RSA 3072, for older
 * clients), OpenSSH format, generated on first start, mode 0600 in a 0700 folder, never regenerated.
 * Runs at startup only, so plain fs calls are fine here.
 */
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { fingerprintOf } from '../users/public-keys.js';
import { abortable } from '../util/abortable.js';
import { generateKeyPair, type KeyPair } from '../util/ssh-keygen.js';

/** A host key as the server uses it. */
export interface HostKey {
  /** ssh-ed25519 or ssh-rsa. */
  type: string;
  file: string;
  /** The private key file's bytes (OpenSSH format). */
  privateKey: Buffer;
  /** `SHA256:...`, as ssh-keygen -lf prints it. */
  fingerprint: string;
  /** True when this start generated the key. */
  created: boolean;
}

/** A host key file that cannot be used. */
export class HostKeyError extends Error {
  readonly code = 'COFFER_HOST_KEY';
}

const KINDS = [
  { file: 'ssh_host_ed25519_key', gen: () => generate('ed25519', {}) },
  // RSA 3072: OpenSSH's default size since 8.x, for clients without ed25519.
  { file: 'ssh_host_rsa_key', gen: () => generate('rsa', { bits: 3072 }) },
] as const;

// Checked: ssh2's generator writes about one ed25519 key in 256 that cannot be loaded (ssh-keygen.ts).
function generate(type: 'ed25519' | 'rsa', opts: { bits?: number }): Promise<KeyPair> {
  return generateKeyPair(type, { ...opts, comment: 'coffer host key' });
}

/**
 * Loads the host keys under `keysDir`, generating the missing ones; ed25519 first. When `signal`
 * aborts, a key being generated is dropped (RSA 3072 may take seconds) and this rejects with its
 * reason once no key file is being written: a key's two files are written both or neither.
 */
export async function loadHostKeys(keysDir: string, signal?: AbortSignal): Promise<HostKey[]> {
  await mkdir(keysDir, { recursive: true, mode: 0o700 });
  // allSettled: when one key fails or is stopped, the other's writes still finish before the
  // caller goes on (and perhaps exits, which would leave a temporary file behind).
  const results = await Promise.allSettled(KINDS.map((kind) => loadOrCreate(join(keysDir, kind.file), kind.gen, signal)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<HostKey>).value);
}

async function loadOrCreate(file: string, gen: () => Promise<KeyPair>, signal?: AbortSignal): Promise<HostKey> {
  let created = false;
  let text: Buffer;
  try {
    text = await readFile(file);
    await tighten(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new HostKeyError(`cannot read host key ${file}: ${(err as Error).message}`);
    const pair = signal ? await abortable(gen(), signal) : await gen();
    await writeNew(file, pair.private, 0o600);
    await writeNew(`${file}.pub`, pair.public + '\n', 0o644);
    text = Buffer.from(pair.private);
    created = true;
  }
  return describe(file, text, created);
}

/** A private key readable by others is made 0600 (sshd would refuse it; we fix it instead). */
async function tighten(file: string): Promise<void> {
  const { mode } = await stat(file);
  if ((mode & 0o077) !== 0) await chmod(file, 0o600);
}

/** Writes through a temporary name so a crash never leaves half a key under the real name. */
async function writeNew(file: string, data: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, data, { mode, flag: 'wx' });
  await chmod(tmp, mode);
  await rename(tmp, file);
}

function describe(file: string, privateKey: Buffer, created: boolean): HostKey {
  let parsed = ssh2.utils.parseKey(privateKey);
  if (Array.isArray(parsed)) parsed = parsed[0]!;
  if (parsed instanceof Error || !parsed.isPrivateKey()) {
    throw new HostKeyError(`host key ${file} is not a usable private key${parsed instanceof Error ? `: ${parsed.message}` : ''}`);
  }
  return { type: parsed.type, file, privateKey, fingerprint: fingerprintOf(parsed.getPublicSSH()), created };
}
