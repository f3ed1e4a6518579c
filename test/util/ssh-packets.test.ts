/**
 * ssh-packets.ts: the pooled allocPacket lays packets out exactly as ssh2's own (length, padding
 * length, payload room, tag room) for the three in-place cipher families; the padding is fresh random
 * bytes; a slab is lent to one packet at a time and reused only after its release (the release
 * by a completed socket write is tested in cork.test.ts); ciphers it does not know are left alone;
 * and pooled packets encrypt and decrypt as ssh2's own.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { randomFillSync } from 'node:crypto';
import { allocPacket, freeSlabs, isPooledPacket, poolPackets, releasePacket, sourceFingerprint } from '../../src/util/ssh-packets.js';

/** ssh2's helper (lib/protocol/utils.js), which the ciphers' allocPacket calls by this name. */
function writeUInt32BE(buf: Buffer, value: number, offset: number): number {
  return buf.writeUInt32BE(value, offset);
}

const require = createRequire(import.meta.url);
const ssh2crypto = require('ssh2/lib/protocol/crypto.js') as {
  CIPHER_INFO: Record<string, { keyLen: number; ivLen: number }>;
  MAC_INFO: Record<string, unknown>;
  createCipher(config: unknown): { allocPacket(n: number): Buffer; encrypt(p: Buffer): void; constructor: { name: string } };
  createDecipher(config: unknown): { decrypt(data: Buffer, p: number, len: number): void };
};

function makeCipher(spec: string, onWrite: (b: Buffer) => void = () => undefined) {
  const [name, macName = 'hmac-sha2-256'] = spec.split(' ');
  const info = ssh2crypto.CIPHER_INFO[name!]!;
  const macInfo = ssh2crypto.MAC_INFO[macName];
  const key = Buffer.alloc(info.keyLen, 7);
  const iv = Buffer.alloc(info.ivLen, 3);
  const macKey = Buffer.alloc((macInfo as { len: number }).len, 9);
  const cipher = ssh2crypto.createCipher({ outbound: { seqno: 0, onWrite, cipherInfo: info, cipherKey: key, cipherIV: iv, macInfo, macKey } });
  const decipher = (onPayload: (p: Buffer) => void) =>
    ssh2crypto.createDecipher({ inbound: { seqno: 0, onPayload, decipherInfo: info, decipherKey: key, decipherIV: Buffer.from(iv), macInfo, macKey } });
  return { cipher, decipher };
}

/** Cipher (and MAC, for the ones that need one) as negotiated. */
const IN_PLACE = [
  'aes128-gcm@openssh.com',
  'aes256-gcm@openssh.com',
  'chacha20-poly1305@openssh.com',
  'aes128-ctr hmac-sha2-256',
  'aes256-ctr hmac-sha2-512',
  'aes192-ctr hmac-sha2-256-etm@openssh.com',
  'aes128-ctr hmac-sha2-256-96',
];

