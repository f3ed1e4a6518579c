/**
 * Issue 23 (hardening), "scp `C` lines whose size lies": a raw client speaks to the scp sink
 * (`scp -t`) as a user with a quota. Each lie (more data promised than sent, then EOF; less
 * promised than sent, then a next record; sizes past 2^53, signed, spelled with other characters or
 * thousands of digits; a garbage mode; names with `/`, `..`, empty or over 255 bytes; a file past
 * the quota that hangs up) must end in one clear `\x02scp: ...` line the client can read, keep what
 * was stored (charged: the saved usage equals the disk), touch nothing outside the home, and leave
 * the server serving another user.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { addQuotaUser, assertSettled, PASSWORD, startQuotaServer, type QuotaServer } from '../support/quota-helpers.js';
import { connect } from '../support/ssh-clients.js';

const QUOTA = 100_000;

describe('hardening: scp C records whose size lies (issue 23)', { timeout: 60_000 }, () => {
  let ts: QuotaServer;
  let home: string;

  before(async () => {
    ts = await startQuotaServer();
    home = await addQuotaUser(ts, 'eve', QUOTA);
    await addQuotaUser(ts, 'bob', null);
    await mkdir(join(ts.root, 'outside'));
    await writeFile(join(ts.root, 'outside', 'keep'), 'canary');
  });
  after(() => ts.close());

  /** Runs `command` as eve, writes `input`, ends her side; resolves with what came back. */
  async function rawScp(command: string, input: Array<string | Buffer>): Promise<{ code: number | null; out: string }> {
    const client = await connect(ts.port, { username: 'eve', password: PASSWORD });
    try {
      return await new Promise((resolve, reject) => {
        client.exec(command, (err, ch) => {
          if (err) return reject(err);
          const out: Buffer[] = [];
          let code: number | null = null;
          ch.on('data', (d: Buffer) => out.push(d));
          ch.stderr.resume();
          ch.on('exit', (c: number | null) => (code = c));
          ch.on('close', () => resolve({ code, out: Buffer.concat(out).toString('latin1') }));
          for (const part of input) ch.write(part);
          ch.end();
        });
      });
    } finally {
      client.end();
    }
  }

  /** Bob lists his home while eve's sessions run: the server still serves others. */
  async function bobLists(): Promise<void> {
    const bob = await connect(ts.port, { username: 'bob', password: PASSWORD });
    try {
      const sftp = await new Promise<import('ssh2').SFTPWrapper>((resolve, reject) => bob.sftp((err, s) => (err ? reject(err) : resolve(s))));
      await new Promise<void>((resolve, reject) => sftp.readdir('/', (err) => (err ? reject(err) : resolve())));
    } finally {
      bob.end();
    }
  }

  const cases: Array<{ what: string; input: Array<string | Buffer>; out: string; file?: [string, number] }> = [
    { what: 'more promised than sent, then EOF', input: ['C0644 1000 larger\n', Buffer.alloc(100, 1)], out: '\0\0\x02scp: ./larger: input ended after 100 of 1000 bytes\n', file: ['larger', 100] },
    {
      what: 'less promised than sent, then a next record',
      input: ['C0644 5 smaller\n', 'helloEXTRA\0C0644 3 next\nabc\0'],
      out: '\0\0\x02scp: protocol error: expected a status byte, got 0x45\n',
      file: ['smaller', 5],
    },
    { what: 'a size past 2^53', input: ['C0644 9007199254740993 x\n'], out: '\0\x02scp: protocol error: size out of range\n' },
    { what: 'a negative size', input: ['C0644 -1 x\n'], out: '\0\x02scp: protocol error: size not present\n' },
    { what: 'a size with a +', input: ['C0644 +5 x\nhello\0'], out: '\0\x02scp: protocol error: size not present\n' },
    { what: 'a size with other characters', input: ['C0644 5x x\nhello\0'], out: '\0\x02scp: protocol error: size not delimited\n' },
    { what: 'a size of 4000 digits', input: [`C0644 ${'9'.repeat(4000)} x\n`], out: '\0\x02scp: protocol error: size out of range\n' },
    { what: 'a garbage mode', input: ['C06z4 5 x\nhello\0'], out: '\0\x02scp: protocol error: bad mode\n' },
    { what: 'a name with a slash', input: ['C0644 5 ../up\nhello\0'], out: '\0\x02scp: error: unexpected filename: ../up\n' },
    { what: 'the name ..', input: ['C0644 5 ..\nhello\0'], out: '\0\x02scp: error: unexpected filename: ..\n' },
    { what: 'an empty name', input: ['C0644 5 \nhello\0'], out: '\0\x02scp: error: unexpected filename: \n' },
    { what: 'a name of 256 bytes', input: [`C0644 5 ${'n'.repeat(256)}\nhello\0`], out: `\0\x02scp: error: unexpected filename: ${'n'.repeat(200)}...\n` },
    {
      what: 'a status line past its length limit',
      input: ['C0644 5 status\nhello\x01', 'x'.repeat(5000)],
      out: '\0\0\x02scp: protocol error: record too long\n',
      file: ['status', 5],
    },
    // Quota 100000: the first 60000 fit; the second file's first block does not, and she hangs up.
    {
      what: 'a file past the quota, then EOF',
      input: ['C0644 60000 fits\n', Buffer.alloc(60_000, 2), '\0', 'C0644 9007199254740991 over\n', Buffer.alloc(60_000, 3)],
      out: '\0\0\0\0\x02scp: ./over: Quota exceeded\n',
      file: ['fits', 60_000],
    },
  ];

  for (const c of cases) {
    it(`${c.what}: one clear fatal line`, async () => {
      const served = bobLists();
      const r = await rawScp('scp -t .', c.input);
      await served;
      assert.equal(r.out, c.out);
      assert.equal(r.code, 1, 'exit status 1');
      if (c.file) assert.equal((await stat(join(home, c.file[0]))).size, c.file[1], `${c.file[0]} keeps what was stored`);
    });
  }

  it('afterwards: nothing outside the home, only the names given, and usage equals the disk', async () => {
    assert.deepEqual(await readdir(join(ts.root, 'outside')), ['keep']);
    assert.equal(await readFile(join(ts.root, 'outside', 'keep'), 'utf8'), 'canary');
    assert.deepEqual((await readdir(join(ts.root, 'homes'))).sort(), ['bob', 'eve']);
    const names = (await readdir(home)).sort();
    assert.deepEqual(names, ['fits', 'larger', 'over', 'smaller', 'status'], 'the refused records created nothing');
    const disk = await assertSettled(ts, 'eve');
    assert.ok(disk <= QUOTA, `disk ${disk} within the quota`);
    assert.ok(ts.logs.events('scp.error').length === 0, 'no record reached the "internal error" path');
  });
});
