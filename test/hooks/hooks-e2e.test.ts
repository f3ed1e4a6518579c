/**
 * Every hook event of SPEC §8 end to end with real clients: OpenSSH `sftp -b` (login, mkdir,
 * upload, download, rename, remove, rmdir, logout, quota-refused), OpenSSH `scp -O` (legacy scp:
 * upload, download, mkdir through -r, quota-refused), and an ssh2 client that drops its connection
 * in the middle of an upload (outcome interrupted). A recorder program (run directly, no shell)
 * saves each event's stdin and environment; a node:http receiver checks the signature of the post
 * hook and answers 500 twice before 200 (the delivery is retried).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readRecorded, startReceiver, waitRecorded, writeRecorder, type Receiver, type Recorded } from '../support/hook-programs.js';
import { addQuotaUser, FXF, homeOf, KiB, opensshSftp, RawSession, startQuotaServer, type QuotaServer } from '../support/quota-helpers.js';
import { run, type RunResult } from '../support/ssh-clients.js';
import { waitFor } from '../support/wait.js';

const SECRET = 'webhook-secret-do-not-log';
const ALL = ['upload', 'download', 'remove', 'rename', 'mkdir', 'rmdir', 'login', 'logout', 'quota-refused'];

describe('hooks end to end (sftp and scp)', () => {
  let ts: QuotaServer;
  let records: string;
  let receiver: Receiver;
  let local: string;
  const savedDatabase = process.env.COFFER_DATABASE;

  before(async () => {
    records = await mkdtemp(join(tmpdir(), 'coffer-hook-records-'));
    local = await mkdtemp(join(tmpdir(), 'coffer-hook-local-'));
    const recorder = await writeRecorder(local);
    receiver = await startReceiver(SECRET, (n) => (n < 2 ? 500 : 200));
    // Something of the server's environment a hook must not see.
    process.env.COFFER_DATABASE = 'postgres://coffer:hunter2@db.example/coffer';
    const hooks = [
      { on: ALL, run: [recorder, records] },
      { on: ['mkdir'], post: receiver.url, secret: SECRET },
    ];
    ts = await startQuotaServer({ hooks: JSON.stringify(hooks), hookTimeoutSeconds: 20 }, { hookRetryBaseMs: 20 });
    await addQuotaUser(ts, 'alice', null);
    await addQuotaUser(ts, 'bob', 10 * KiB);
    await writeFile(join(local, 'small.bin'), Buffer.alloc(3000, 7));
    await writeFile(join(local, 'big.bin'), Buffer.alloc(40 * KiB, 8));
    await mkdir(join(local, 'tree'));
    await writeFile(join(local, 'tree', 'inner.txt'), 'inner');
  });
  after(async () => {
    if (savedDatabase === undefined) delete process.env.COFFER_DATABASE;
    else process.env.COFFER_DATABASE = savedDatabase;
    await ts?.close();
    await receiver?.close();
    await rm(records, { recursive: true, force: true });
    await rm(local, { recursive: true, force: true });
  });

  const ok = (r: RunResult, what: string) => assert.equal(r.code, 0, `${what}: ${r.stderr}`);
  const scp = (...args: string[]) =>
    run('scp', ['-O', '-q', '-F', '/dev/null', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes',
      '-o', 'IdentitiesOnly=yes', '-i', ts.key.privatePath, '-P', String(ts.port), ...args], { timeoutMs: 30_000 });
  const of = (all: Recorded[], event: string, fields: Record<string, unknown> = {}) =>
    all.filter((r) => r.event.event === event && Object.entries(fields).every(([k, v]) => r.event[k] === v));
  /** Waits until the runs recorded so far satisfy `cond`; returns them. */
  const until = async (cond: (all: Recorded[]) => boolean): Promise<Recorded[]> => {
    let all: Recorded[] = [];
    await waitFor(async () => cond((all = await readRecorded(records))), 20_000, 'hook runs recorded');
    return all;
  };
  const one = (all: Recorded[], event: string, fields: Record<string, unknown> = {}): Recorded => {
    const found = of(all, event, fields);
    assert.equal(found.length, 1, `one ${event} ${JSON.stringify(fields)} in ${JSON.stringify(all.map((r) => r.event))}`);
    return found[0]!;
  };

  it('sftp: login, mkdir, upload, download, rename, remove, rmdir, logout, each once with its fields', async () => {
    const r = await opensshSftp(ts, 'alice', ['mkdir d', 'put small.bin d/a.bin', 'get d/a.bin got.bin', 'rename d/a.bin d/b.bin', 'rm d/b.bin', 'rmdir d'], local);
    ok(r, 'sftp batch');
    // Each event is its own run of the recorder: they may finish in any order.
    const all = await until((a) => ['login', 'mkdir', 'upload', 'download', 'rename', 'remove', 'rmdir', 'logout'].every((e) => of(a, e, { user: 'alice' }).length > 0));
    const home = homeOf(ts, 'alice');
    const login = one(all, 'login', { user: 'alice' });
    assert.equal(login.event.protocol, null);
    assert.equal(login.event.address, '127.0.0.1');
    assert.equal(login.event.node, hostname());
    const up = one(all, 'upload', { user: 'alice', path: '/d/a.bin' });
    assert.deepEqual({ ...up.event, time: 'T' }, {
      event: 'upload', time: 'T', user: 'alice', path: '/d/a.bin', target: null, localPath: join(home, 'd/a.bin'), localTarget: null,
      bytes: 3000, outcome: 'ok', protocol: 'sftp', address: '127.0.0.1', node: hostname(),
    });
    assert.ok(!Number.isNaN(Date.parse(String(up.event.time))) && String(up.event.time).endsWith('Z'), 'ISO 8601 time');
    const down = one(all, 'download', { user: 'alice', path: '/d/a.bin' });
    assert.equal(down.event.bytes, 3000);
    assert.equal(down.event.outcome, 'ok');
    const ren = one(all, 'rename', { user: 'alice' });
    assert.equal(ren.event.path, '/d/a.bin');
    assert.equal(ren.event.target, '/d/b.bin');
    assert.equal(ren.event.localTarget, join(home, 'd/b.bin'));
    one(all, 'remove', { user: 'alice', path: '/d/b.bin', localPath: join(home, 'd/b.bin') });
    one(all, 'mkdir', { user: 'alice', path: '/d', protocol: 'sftp' });
    one(all, 'rmdir', { user: 'alice', path: '/d', protocol: 'sftp' });
    one(all, 'logout', { user: 'alice' });
    // The environment: PATH and the four COFFER_ variables, nothing else of the server's.
    assert.deepEqual(Object.keys(up.env).sort(), ['COFFER_EVENT', 'COFFER_LOCAL_PATH', 'COFFER_PATH', 'COFFER_USER', 'PATH']);
    assert.deepEqual([up.env.COFFER_EVENT, up.env.COFFER_USER, up.env.COFFER_PATH, up.env.COFFER_LOCAL_PATH], ['upload', 'alice', '/d/a.bin', join(home, 'd/a.bin')]);
    assert.equal(login.env.COFFER_PATH, '');
  });

  it('post hook: signed JSON, retried after two 500 answers until the 200', async () => {
    await waitFor(() => receiver.requests.length >= 3, 20_000, 'three deliveries');
    const [a, b, c] = receiver.requests;
    assert.deepEqual([a!.status, b!.status, c!.status], [500, 500, 200]);
    assert.ok(receiver.requests.every((q) => q.signatureOk), 'every signature verifies');
    assert.equal(a!.body, c!.body, 'the same body each time');
    assert.equal(a!.contentType, 'application/json');
    assert.equal(JSON.parse(c!.body).event, 'mkdir');
    assert.equal(ts.logs.events('hook.failed').length, 0);
    assert.ok(!ts.logs.text().includes(SECRET), 'the secret is never logged');
  });

  it('sftp: an upload cut off by the connection ending is `interrupted`', async () => {
    const s = await RawSession.open(ts, 'alice');
    const h = await s.openFile('/cut.bin', FXF.WRITE | FXF.CREAT | FXF.TRUNC);
    await s.write(h, Buffer.alloc(1000, 1), 0);
    s.client.end();
    const all = await waitRecorded(records, (x) => x.event.path === '/cut.bin');
    const up = one(all, 'upload', { path: '/cut.bin' });
    assert.equal(up.event.outcome, 'interrupted');
    assert.equal(up.event.bytes, 1000);
  });

  it('sftp: an upload over the quota gives quota-refused and an upload with outcome quota-exceeded', async () => {
    const r = await opensshSftp(ts, 'bob', ['put big.bin over.bin'], local);
    assert.notEqual(r.code, 0);
    const all = await until((a) => of(a, 'upload', { path: '/over.bin' }).length > 0 && of(a, 'quota-refused', { path: '/over.bin' }).length > 0);
    const up = one(all, 'upload', { user: 'bob', path: '/over.bin' });
    assert.equal(up.event.outcome, 'quota-exceeded');
    assert.equal(up.event.protocol, 'sftp');
    assert.ok(of(all, 'quota-refused', { user: 'bob', path: '/over.bin', protocol: 'sftp' }).length >= 1);
  });

  it('scp: upload, download and a tree (mkdir) with protocol scp', async () => {
    ok(await scp(join(local, 'small.bin'), 'alice@127.0.0.1:s.bin'), 'scp upload');
    ok(await scp('alice@127.0.0.1:s.bin', join(local, 's-back.bin')), 'scp download');
    ok(await scp('-r', join(local, 'tree'), 'alice@127.0.0.1:'), 'scp -r upload');
    const all = await waitRecorded(records, (x) => x.event.protocol === 'scp' && ['/s.bin', '/tree', '/tree/inner.txt'].includes(String(x.event.path)), 4);
    const home = homeOf(ts, 'alice');
    const up = one(all, 'upload', { path: '/s.bin', protocol: 'scp' });
    assert.equal(up.event.bytes, 3000);
    assert.equal(up.event.outcome, 'ok');
    assert.equal(up.event.localPath, join(home, 's.bin'));
    assert.equal(one(all, 'download', { path: '/s.bin', protocol: 'scp' }).event.bytes, 3000);
    one(all, 'mkdir', { path: '/tree', protocol: 'scp' });
    assert.equal(one(all, 'upload', { path: '/tree/inner.txt', protocol: 'scp' }).event.bytes, 5);
  });

  it('scp: an upload over the quota gives quota-refused and outcome quota-exceeded', async () => {
    const r = await scp(join(local, 'big.bin'), 'bob@127.0.0.1:over-scp.bin');
    assert.notEqual(r.code, 0);
    const all = await until((a) => of(a, 'upload', { path: '/over-scp.bin' }).length > 0 && of(a, 'quota-refused', { path: '/over-scp.bin' }).length > 0);
    assert.equal(one(all, 'upload', { path: '/over-scp.bin', protocol: 'scp' }).event.outcome, 'quota-exceeded');
    assert.ok(of(all, 'quota-refused', { path: '/over-scp.bin', protocol: 'scp' }).length >= 1);
  });

  it('every event arrived once per operation and no hook failed', async () => {
    const all = await readRecorded(records);
    assert.deepEqual([...new Set(all.map((r) => r.event.event))].sort(), [...ALL].sort());
    assert.deepEqual(ts.logs.events('hook.failed'), []);
    assert.deepEqual(ts.logs.events('hook.dropped'), []);
  });
});
