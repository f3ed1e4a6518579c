/**
 * One wire format (issue 21 item 5): what the client sends is, byte for byte, the codec's encoding
 * of the same request, and what the client makes of a reply is what the codec decodes from it.
 * The client is the real thing: ssh2's SFTP object (as Connection gets it) under RemoteOps, with
 * direct-reads.ts's framer and direct-writes.ts's RequestWriter installed, talking to a fake
 * channel: its outgoing bytes are captured, and replies built by the codec are pushed into it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';
import type { SFTPWrapper, Stats } from 'ssh2';
import { directReads } from '../../src/client/direct-reads.js';
import { RequestWriter } from '../../src/client/direct-writes.js';
import { RemoteOps, reasonOf, sftpCode } from '../../src/client/remote-ops.js';
import { OpenFlags, SERVER_EXTENSIONS, SFTP_VERSION, StatusCode } from '../../src/sftp/constants.js';
import { PacketFramer } from '../../src/sftp/framing.js';
import { encodeAttrs, type FileAttrs } from '../../src/sftp/packets/attrs.js';
import { DATA_HEADER_LENGTH, encodeData, finishDataReply, allocDataReply } from '../../src/sftp/packets/data.js';
import { encodeLimitsReply } from '../../src/sftp/packets/extended-reply.js';
import { encodeHandle } from '../../src/sftp/packets/handle.js';
import { encodePathName } from '../../src/sftp/packets/name.js';
import { decodeReply, decodeRequest, encodeRequest } from '../../src/sftp/packets/packet.js';
import { encodeStatus } from '../../src/sftp/packets/status.js';
import { encodeInit, encodeVersion } from '../../src/sftp/packets/version.js';
import type { SftpIdRequest } from '../../src/sftp/request-types.js';

const require = createRequire(import.meta.url);
const { SFTP } = require('ssh2/lib/protocol/SFTP.js') as { SFTP: new (client: unknown, chanInfo: unknown, cfg?: unknown) => SFTPWrapper };

/** A real ssh2 SFTP client object on a fake channel, past its VERSION exchange. */
function client() {
  const sent: Buffer[] = [];
  const protocol = {
    _remoteIdentRaw: 'SSH-2.0-OpenSSH_9.6',
    channelData: (_id: number, data: Buffer) => void sent.push(Buffer.from(data)),
  };
  const outgoing = { id: 0, window: 1 << 30, packetSize: 1 << 20, state: 'open' };
  const sftp = new SFTP({ _protocol: protocol }, { type: 'sftp', incoming: {}, outgoing });
  assert.equal(directReads(sftp), true, 'direct reads installed');
  const internals = sftp as unknown as { push(b: Buffer): void; _init(): void; maxOpenHandles?: number; _maxWriteLen: number };
  const reply = (msg: Buffer) => internals.push(msg);
  /** The requests sent since the last call, as whole packets (the channel may cut them). */
  const framer = new PacketFramer();
  const take = (): Buffer[] => {
    const out: Buffer[] = [];
    framer.push(Buffer.concat(sent.splice(0)), (p) => out.push(frame(p)));
    return out;
  };
  // What Connection's sftp() goes through: INIT, VERSION, then ssh2 asks for limits@openssh.com.
  internals._init();
  assert.deepEqual(take(), [encodeInit(SFTP_VERSION)], 'INIT is the codec INIT');
  reply(encodeVersion(SFTP_VERSION, SERVER_EXTENSIONS));
  const c = { sftp, ops: new RemoteOps(sftp), reply, take };
  const limits = onlyRequest(c);
  assert.deepEqual(limits, { kind: 'limits', id: limits.id });
  reply(encodeLimitsReply(limits.id, { maxPacketLength: 256 * 1024, maxReadLength: 261120, maxWriteLength: 200_000, maxOpenHandles: 0 }));
  assert.equal(internals.maxOpenHandles, Infinity);
  assert.equal(internals._maxWriteLen, 200_000);
  return c;
}

type Client = ReturnType<typeof client>;

function frame(payload: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(payload.length);
  return Buffer.concat([len, payload]);
}