describe('ssh-packets: poolPackets', () => {
  for (const name of IN_PLACE) {
    it(`${name}: same layout as ssh2's allocPacket for every payload length`, () => {
      const { cipher } = makeCipher(name);
      const original = cipher.allocPacket.bind(cipher);
      assert.equal(poolPackets({ _cipher: cipher }), true, cipher.constructor.name);
      assert.ok(Object.prototype.hasOwnProperty.call(cipher, 'allocPacket'), 'replaced on the instance');
      for (const n of [0, 1, 2, 3, 11, 12, 13, 15, 16, 17, 100, 4095, 4096, 32777, 32778, 36000, 40000]) {
        const want = original(n);
        const got = cipher.allocPacket(n);
        assert.equal(got.length, want.length, `length for payload ${n}`);
        assert.deepEqual(got.subarray(0, 5), want.subarray(0, 5), `length field and padding length for payload ${n}`);
        releasePacket(got);
      }
      assert.equal(poolPackets({ _cipher: cipher }), true, 'a second call is harmless');
    });
  }

  it('an encrypted pooled packet decrypts to its payload (the cipher works on the slab in place)', () => {
    for (const name of IN_PLACE) {
      const written: Buffer[] = [];
      const { cipher, decipher } = makeCipher(name, (b) => written.push(Buffer.from(b)));
      assert.equal(poolPackets({ _cipher: cipher }), true, name);
      poolPackets({ _cipher: cipher });
      const payloads = [Buffer.alloc(32777, 0xab), Buffer.from('short one'), Buffer.alloc(20000, 0x5c)];
      for (const p of payloads) {
        const packet = cipher.allocPacket(p.length);
        p.copy(packet, 5);
        cipher.encrypt(packet);
        releasePacket(packet);
      }
      const got: Buffer[] = [];
      const d = decipher((payload) => void got.push(Buffer.from(payload)));
      const wire = Buffer.concat(written);
      d.decrypt(wire, 0, wire.length);
      assert.deepEqual(got, payloads, name);
      assert.ok(written.length === payloads.length, name);
    }
  });

  it('leaves a cipher it does not know untouched', () => {
    class SomeOtherCipher {
      allocPacket(n: number): Buffer {
        return Buffer.alloc(n + 40);
      }
    }
    const other = new SomeOtherCipher();
    const before = other.allocPacket;
    assert.equal(poolPackets({ _cipher: other }), false);
    assert.equal(other.allocPacket, before);
    assert.equal(poolPackets({}), false);
    assert.equal(poolPackets(undefined), false);
  });

  it('leaves an AES-CTR cipher alone when its block size or MAC length is not one it knows', () => {
    const { cipher } = makeCipher('aes128-ctr hmac-sha2-256');
    (cipher as unknown as { _encBlockLen: number })._encBlockLen = 3;
    assert.equal(poolPackets({ _cipher: cipher }), false);
    assert.equal(Object.prototype.hasOwnProperty.call(cipher, 'allocPacket'), false);
  });

  it('pools a cipher as a bundler rewrites it: class name and binding numbered, comment and parentheses gone', () => {
    // ssh2's AESGCMCipherBinding.allocPacket as esbuild printed it into the client bundle.
    const randomFillSync2 = randomFillSync;
    class AESGCMCipherBinding2 {
      allocPacket(payloadLen: number): Buffer {
        let pktLen = 4 + 1 + payloadLen;
        let padLen = 16 - ((pktLen - 4) & (16 - 1));
        if (padLen < 4) padLen += 16;
        pktLen += padLen;
        const packet = Buffer.allocUnsafe(
          pktLen + 16,
          /* authTag */
        );
        writeUInt32BE(packet, pktLen - 4, 0);
        packet[4] = padLen;
        randomFillSync2(packet, 5 + payloadLen, padLen);
        return packet;
      }
    }
    const bundled = new AESGCMCipherBinding2();
    const original = bundled.allocPacket.bind(bundled);
    assert.equal(poolPackets({ _cipher: bundled }), true);
    for (const n of [0, 13, 32777]) {
      const got = bundled.allocPacket(n);
      assert.ok(got.length < 4096 || isPooledPacket(got), `payload ${n}`);
      assert.deepEqual(got.subarray(0, 5), original(n).subarray(0, 5));
      releasePacket(got);
    }
    assert.equal(sourceFingerprint('f(a) { g2(x); /* c */ return a; }'), 'fa{g2x;returna;}', 'other numbered names stay');
  });

  it('leaves a cipher alone when its allocPacket reads like ssh2 but lays packets out differently', () => {
    // The same text, but its writeUInt32BE is another function: only the probe can tell.
    const writeUInt32BE = (b: Buffer, v: number, o: number) => b.writeUInt32LE(v, o);
    class AESGCMCipherBinding {
      allocPacket(payloadLen: number): Buffer {
        let pktLen = 4 + 1 + payloadLen;
        let padLen = 16 - ((pktLen - 4) & (16 - 1));
        if (padLen < 4) padLen += 16;
        pktLen += padLen;
        const packet = Buffer.allocUnsafe(pktLen + 16 /* authTag */);
        writeUInt32BE(packet, pktLen - 4, 0);
        packet[4] = padLen;
        randomFillSync(packet, 5 + payloadLen, padLen);
        return packet;
      }
    }
    const odd = new AESGCMCipherBinding();
    assert.equal(poolPackets({ _cipher: odd }), false);
    assert.equal(Object.prototype.hasOwnProperty.call(odd, 'allocPacket'), false);
  });

  it('leaves a known cipher alone when its allocPacket is not the source it mirrors', () => {
    // Same class name as ssh2's, different method (a future ssh2 version, say).
    class AESGCMCipherBinding {
      allocPacket(n: number): Buffer {
        return Buffer.alloc(n + 40);
      }
    }
    const odd = new AESGCMCipherBinding();
    assert.equal(poolPackets({ _cipher: odd }), false);
    assert.equal(Object.prototype.hasOwnProperty.call(odd, 'allocPacket'), false);
  });
});

describe('ssh-packets: slabs', () => {
  const layout = { block: 16, aad: 4, tag: 16 };

  it('padding is fresh random bytes, never repeated between packets', () => {
    const pads = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const p = allocPacket(layout, 32777);
      const padLen = p[4]!;
      assert.ok(padLen >= 4 && padLen < 4 + 16);
      pads.add(p.subarray(5 + 32777, 5 + 32777 + padLen).toString('hex'));
      releasePacket(p);
    }
    assert.ok(pads.size >= 199, `${pads.size} distinct paddings of 200`);
  });

  it('a slab is lent to one packet at a time and reused only after its release', () => {
    const a = allocPacket(layout, 32000);
    const b = allocPacket(layout, 32000);
    assert.notEqual(a.buffer, b.buffer, 'two packets in flight never share a slab');
    assert.ok(isPooledPacket(a) && isPooledPacket(b));
    releasePacket(a);
    assert.equal(isPooledPacket(a), false, 'released: no longer lent');
    const before = freeSlabs();
    releasePacket(a);
    assert.equal(freeSlabs(), before, 'a second release of the same slab is ignored');
    const c = allocPacket(layout, 20000);
    assert.equal(c.buffer, a.buffer, 'the released slab is reused');
    releasePacket(b);
    releasePacket(c);
  });

  it('small and oversized packets are ordinary buffers, and releasing them does nothing', () => {
    const small = allocPacket(layout, 100);
    const big = allocPacket(layout, 40000);
    assert.equal(isPooledPacket(small), false);
    assert.equal(isPooledPacket(big), false);
    const before = freeSlabs();
    releasePacket(small);
    releasePacket(big);
    releasePacket(Buffer.alloc(36 * 1024));
    assert.equal(freeSlabs(), before);
  });
});
