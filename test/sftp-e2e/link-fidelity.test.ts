/**
 * Issue 21, fix 1: symlinks keep their text over the wire. A relative link reads back as stored
 * (OpenSSH's sftp-server answers readlink(2)'s text), so clients that copy a tree keep its links
 * relative: OpenSSH's `ln -s` stores what it sends, paramiko's readlink, a raw READLINK and lftp's
 * mirror read it back as it is. An admin-made absolute link inside the home reads back as the
 * user's path; links leading out, or climbing out and back, answer like a missing file.
 */
import assert from 'node:assert/strict';
import { lstat, mkdir, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { addQuotaUser, opensshSftp, paramiko, PASSWORD, startQuotaServer, type QuotaServer } from '../support/quota-helpers.js';
import { expectStatus, nameOf, RawSftp, StatusCode } from '../support/sftp-raw.js';
import { run } from '../support/ssh-clients.js';

describe('symlink text over the wire (symlinks on)', () => {
  let ts: QuotaServer;
  let home: string;
  const h = (p: string) => join(home, p);

  before(async () => {
    ts = await startQuotaServer({ symlinks: true });
    home = await addQuotaUser(ts, 'alice', null);
    await writeFile(h('inner.txt'), 'inner');
    await mkdir(h('docs/v2'), { recursive: true });
    await writeFile(h('docs/v2/guide.md'), 'guide');
    await mkdir(join(ts.root, 'outside'));
    await writeFile(join(ts.root, 'outside', 'secret.txt'), 'secret');
  });
  after(async () => {
    await ts.close();
  });

  it("OpenSSH's ln -s stores the text it sends; ls -l shows the link's own size, as with OpenSSH's server", async () => {
    const r = await opensshSftp(ts, 'alice', ['ln -s inner.txt lnk', 'ln -s v2/guide.md docs/latest', 'ln -s ../inner.txt docs/up', 'ln -s ../docs/v2/guide.md docs/long', 'ls -l', 'ls -l docs']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await readlink(h('lnk')), 'inner.txt');
    assert.equal(await readlink(h('docs/latest')), 'v2/guide.md');
    assert.equal(await readlink(h('docs/up')), '../inner.txt');
    assert.equal(await readlink(h('docs/long')), '../docs/v2/guide.md', 'not shortened to v2/guide.md');
    // OpenSSH's sftp prints the server's long names; a link's size is the length of its text.
    assert.match(r.stdout, /^lrwxrwxrwx .* 9 .* lnk$/m);
    assert.match(r.stdout, /^lrwxrwxrwx .* 11 .* (docs\/)?latest$/m);
    assert.match(r.stdout, /^lrwxrwxrwx .* 12 .* (docs\/)?up$/m);
    assert.match(r.stdout, /^lrwxrwxrwx .* 19 .* (docs\/)?long$/m);
  });

  it("paramiko's readlink gives the relative text back as stored", async () => {
    const r = await paramiko(ts, 'alice', ['lnk', 'docs/latest', 'docs/up', 'docs/long'].map((p) => `print(sftp.readlink(${JSON.stringify(p)}))`).join('\n'));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['inner.txt', 'v2/guide.md', '../inner.txt', '../docs/v2/guide.md']);
  });

  it('a raw READLINK: relative as stored, an admin-made absolute link inside as the user path, outside refused', async () => {
    await symlink(h('docs/v2/guide.md'), h('admin-abs'));
    await symlink(join(ts.root, 'outside', 'secret.txt'), h('admin-out'));
    await symlink('../alice/inner.txt', h('back-in')); // climbs out of the home and back in
    await symlink('../outside/secret.txt', h('rel-out'));
    const s = await RawSftp.connect(ts.port, { username: 'alice', password: PASSWORD });
    try {
      assert.equal(nameOf(await s.request({ kind: 'readlink', path: '/lnk' })), 'inner.txt');
      assert.equal(nameOf(await s.request({ kind: 'readlink', path: 'docs/latest' })), 'v2/guide.md');
      assert.equal(nameOf(await s.request({ kind: 'readlink', path: '/admin-abs' })), '/docs/v2/guide.md');
      for (const path of ['admin-out', 'back-in', 'rel-out']) {
        const r = expectStatus(await s.request({ kind: 'readlink', path }), StatusCode.NO_SUCH_FILE, `READLINK ${path}`);
        assert.ok(!r.message.includes(ts.root), r.message);
      }
    } finally {
      s.client.end();
    }
  });

  it("lftp's mirror copies the tree with its links relative", async (t) => {
    const probe = await run('lftp', ['--version']).catch(() => null);
    if (probe?.code !== 0) return void t.skip('lftp is not installed');
    const local = join(ts.scratch, 'mirror');
    const r = await run('lftp', ['-c', [
      'set sftp:auto-confirm yes',
      `set sftp:connect-program "ssh -a -x -F /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -i ${ts.key.privatePath}"`,
      'set net:max-retries 1',
      `open -u alice, sftp://127.0.0.1:${ts.port}`,
      `mirror -x ^admin- -x ^back-in -x ^rel-out / ${local}`,
    ].join('; ')], { timeoutMs: 30_000, env: { ...process.env, HOME: ts.scratch } });
    assert.equal(r.code, 0, r.stderr);
    assert.ok((await lstat(join(local, 'lnk'))).isSymbolicLink(), 'lnk is a link in the copy');
    assert.equal(await readlink(join(local, 'lnk')), 'inner.txt');
    assert.equal(await readlink(join(local, 'docs', 'latest')), 'v2/guide.md');
    assert.equal(await readlink(join(local, 'docs', 'up')), '../inner.txt');
    assert.equal(await readlink(join(local, 'docs', 'long')), '../docs/v2/guide.md');
  });
});
