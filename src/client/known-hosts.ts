/**
 * OpenSSH's known_hosts file (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT", hostfile.c): lines of
 * `[marker] hostpatterns keytype base64-key [comment]`. Host patterns are comma lists with `*`,
 * `?` and `!` negation, `[host]:port` for ports other than 22, or one hashed name
 * `|1|base64(salt)|base64(HMAC-SHA1(salt, name))` (HashKnownHosts).
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';

/** One usable line of a known_hosts file. */
export interface KnownHostEntry {
  /** 1-based line number, for messages (`known_hosts:12`). */
  line: number;
  marker: '' | '@revoked' | '@cert-authority';
  /** The host pattern field as written (comma list or one hashed name). */
  hosts: string;
  keyType: string;
  key: Buffer;
}

/** What the file says about a host's key. */
export type HostKeyStatus =
  | { status: 'known'; entry: KnownHostEntry }
  | { status: 'revoked'; entry: KnownHostEntry }
  | { status: 'changed'; entries: KnownHostEntry[] }
  | { status: 'unknown'; otherTypes: KnownHostEntry[] };

/** Parses known_hosts text; comments, blank and malformed lines are skipped (as ssh does). */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === '' || fields[0]!.startsWith('#')) return;
    let marker: KnownHostEntry['marker'] = '';
    if (fields[0] === '@revoked' || fields[0] === '@cert-authority') marker = fields.shift() as KnownHostEntry['marker'];
    const [hosts, keyType, b64] = fields;
    if (!hosts || !keyType || !b64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return;
    entries.push({ line: i + 1, marker, hosts, keyType, key: Buffer.from(b64, 'base64') });
  });
  return entries;
}

/** The name known_hosts stores for a host: `host`, or `[host]:port` when the port is not 22. */
export function hostKeyName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** True when an entry's host field names `name` (as made by hostKeyName). */
export function entryMatches(entry: KnownHostEntry, name: string): boolean {
  if (entry.hosts.startsWith('|1|')) return hashedMatches(entry.hosts, name);
  let matched = false;
  for (const pattern of entry.hosts.split(',')) {
    const negated = pattern.startsWith('!');
    if (!globMatches(negated ? pattern.slice(1) : pattern, name)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

function hashedMatches(field: string, name: string): boolean {
  const [, , salt, hash] = field.split('|');
  if (!salt || !hash) return false;
  const mac = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
  return mac === hash;
}

// ssh's match_pattern: `*` any run, `?` one character, case-insensitive for host names.
function globMatches(pattern: string, name: string): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 'i').test(name);
}

/** The type name inside an SSH public key blob (its first string), e.g. `ssh-ed25519`. */
export function keyTypeOf(key: Buffer): string {
  if (key.length < 4) return '';
  const len = key.readUInt32BE(0);
  return key.subarray(4, 4 + len).toString('latin1');
}

/** OpenSSH's fingerprint of a key blob: `SHA256:` + unpadded base64 of its sha256. */
export function fingerprint(key: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(key).digest('base64').replace(/=+$/, '');
}

/** Looks `key` up for `name`: known, revoked, changed (same type, other key) or unknown. */
export function checkHostKey(entries: KnownHostEntry[], name: string, key: Buffer): HostKeyStatus {
  const type = keyTypeOf(key);
  const revoked = entries.find((e) => e.marker === '@revoked' && e.key.equals(key));
  if (revoked) return { status: 'revoked', entry: revoked };
  const forHost = entries.filter((e) => e.marker === '' && entryMatches(e, name));
  const same = forHost.find((e) => e.key.equals(key));
  if (same) return { status: 'known', entry: same };
  const sameType = forHost.filter((e) => e.keyType === type);
  if (sameType.length > 0) return { status: 'changed', entries: sameType };
  return { status: 'unknown', otherTypes: forHost };
}

/** Key types the file knows for `name`, so the client can ask the server for those first. */
export function knownKeyTypes(entries: KnownHostEntry[], name: string): string[] {
  return [...new Set(entries.filter((e) => e.marker === '' && entryMatches(e, name)).map((e) => e.keyType))];
}

/** One known_hosts line for a new host key; hashed (`|1|...`) when `hashed`, as HashKnownHosts does. */
export function knownHostsLine(name: string, key: Buffer, hashed: boolean, salt: Buffer = randomBytes(20)): string {
  const hosts = hashed ? `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}` : name;
  return `${hosts} ${keyTypeOf(key)} ${key.toString('base64')}`;
}

/** True when the file already hashes its names, so new lines should be hashed too. */
export function usesHashedNames(entries: KnownHostEntry[]): boolean {
  return entries.some((e) => e.hosts.startsWith('|1|'));
}
