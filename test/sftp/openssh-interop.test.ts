/**
 * The codec against the real thing: OpenSSH's sftp-server spoken to over its stdin/stdout. Our
 * request encoders must be understood, its replies must decode, and its READDIR longnames must
 * equal formatLongname() byte for byte. Skipped where sftp-server is not installed.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PacketFramer } from '../../src/sftp/framing.js';
import { decodeReply, encodeRequest, type SftpReply } from '../../src/sftp/packets/packet.js';
import { decodeLimitsReply, decodeStatvfsReply } from '../../src/sftp/packets/extended-reply.js';
import { formatLongname } from '../../src/sftp/longname.js';
import { MAX_MESSAGE_LENGTH, MAX_READ_WRITE_LENGTH } from '../../src/sftp/constants.js';
import type { SftpRequest } from '../../src/sftp/request-types.js';

const SERVER = ['/usr/lib/openssh/sftp-server', '/usr/libexec/openssh/sftp-server', '/usr/libexec/sftp-server'].find((p) => existsSync(p));

/** Names of ids from /etc/passwd or /etc/group (OpenSSH prints the number when there is none). */
function idName(file: string, id: number): string {
  const line = readFileSync(file, 'utf8').split('\n').find((l) => l.split(':')[2] === String(id));
  return line?.split(':')[0] ?? String(id);
}

class RawSftp {
  private readonly proc: ChildProcessWithoutNullStreams;
  private readonly framer = new PacketFramer();
  private readonly waiting: Array<(r: SftpReply) => void> = [];

  constructor(cwd: string) {
    this.proc = spawn(SERVER!, [], { cwd, env: { ...process.env, TZ: 'UTC' } });
    this.proc.stdout.on('data', (chunk: Buffer) => this.framer.push(chunk, (p) => this.waiting.shift()?.(decodeReply(p))));
  }

  /** Sends one request and resolves with the next reply (requests are sent one at a time). */
  call(req: SftpRequest): Promise<SftpReply> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.proc.stdin.write(encodeRequest(req));
    });
  }

  close(): void {
    this.proc.kill();
  }
}

describe('OpenSSH sftp-server interop', { skip: SERVER === undefined ? 'no sftp-server here' : false, timeout: 10_000 }, () => {
  let base = '';
  let dir = '';
  let sftp: RawSftp;
  const NOW = Math.floor(Date.now() / 1000);

  before(() => {
    // A private parent: the listing's `..` entry must not be the shared temp folder, whose link
    // count changes whenever another process makes or removes a folder there.
    base = mkdtempSync(join(tmpdir(), 'coffer-sftp-interop-'));
    dir = join(base, 'listing');
    mkdirSync(dir);
    writeFileSync(join(dir, 'recent.txt'), 'x'.repeat(1234), { mode: 0o640 });
    utimesSync(join(dir, 'recent.txt'), NOW - 3600, NOW - 3600);
    writeFileSync(join(dir, 'old file é.bin'), Buffer.alloc(99999));
    utimesSync(join(dir, 'old file é.bin'), 1_000_000_000, 1_000_000_000);
    mkdirSync(join(dir, 'sub'), { mode: 0o750 });
    sftp = new RawSftp(dir);
  });
  after(() => {
    sftp.close();
    rmSync(base, { recursive: true, force: true });
  });

  test('INIT -> VERSION 3 with extensions, then limits@openssh.com', async () => {
    const version = await sftp.call({ kind: 'init', version: 3 });
    assert.equal(version.kind, 'version');
    if (version.kind !== 'version') return;
    assert.equal(version.version, 3);
    const names = version.extensions.map(([n]) => n);
    assert.ok(names.includes('posix-rename@openssh.com'));
    if (!names.includes('limits@openssh.com')) return;
    const reply = await sftp.call({ kind: 'limits', id: 1 });
    assert.equal(reply.kind, 'extended-reply');
    if (reply.kind !== 'extended-reply') return;
    const limits = decodeLimitsReply(reply.data);
    assert.equal(limits.maxPacketLength, MAX_MESSAGE_LENGTH);
    assert.equal(limits.maxReadLength, MAX_READ_WRITE_LENGTH);
    assert.equal(limits.maxWriteLength, MAX_READ_WRITE_LENGTH);
  });

  test('statvfs@openssh.com decodes', async () => {
    const reply = await sftp.call({ kind: 'statvfs', id: 2, path: dir });
    assert.equal(reply.kind, 'extended-reply');
    if (reply.kind === 'extended-reply') assert.ok(decodeStatvfsReply(reply.data).bsize > 0);
  });

  test('REALPATH answers a one-entry NAME', async () => {
    const reply = await sftp.call({ kind: 'realpath', id: 3, path: '.' });
    assert.equal(reply.kind, 'name');
    if (reply.kind === 'name') assert.equal(reply.entries.length, 1);
  });

  test('READDIR longnames equal formatLongname byte for byte', async () => {
    const opened = await sftp.call({ kind: 'opendir', id: 4, path: dir });
    assert.equal(opened.kind, 'handle');
    if (opened.kind !== 'handle') return;
    const seen = new Map<string, string>();
    for (let id = 5; ; id++) {
      const reply = await sftp.call({ kind: 'readdir', id, handle: opened.handle });
      if (reply.kind !== 'name') break;
      for (const e of reply.entries) {
        const st = lstatSync(join(dir, e.filename));
        const owner = idName('/etc/passwd', st.uid);
        const group = idName('/etc/group', st.gid);
        const ours = formatLongname(e.filename, e.attrs, { owner, group, nlink: st.nlink, timeZone: 'utc' });
        assert.equal(ours, e.longname);
        seen.set(e.filename, e.longname);
      }
    }
    assert.ok(seen.has('recent.txt') && seen.has('old file é.bin') && seen.has('sub'), [...seen.keys()].join());
    assert.match(seen.get('old file é.bin')!, / Sep  9  2001 old file é\.bin$/);
  });
});
