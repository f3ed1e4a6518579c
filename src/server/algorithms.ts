/**
 * The transport algorithms the server offers (SPEC §5, security catalog §3.8, §3.9, §4.8). ssh2's
 * defaults are replaced outright: ssh2 always appends kex-strict-s-v00@openssh.com (Terrapin), so
 * strict key exchange stays on for every client that supports it.
 */
import type { Algorithms } from 'ssh2';

/** Key exchange: ECDH only, plus DH group14-sha256 for old clients. No SHA-1, no DH-GEX, no groups 15-18 (main-thread modexp). */
export const KEX = [
  'curve25519-sha256',
  'curve25519-sha256@libssh.org',
  'ecdh-sha2-nistp256',
  'ecdh-sha2-nistp384',
  'ecdh-sha2-nistp521',
  'diffie-hellman-group14-sha256',
];

/**
 * Host key signatures: ed25519, RSA with SHA-2 only (no ssh-rsa SHA-1). ssh2 offers only the
 * algorithms of the keys it has, so this lists what our two host keys can sign.
 */
export const SERVER_HOST_KEY = ['ssh-ed25519', 'rsa-sha2-512', 'rsa-sha2-256'];

/**
 * AEAD first, then CTR; no CBC. chacha20-poly1305 is left out on purpose: Terrapin
 * (CVE-2023-48795) breaks it for clients without strict kex, and PuTTY 0.78 (WinSCP, FileZilla)
 * has no strict kex but prefers chacha20. AES-GCM is also the fastest cipher in ssh2 here.
 */
export const CIPHER = ['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'aes128-ctr', 'aes192-ctr', 'aes256-ctr'];

/**
 * SHA-2 MACs only (used with CTR; GCM has its own tag). The -etm variants are left out for the
 * same reason as chacha20: Terrapin's prefix truncation applies to EtM for clients without strict
 * kex, while encrypt-and-MAC with CTR is not affected.
 */
export const MAC = ['hmac-sha2-256', 'hmac-sha2-512'];

/** No compression: zlib is negotiated before authentication, so it would let anyone send a bomb. */
export const COMPRESS = ['none'];

/** The algorithms option for ssh2's Server. */
export function serverAlgorithms(): Algorithms {
  return {
    kex: [...KEX] as Algorithms['kex'],
    serverHostKey: [...SERVER_HOST_KEY] as Algorithms['serverHostKey'],
    cipher: [...CIPHER] as Algorithms['cipher'],
    hmac: [...MAC] as Algorithms['hmac'],
    compress: [...COMPRESS] as Algorithms['compress'],
  };
}

interface NameList {
  array: string[];
}
interface KexOffer {
  constructor: new (lists: object) => KexOffer;
  lists: {
    kex: NameList;
    serverHostKey: NameList;
    cs: Record<'cipher' | 'mac' | 'compress' | 'lang', NameList>;
    sc: Record<'cipher' | 'mac' | 'compress' | 'lang', NameList>;
  };
}

const patched = new WeakMap<object, KexOffer>();

/**
 * Removes `ssh-rsa` (SHA-1) from the host key algorithms this connection will offer. ssh2 always
 * adds it for an RSA host key, whatever the serverHostKey list says (server.js: "Fall back to
 * giving SHA1 the lowest priority"). The server's KEXINIT is sent right after the 'connection'
 * event, so swapping the connection's offer there is in time. Returns false when ssh2's internals
 * are not as expected (the caller then refuses the connection rather than offer SHA-1).
 */
export function dropSha1HostKey(client: object): boolean {
  const proto = (client as { _protocol?: { _offer?: KexOffer } })._protocol;
  const offer = proto?._offer;
  const hostKeys = offer?.lists?.serverHostKey?.array;
  if (!proto || !offer || !Array.isArray(hostKeys)) return false;
  if (!hostKeys.includes('ssh-rsa')) return true;
  let replacement = patched.get(offer);
  if (!replacement) {
    const l = offer.lists;
    const side = (s: KexOffer['lists']['cs']) => ({ cipher: s.cipher.array, mac: s.mac.array, compress: s.compress.array, lang: s.lang.array });
    replacement = new offer.constructor({
      kex: l.kex.array,
      serverHostKey: hostKeys.filter((a) => a !== 'ssh-rsa'),
      cs: side(l.cs),
      sc: side(l.sc),
    });
    patched.set(offer, replacement);
  }
  proto._offer = replacement;
  return true;
}
