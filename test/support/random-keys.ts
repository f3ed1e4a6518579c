/** Public keys made up on the spot, for store tests that need many distinct valid keys. */
import { randomBytes } from 'node:crypto';
import { parseKeyLine, type PublicKey } from '../../src/users/public-keys.js';

function sshString(b: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

/** A fresh, valid ed25519 public key (random point bytes), as parseKeyLine returns it. */
export function newKey(comment = 'k'): PublicKey {
  const blob = Buffer.concat([sshString(Buffer.from('ssh-ed25519')), sshString(randomBytes(32))]);
  return parseKeyLine(`ssh-ed25519 ${blob.toString('base64')} ${comment}`, 'test');
}
