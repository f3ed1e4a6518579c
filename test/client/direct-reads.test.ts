/**
 * direct-reads.ts: a DATA reply for a READ with a buffer is copied into that buffer and completes
 * the request as ssh2 does; every other packet reaches ssh2's parser whole and byte for byte;
 * any chunking of the stream gives the same result; lengths ssh2 rejects go to ssh2 unparsed;
 * and the real client downloads through it intact.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { copiesChannelData, DirectFramer, directReads } from '../../src/client/direct-reads.js';

type Req = { cb?: (err: Error | undefined, buf: Buffer, nb: number) => void; buffer?: Buffer };

/** A stand-in for ssh2's SFTP object: records what reaches its parser and the completed reads. */
function fakeSftp() {
  const pushed: Array<Buffer | null> = [];
  const done: Array<{ id: number; data: Buffer; nb: number; stillListed: boolean }> = [];
  const sftp = {
    _requests: {} as Record<number, Req | undefined>,
    _maxInPktLen: 256 * 1024,
    push(data: Buffer | null) {
      pushed.push(data === null ? null : Buffer.from(data));
    },
  };
  const read = (id: number, size: number) => {
    const buffer = Buffer.alloc(size);
    sftp._requests[id] = {
      buffer,
      cb: (err, buf, nb) => {
        assert.equal(err, undefined);
        assert.equal(buf, buffer);
        done.push({ id, data: Buffer.from(buf.subarray(0, nb)), nb, stillListed: id in sftp._requests });
      },
    };
  };
  return { sftp, pushed, done, read };
}

function packet(type: number, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length + 1, 0);
  head[4] = type;
  return Buffer.concat([head, body]);
}

function dataReply(id: number, data: Buffer): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(id, 0);
  b.writeUInt32BE(data.length, 4);
  return packet(103, Buffer.concat([b, data]));
}

function status(id: number, code: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32BE(id, 0);
  b.writeUInt32BE(code, 4);
  return packet(101, b);
}

/** Feeds `stream` in pieces cut at `cuts` (offsets). */
function feedCut(framer: DirectFramer, stream: Buffer, cuts: number[]): void {
  let prev = 0;
  for (const c of [...cuts, stream.length]) {
    if (c > prev) framer.feed(stream.subarray(prev, c));
    prev = c;
  }
}

describe('direct reads', () => {
  const big = randomBytes(70_000);
  const small = randomBytes(37);

  test('DATA for a READ with a buffer lands in it, the request leaves the table first; others reach ssh2 whole', () => {
    const { sftp, pushed, done, read } = fakeSftp();
    read(7, 100_000);
    read(8, 37);
    const stream = Buffer.concat([dataReply(7, big), status(9, 1), dataReply(8, small), dataReply(42, Buffer.from('nobody asked'))]);
    const framer = new DirectFramer(sftp, sftp.push.bind(sftp));
    framer.feed(stream);
    assert.deepEqual(
      done.map((d) => [d.id, d.nb, d.stillListed]),
      [
        [7, 70_000, false],
        [8, 37, false],
      ],
    );
    assert.ok(done[0]!.data.equals(big));
    assert.ok(done[1]!.data.equals(small));
    assert.deepEqual(pushed, [status(9, 1), dataReply(42, Buffer.from('nobody asked'))], 'the rest reached ssh2 as whole packets');
  });

  test('every way of cutting the stream into chunks gives the same result', () => {
    const stream = Buffer.concat([status(1, 0), dataReply(2, small), dataReply(3, Buffer.alloc(0)), status(4, 1)]);
    for (let a = 0; a <= stream.length; a++) {
      for (const b of [a + 1, a + 3, a + 13, stream.length]) {
        const { sftp, pushed, done, read } = fakeSftp();
        read(2, 64);
        read(3, 64);
        feedCut(new DirectFramer(sftp, sftp.push.bind(sftp)), stream, [a, Math.min(b, stream.length)]);
        assert.deepEqual(pushed, [status(1, 0), status(4, 1)], `cuts ${a},${b}`);
        assert.deepEqual(
          done.map((d) => [d.id, d.nb]),
          [
            [2, 37],
            [3, 0],
          ],
          `cuts ${a},${b}`,
        );
        assert.ok(done[0]!.data.equals(small));
      }
    }
  });

  test('DATA that does not fit its buffer, or whose lengths disagree, is left to ssh2', () => {
    const { sftp, pushed, done, read } = fakeSftp();
    read(5, 10);
    const tooLong = dataReply(5, small);
    const bad = dataReply(6, small);
    bad.writeUInt32BE(99, 9); // data length field says 99, the packet holds 37
    read(6, 200);
    new DirectFramer(sftp, sftp.push.bind(sftp)).feed(Buffer.concat([tooLong, bad]));
    assert.equal(done.length, 0);
    assert.deepEqual(pushed, [tooLong, bad]);
  });

  test('a length ssh2 rejects goes to ssh2 unparsed, with everything after it', () => {
    for (const len of [0, 256 * 1024 + 1]) {
      const { sftp, pushed } = fakeSftp();
      const head = Buffer.alloc(4);
      head.writeUInt32BE(len, 0);
      const framer = new DirectFramer(sftp, sftp.push.bind(sftp));
      const before = status(1, 0);
      framer.feed(Buffer.concat([before, head.subarray(0, 2)]));
      framer.feed(Buffer.concat([head.subarray(2), Buffer.from('junk')]));
      framer.feed(Buffer.from('more'));
      assert.deepEqual(Buffer.concat(pushed.filter((b): b is Buffer => b !== null)), Buffer.concat([before, head, Buffer.from('junkmore')]), `length ${len}`);
    }
  });

  test('copiesChannelData: true once the framer is installed, false after it starts passing bytes through', () => {
    const pushed: Buffer[] = [];
    // As ssh2's SFTP class: push on the prototype, so directReads installs its framer.
    class Sftp {
      _requests = {};
      _maxInPktLen = 1024;
      push(data: Buffer | null): void {
        if (data) pushed.push(Buffer.from(data));
      }
    }
    const sftp = new Sftp();
    assert.equal(copiesChannelData(sftp), false, 'not installed yet');
    assert.equal(directReads(sftp), true);
    assert.equal(copiesChannelData(sftp), true);
    sftp.push(status(1, 0));
    assert.equal(copiesChannelData(sftp), true, 'a whole packet is copied');
    const tooLong = Buffer.alloc(4);
    tooLong.writeUInt32BE(4096, 0);
    sftp.push(tooLong);
    assert.equal(copiesChannelData(sftp), false, 'bytes now go to ssh2 as they come');
    assert.deepEqual(pushed, [status(1, 0), tooLong]);
    assert.equal(copiesChannelData({}), false);
    assert.equal(copiesChannelData(null), false);
  });

  test('the end of the stream reaches ssh2; installing checks for the internals it needs', () => {
    const { sftp, pushed } = fakeSftp();
    assert.equal(directReads(sftp), true);
    assert.ok(Object.prototype.hasOwnProperty.call(sftp, 'push'));
    const installed = sftp.push;
    assert.equal(directReads(sftp), true, 'a second call is harmless');
    assert.equal(sftp.push, installed);
    sftp.push(null);
    assert.deepEqual(pushed, [null]);
    assert.equal(directReads({ push() {} }), false);
    assert.equal(directReads(null), false);
  });
});
