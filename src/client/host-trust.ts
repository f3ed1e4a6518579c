/**
 * Host key checking against ~/.ssh/known_hosts, as OpenSSH's StrictHostKeyChecking=ask does on a
 * terminal and accept-new does with --accept-new-host-key: a known key passes, a changed key is
 * always refused (both fingerprints shown), an unknown key is added only after "yes" on a TTY or
 * with the flag. Without a TTY and without the flag an unknown host is refused, never accepted.
 */
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { HostKeyError } from './errors.js';
import {
  checkHostKey,
  fingerprint,
  hostKeyName,
  keyTypeOf,
  knownHostsLine,
  knownKeyTypes,
  parseKnownHosts,
  usesHashedNames,
  type KnownHostEntry,
} from './known-hosts.js';

/** How to treat the host's key. */
export interface HostTrustOptions {
  host: string;
  port: number;
  knownHostsFile: string;
  acceptNew: boolean;
  /** Asks the user a question (null: no terminal, so no question). */
  ask: ((question: string) => Promise<string | null>) | null;
  /** Prints a notice (stderr). */
  notice: (line: string) => void;
}

/** Checks one connection's host key; `failure` holds why it was refused. */
export class HostTrust {
  failure: HostKeyError | null = null;
  private entries: KnownHostEntry[] = [];
  readonly name: string;

  constructor(private readonly opts: HostTrustOptions) {
    this.name = hostKeyName(opts.host, opts.port);
  }

  /** Reads the known_hosts file (a missing file is an empty one). */
  async load(): Promise<void> {
    const text = await readFile(this.opts.knownHostsFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '';
      throw err;
    });
    this.entries = parseKnownHosts(text);
  }

  /** Key types already known for this host: offered first so the server shows the known key. */
  knownTypes(): string[] {
    return knownKeyTypes(this.entries, this.name);
  }

  /**
   * ssh2's hostVerifier for one connection. The first key exchange is decided by `verify` (which
   * may ask). Every later one (a re-key, which the server may start at any time) must show the
   * key accepted then, and is answered before returning: while an answer is pending in a re-key,
   * ssh2 already sends other packets (under the old keys, ahead of its NEWKEYS), and the server
   * drops the connection ("Bad packet length" in OpenSSH's log). OpenSSH also refuses a host key
   * that changes in a re-key.
   */
  verifier(): (key: Buffer, answer: (ok: boolean) => void) => void {
    let accepted: Buffer | null = null;
    return (key, answer) => {
      if (accepted) {
        const same = key.equals(accepted);
        if (!same) this.failure = new HostKeyError(`the host key of ${this.name} changed during the session (now ${fingerprint(key)}, was ${fingerprint(accepted)})`);
        return answer(same);
      }
      void this.verify(key).then((ok) => {
        if (ok) accepted = Buffer.from(key);
        answer(ok);
      });
    };
  }

  /** Decides about `key`; resolves true to go on. Never throws: a refusal sets `failure`. */
  async verify(key: Buffer): Promise<boolean> {
    try {
      await this.decide(key);
      return true;
    } catch (err) {
      this.failure = err instanceof HostKeyError ? err : new HostKeyError((err as Error).message);
      return false;
    }
  }

  private async decide(key: Buffer): Promise<void> {
    const found = checkHostKey(this.entries, this.name, key);
    const fp = fingerprint(key);
    if (found.status === 'known') return;
    if (found.status === 'revoked') throw new HostKeyError(`the host key of ${this.name} (${fp}) is marked @revoked in ${this.where(found.entry)}`);
    if (found.status === 'changed') {
      const old = found.entries.map((e) => `${fingerprint(e.key)} (${this.where(e)})`).join(', ');
      throw new HostKeyError(
        `REMOTE HOST IDENTIFICATION HAS CHANGED for ${this.name}: known_hosts has ${old}, the server sent ${fp}; refusing to connect (remove the old line if the change is expected)`,
      );
    }
    if (!this.opts.acceptNew) await this.askUser(key, fp, found.otherTypes);
    await this.remember(key);
  }

  private async askUser(key: Buffer, fp: string, others: KnownHostEntry[]): Promise<void> {
    const type = shortType(keyTypeOf(key));
    if (!this.opts.ask) {
      throw new HostKeyError(
        `the host ${this.name} is unknown (${type} key ${fp}); check the fingerprint and rerun with --accept-new-host-key, or connect once from a terminal`,
      );
    }
    const also = others.length ? `\nThe host is known with other key types (${others.map((e) => e.keyType).join(', ')}).` : '';
    const question = `The authenticity of host '${this.name}' can't be established.\n${type} key fingerprint is ${fp}.${also}\nAre you sure you want to continue connecting (yes/no/[fingerprint])? `;
    for (;;) {
      const answer = await this.opts.ask(question);
      if (answer === null || /^no?$/i.test(answer)) throw new HostKeyError(`host key of ${this.name} not accepted`);
      if (/^yes$/i.test(answer) || answer === fp) return;
      if (answer.startsWith('SHA256:')) throw new HostKeyError(`the fingerprint typed does not match the host key of ${this.name} (${fp})`);
    }
  }

  private async remember(key: Buffer): Promise<void> {
    const file = this.opts.knownHostsFile;
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    const existing = await readFile(file, 'utf8').catch(() => '');
    const sep = existing === '' || existing.endsWith('\n') ? '' : '\n';
    await appendFile(file, `${sep}${knownHostsLine(this.name, key, usesHashedNames(this.entries))}\n`, { mode: 0o600 });
    this.opts.notice(`Warning: Permanently added '${this.name}' (${shortType(keyTypeOf(key))}) to the list of known hosts.`);
  }

  private where(entry: KnownHostEntry): string {
    return `${this.opts.knownHostsFile}:${entry.line}`;
  }
}

// OpenSSH names key types in messages like this: ED25519, RSA, ECDSA.
function shortType(type: string): string {
  if (type === 'ssh-ed25519') return 'ED25519';
  if (type === 'ssh-rsa') return 'RSA';
  if (type.startsWith('ecdsa-')) return 'ECDSA';
  return type;
}
