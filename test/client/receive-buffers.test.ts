/**
 * receive-buffers.ts: a chunk's buffer is filled again only when every message parsed from it was
 * file data for the SFTP channel (copied by its framer) or a window adjust, under a decipher it
 * knows and watches; anything else (another message, another channel, a decipher that keeps part
 * of the chunk, a key exchange) gets the next read a new buffer. Data that arrives before anyone
 * listens is handed over in order. The real client's downloads go through it intact.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { directReads } from '../../src/client/direct-reads.js';
import { receiveSocket, type ReceiveSocket } from '../../src/client/receive-buffers.js';
import { waitFor } from '../support/wait.js';

const SFTP_ID = 7;

/** A stand-in for ssh2's AES-GCM decipher: the two fields receive-buffers.ts relies on. */
class AESGCMDecipherBinding {
  _packet: Uint8Array | null = null;
  constructor(public _onPayload: (payload: Buffer) => unknown) {}
}

/** A test message: type, then a channel number (as CHANNEL_DATA and WINDOW_ADJUST have). */
function message(type: number, channel: number, fill: number): Buffer {
  const b = Buffer.alloc(64, fill);
  b[0] = type;
  b.writeUInt32BE(channel, 1);
  return b;
}

/**
 * A peer that sends each test message as its own write, and a client whose 'data' listener plays
 * ssh2: it hands every 64-byte message of a chunk to the decipher, and can run `during(chunk)`.
 */
describe('receive-buffers', () => {
  let server: Server;
  let peer: Socket;
  let client: ReceiveSocket;
  let decipher: AESGCMDecipherBinding;
  const protocol: { _decipher: unknown } = { _decipher: null };
  /** For every chunk: its ArrayBuffer, its bytes as they arrived, and the chunk itself. */
  const chunks: Array<{ buffer: ArrayBufferLike; bytes: Buffer; view: Buffer }> = [];
  const payloads: Buffer[] = [];
  let during: ((chunk: Buffer) => void) | null = null;

  before(async () => {
    const accepted = new Promise<Socket>((resolve) => {
      server = createServer((s) => resolve(s));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    client = receiveSocket('127.0.0.1', port);
    peer = await accepted;
    peer.setNoDelay(true);
    // Sent before anyone listens: copied and handed over when the listener comes.
    peer.write(Buffer.from('early one '));
    peer.write(Buffer.from('early two'));
    await waitFor(() => client.counts.reads >= 1, 5000);
    // ssh2's SFTP object as directReads expects it (push on the prototype): the framer copies.
    class Sftp {
      incoming = { id: SFTP_ID };
      _requests = {};
      _maxInPktLen = 1 << 20;
      push(): void {}
    }
    const sftp = new Sftp();
    assert.equal(directReads(sftp), true);
    decipher = new AESGCMDecipherBinding((p) => void payloads.push(Buffer.from(p)));
    protocol._decipher = decipher;
    client.attach(protocol, sftp);
    client.socket.on('data', (chunk: Buffer) => {
      chunks.push({ buffer: chunk.buffer, bytes: Buffer.from(chunk), view: chunk });
      if (chunk.length % 64 === 0) for (let p = 0; p < chunk.length; p += 64) (protocol._decipher as AESGCMDecipherBinding)._onPayload(chunk.subarray(p, p + 64));
      during?.(chunk);
    });
  });
  after(() => {
    client.socket.destroy();
    peer.destroy();
    server.close();
  });

  /** Sends one message and waits for its chunk; returns the chunk's ArrayBuffer. */
  async function send(m: Buffer): Promise<ArrayBufferLike> {
    const n = chunks.length;
    peer.write(m);
    await waitFor(() => chunks.length > n, 5000);
    assert.deepEqual(chunks[n]!.bytes, m, 'the chunk is the message');
    return chunks[n]!.buffer;
  }

  test('data that came before the listener arrives first, in order', async () => {
    await waitFor(() => chunks.length > 0, 5000);
    assert.equal(Buffer.concat(chunks.map((c) => c.bytes)).toString().startsWith('early one early two'), true);
  });

  test('SFTP file data and window adjusts: the next read reuses the buffer', async () => {
    await send(message(94, SFTP_ID, 1));
    const a = await send(message(94, SFTP_ID, 2));
    const b = await send(message(93, 0, 3));
    const c = await send(message(94, SFTP_ID, 4));
    assert.equal(b, a);
    assert.equal(c, a);
    assert.equal(payloads.at(-1)![1 + 4 + 1], 4, 'the decipher saw the message');
  });

  test('another message type or another channel: the chunk keeps its buffer', async () => {
    const a = await send(message(94, SFTP_ID, 5));
    const other = await send(message(98, SFTP_ID, 6)); // CHANNEL_REQUEST: ssh2 may keep a view
    assert.equal(other, a, 'read into the reused buffer');
    const next = await send(message(94, 3, 7)); // data for an exec channel, say
    assert.notEqual(next, other, 'the CHANNEL_REQUEST chunk was not overwritten');
    const after = await send(message(94, SFTP_ID, 8));
    assert.notEqual(after, next, 'nor the exec channel data');
    assert.equal(await send(message(94, SFTP_ID, 9)), after, 'reuse resumes');
    assert.deepEqual(chunks.at(-4)!.view, chunks.at(-4)!.bytes, 'the kept chunk still holds its bytes');
    assert.deepEqual(chunks.at(-3)!.view, chunks.at(-3)!.bytes);
  });

  test('a decipher holding part of the chunk, or replaced during it: a new buffer next', async () => {
    const a = await send(message(94, SFTP_ID, 10));
    during = (chunk) => (decipher._packet = chunk.subarray(0, 16));
    const held = await send(message(94, SFTP_ID, 11));
    during = null;
    decipher._packet = null;
    assert.equal(held, a);
    const b = await send(message(94, SFTP_ID, 12));
    assert.notEqual(b, held, 'the held chunk was not overwritten');
    assert.deepEqual(chunks.at(-2)!.view, chunks.at(-2)!.bytes);

    const replacement = new AESGCMDecipherBinding((p) => void payloads.push(Buffer.from(p)));
    during = () => (protocol._decipher = replacement);
    const rekeyed = await send(message(94, SFTP_ID, 13));
    during = null;
    const c = await send(message(94, SFTP_ID, 14));
    assert.notEqual(c, rekeyed, 'a chunk that saw a new decipher is kept');
    decipher = replacement;
    const d = await send(message(94, SFTP_ID, 15));
    assert.equal(await send(message(94, SFTP_ID, 16)), d, 'the new decipher is watched from the next chunk');
  });

  test("ssh2 replacing _onPayload (its key exchange does) is still watched", async () => {
    const seen: number[] = [];
    decipher._onPayload = (p: Buffer) => void seen.push(p[0]!);
    const a = await send(message(94, SFTP_ID, 17));
    const b = await send(message(30, 0, 18)); // a key exchange message
    assert.deepEqual(seen, [94, 30], 'the new handler gets the messages');
    const c = await send(message(94, SFTP_ID, 19));
    assert.equal(b, a);
    assert.notEqual(c, b, 'the key exchange message was seen, so its chunk is kept');
  });

  test('an unknown decipher: every chunk gets a new buffer', async () => {
    class SomethingElse {
      _onPayload = (_p: Buffer) => undefined;
    }
    protocol._decipher = new SomethingElse();
    const a = await send(message(94, SFTP_ID, 20));
    const b = await send(message(94, SFTP_ID, 21));
    const c = await send(message(94, SFTP_ID, 22));
    assert.notEqual(b, a);
    assert.notEqual(c, b);
    protocol._decipher = decipher;
  });
});
