/**
 * An SFTP session whose connection dies while it holds its channel paused. ssh2 emits a server
 * channel's 'close' only after its 'end', and 'end' only comes once the buffered input is read,
 * which a session waiting for 'drain' never does: without the connection's abort signal such a
 * session kept its files open forever (found when a SIGKILLed `coffer get` left big-down.bin open
 * in the server). Here a channel stands in for ssh2's: its peer stops acknowledging replies, sends
 * more requests, then EOF; aborting the signal must end the session and close its handles.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { decodeReply, encodeRequest } from '../../src/sftp/packets/packet.js';
import { OpenFlags } from '../../src/sftp/constants.js';
import { PacketFramer } from '../../src/sftp/framing.js';
import { serveSftp } from '../../src/sftp/sftp-session.js';
import { LocalVfs } from '../../src/vfs/local-vfs.js';

/** Like ssh2's server channel: no 'close' of its own (emitClose false); replies acknowledged until stalled. */
class StallingChannel extends Duplex {
  stalled = false;
  readonly replies: Buffer[] = [];
  private readonly framer = new PacketFramer(1 << 20);
  constructor() {
    super({ emitClose: false, allowHalfOpen: true });
  }
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.framer.push(Buffer.from(chunk), (p) => this.replies.push(Buffer.from(p)));
    if (!this.stalled) cb(); // stalled: the callback never comes (a peer that stopped reading)
  }
}

async function fdsOn(path: string): Promise<number> {
  let n = 0;
  for (const fd of await readdir('/proc/self/fd')) if ((await readlink(`/proc/self/fd/${fd}`).catch(() => '')) === path) n++;
  return n;
}

describe('SFTP session and a dead connection', () => {
  let home: string;
  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'coffer-session-abort-'));
    await writeFile(join(home, 'f.bin'), Buffer.alloc(1024 * 1024, 7));
  });
  after(() => rm(home, { recursive: true, force: true }));

  it('ends when the connection is aborted while paused for drain, closing its files', async () => {
    const vfs = await LocalVfs.create(home, { symlinks: false });
    const channel = new StallingChannel();
    const abort = new AbortController();
    const session = serveSftp(channel, { vfs, user: 'u', log: pino({ level: 'silent' }), maxHandles: 8, signal: abort.signal });
    let ended = false;
    channel.on('end', () => (ended = true));
    const send = (req: Parameters<typeof encodeRequest>[0]) => channel.push(encodeRequest(req));
    const reply = async (n: number) => {
      while (channel.replies.length < n) await new Promise((r) => setImmediate(r));
      return decodeReply(channel.replies[n - 1]!);
    };
    send({ kind: 'init', version: 3 });
    await reply(1);
    send({ kind: 'open', id: 1, path: '/f.bin', pflags: OpenFlags.READ, attrs: {} });
    const opened = await reply(2);
    assert.equal(opened.kind, 'handle');
    const handle = (opened as { handle: Buffer }).handle;
    assert.equal(await fdsOn(join(home, 'f.bin')), 1);
    channel.stalled = true;
    for (let id = 2; id < 300; id++) send({ kind: 'read', id, handle, offset: 0, length: 261120 });
    // The replies back up, the session pauses the channel; requests and EOF stay buffered.
    while (!channel.isPaused() || channel.writableLength === 0) await new Promise((r) => setImmediate(r));
    channel.push(null);
    assert.ok(channel.readableLength > 0, 'input is left unread');
    abort.abort('connection closed');
    await session.done;
    assert.equal(ended, false, "the channel never reached 'end': the abort ended the session");
    assert.equal(await fdsOn(join(home, 'f.bin')), 0, 'the file is closed');
  });

  it('ends at once when the signal was already aborted', async () => {
    const vfs = await LocalVfs.create(home, { symlinks: false });
    const channel = new StallingChannel();
    const session = serveSftp(channel, { vfs, user: 'u', log: pino({ level: 'silent' }), maxHandles: 8, signal: AbortSignal.abort() });
    await session.done;
  });
});