/** The one request sent since the last take(): the codec decodes it and encodes the same bytes. */
function onlyRequest(c: Pick<Client, 'take'>): SftpIdRequest {
  const [packet, ...more] = c.take();
  assert.ok(packet, 'a request was sent');
  assert.equal(more.length, 0);
  const req = decodeRequest(packet.subarray(4));
  assert.notEqual(req.kind, 'init');
  assert.deepEqual(encodeRequest(req), packet, `${req.kind}: the client's bytes are the codec's`);
  return req as SftpIdRequest;
}

const HANDLE = Buffer.from('coffer-handle-0007');

describe('the client and the codec speak one wire format', () => {
  test('INIT and limits@openssh.com are the codec requests; VERSION and the limits reply reach ssh2 as decoded', () => {
    const c = client();
    const ext = (c.sftp as unknown as { _extensions: Record<string, string> })._extensions;
    for (const [name, data] of SERVER_EXTENSIONS) assert.equal(ext[name], data, name);
  });

  test('OPEN (the flags files.ts and tree.ts use), then HANDLE: the handle the codec encoded', async () => {
    const c = client();
    const flags = OpenFlags.WRITE | OpenFlags.CREAT | OpenFlags.TRUNC;
    const opened = c.ops.open('/docs/a b.txt', flags, { mode: 0o644 });
    const req = onlyRequest(c);
    assert.equal(req.kind, 'open');
    if (req.kind !== 'open') return;
    assert.equal(req.path, '/docs/a b.txt');
    assert.equal(req.pflags, flags);
    assert.equal(req.attrs.permissions, 0o644);
    const replyMsg = encodeHandle(req.id, HANDLE);
    const decoded = decodeReply(replyMsg.subarray(4));
    c.reply(replyMsg);
    assert.equal(decoded.kind, 'handle');
    assert.deepEqual(await opened, decoded.kind === 'handle' ? decoded.handle : null);
  });

  test('READ, then DATA through the direct framer: the bytes the codec decodes, in the READ buffer', async () => {
    const c = client();
    const buf = Buffer.alloc(300);
    const read = c.ops.read(HANDLE, buf, 5 * 2 ** 32 + 17);
    const req = onlyRequest(c);
    assert.deepEqual(req, { kind: 'read', id: req.id, handle: HANDLE, offset: 5 * 2 ** 32 + 17, length: 300 });
    const data = randomBytes(200);
    // The server's zero-copy form, cut into pieces as the channel may deliver it.
    const pooled = allocDataReply(256);
    data.copy(pooled, DATA_HEADER_LENGTH);
    const msg = finishDataReply(pooled, req.id, data.length);
    assert.deepEqual(msg, encodeData(req.id, data));
    for (const piece of [msg.subarray(0, 3), msg.subarray(3, 11), msg.subarray(11, 90), msg.subarray(90)]) c.reply(piece);
    const decoded = decodeReply(msg.subarray(4));
    assert.equal(decoded.kind, 'data');
    assert.equal(await read, data.length);
    assert.deepEqual(buf.subarray(0, data.length), decoded.kind === 'data' ? decoded.data : null);
  });

  test("WRITE from RequestWriter's reusable slots, and from sftp.write, is the codec's WRITE", async () => {
    const c = client();
    const w = new RequestWriter(c.sftp, HANDLE, 4096);
    assert.equal(w.direct, true, 'the direct path is the one under test');
    for (const [len, offset] of [
      [4096, 0],
      [1, 2 ** 32 - 1],
      [0, 2 ** 32],
      [1000, Number.MAX_SAFE_INTEGER - 1000],
    ] as const) {
      const slot = w.acquire();
      const data = randomBytes(len);
      data.copy(slot.data);
      const answers: Array<Error | null | undefined> = [];
      w.send(slot, len, offset, (err) => answers.push(err));
      const req = onlyRequest(c);
      assert.deepEqual(req, { kind: 'write', id: req.id, handle: HANDLE, offset, data });
      c.reply(encodeStatus(req.id, StatusCode.OK));
      assert.deepEqual(answers, [undefined]);
    }
    const data = randomBytes(777);
    const written = c.ops.write(HANDLE, data, 12345);
    const req = onlyRequest(c);
    assert.deepEqual(req, { kind: 'write', id: req.id, handle: HANDLE, offset: 12345, data });
    c.reply(encodeStatus(req.id, StatusCode.OK));
    await written;
  });

  test('CLOSE, FSTAT, FSETSTAT, STAT, REMOVE, REALPATH, RENAME, posix-rename: the codec requests; ATTRS and NAME as decoded', async () => {
    const c = client();
    const attrs: FileAttrs = { size: 2 ** 40 + 3, uid: 1000, gid: 100, permissions: 0o100640, atime: 1_700_000_000, mtime: 1_700_000_123 };

    const fstat = c.ops.fstat(HANDLE);
    const fst = onlyRequest(c);
    assert.deepEqual(fst, { kind: 'fstat', id: fst.id, handle: HANDLE });
    c.reply(encodeAttrs(fst.id, attrs));
    const st: Stats = await fstat;
    assert.deepEqual({ size: st.size, uid: st.uid, gid: st.gid, permissions: st.mode, atime: st.atime, mtime: st.mtime }, attrs);

    const ok = (id: number) => encodeStatus(id, StatusCode.OK);
    const cases: Array<[() => Promise<unknown>, Record<string, unknown>, (id: number) => Buffer, unknown]> = [
      [() => c.ops.close(HANDLE), { kind: 'close', handle: HANDLE }, ok, undefined],
      [
        () => c.ops.fsetstat(HANDLE, { mode: 0o600, mtime: 1_700_000_000, atime: 1_700_000_001 }),
        { kind: 'fsetstat', handle: HANDLE, attrs: { permissions: 0o600, atime: 1_700_000_001, mtime: 1_700_000_000 } },
        ok,
        undefined,
      ],
      [() => c.ops.unlink('/x/é.part'), { kind: 'remove', path: '/x/é.part' }, ok, undefined],
      [() => c.ops.realpath('.'), { kind: 'realpath', path: '.' }, (id) => encodePathName(id, '/home/ü'), '/home/ü'],
      [() => c.ops.replace('/a.part', '/a', true), { kind: 'posix-rename', oldPath: '/a.part', newPath: '/a' }, ok, undefined],
    ];
    for (const [call, want, answer, result] of cases) {
      const promise = call();
      const req = onlyRequest(c);
      assert.deepEqual(req, { ...want, id: req.id });
      c.reply(answer(req.id));
      assert.deepEqual(await promise, result);
    }

    // Without posix-rename: REMOVE of the target (its failure ignored), then RENAME.
    const replaced = c.ops.replace('/b.part', '/b', false);
    const remove = onlyRequest(c);
    assert.deepEqual(remove, { kind: 'remove', id: remove.id, path: '/b' });
    c.reply(encodeStatus(remove.id, StatusCode.NO_SUCH_FILE));
    await new Promise<void>((resolve) => setImmediate(resolve));
    const rename = onlyRequest(c);
    assert.deepEqual(rename, { kind: 'rename', id: rename.id, oldPath: '/b.part', newPath: '/b' });
    c.reply(encodeStatus(rename.id, StatusCode.OK));
    await replaced;
  });

  test('STATUS: the code the codec decodes reaches the client, and its text is the codec table', async () => {
    const c = client();
    for (const [code, message, text] of [
      [StatusCode.NO_SUCH_FILE, 'No such file', 'No such file or directory'],
      [StatusCode.PERMISSION_DENIED, 'Permission denied', 'Permission denied'],
      [StatusCode.FAILURE, 'Disk quota exceeded', 'Disk quota exceeded'],
      [StatusCode.OP_UNSUPPORTED, 'whatever', 'Operation unsupported'],
    ] as const) {
      const stat = c.ops.stat('/missing');
      const req = onlyRequest(c);
      assert.deepEqual(req, { kind: 'stat', id: req.id, path: '/missing' });
      const msg = encodeStatus(req.id, code, message);
      const decoded = decodeReply(msg.subarray(4));
      c.reply(msg);
      const err = await stat.then(
        () => assert.fail('stat resolved'),
        (e: unknown) => e,
      );
      assert.equal(decoded.kind, 'status');
      assert.equal(sftpCode(err), decoded.kind === 'status' ? decoded.code : -1);
      assert.equal(reasonOf(err), text);
    }
    const missing = c.ops.statOrNull('/gone');
    const req = onlyRequest(c);
    c.reply(encodeStatus(req.id, StatusCode.NO_SUCH_FILE));
    assert.equal(await missing, null);
  });
});
