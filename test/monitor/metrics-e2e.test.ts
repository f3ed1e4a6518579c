/**
 * metricsListen end to end: a real server, real clients (OpenSSH sftp and scp -O, ssh2), then
 * GET /metrics checked by value and by Prometheus' own parser (`promtool check metrics`, Debian's
 * `prometheus` package: required), and GET /healthz while the store answers and while it does not.
 * The listener's other answers: 404, 405, HEAD, a request with a body.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { addQuotaUser, FXF, KiB, opensshSftp, RawSession, startQuotaServer, type QuotaServer } from '../support/quota-helpers.js';
import { run, tryLogin } from '../support/ssh-clients.js';
import { waitFor } from '../support/wait.js';

/** One HTTP exchange with the metrics listener. */
interface Answer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

function http(port: number, method: string, path: string, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The value of one sample (`name{labels}` exactly as printed), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Runs promtool on the text; CI installs it (Debian package `prometheus`, .ci/run). */
function promtool(text: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) throw new Error(`promtool is required (apt-get install prometheus): ${r.error.message}`);
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('metrics and health end to end', () => {
  let ts: QuotaServer;
  let port: number;
  let local: string;
  const metrics = async () => (await http(port, 'GET', '/metrics')).body;

  before(async () => {
    ts = await startQuotaServer({ metricsListen: '127.0.0.1:0', banThreshold: 2 });
    port = ts.server.metricsAddress!.port;
    await addQuotaUser(ts, 'alice', null);
    await addQuotaUser(ts, 'bob', 10 * KiB);
    local = await mkdtemp(join(tmpdir(), 'coffer-metrics-local-'));
    await writeFile(join(local, 'f.bin'), Buffer.alloc(5000, 1));
  });
  after(async () => {
    await ts?.close();
    await rm(local, { recursive: true, force: true });
  });

  it('GET /healthz answers 200 ok while the store answers', async () => {
    const r = await http(port, 'GET', '/healthz');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'ok\n');
  });

  it('unknown paths 404, other methods 405, HEAD without a body, a body is never read', async () => {
    assert.equal((await http(port, 'GET', '/')).status, 404);
    assert.equal((await http(port, 'GET', '/metrics/../etc')).status, 404);
    const post = await http(port, 'POST', '/metrics', 'x'.repeat(100_000));
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
    assert.equal(post.headers.connection, 'close');
    const head = await http(port, 'HEAD', '/metrics');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.match(String(head.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  });

  it('counts connections, sessions, logins, transfers, bans and quota refusals, with no user label', async () => {
    const s = await RawSession.open(ts, 'alice');
    const h = await s.openFile('/open.bin', FXF.WRITE | FXF.CREAT | FXF.TRUNC);
    let text = await metrics();
    assert.ok(sample(text, 'coffer_connections')! >= 1);
    assert.equal(sample(text, 'coffer_sessions{kind="sftp"}'), 1);
    assert.equal(sample(text, 'coffer_open_files'), 1);
    await s.closeFile(h);
    await s.end();

    const sftp = await opensshSftp(ts, 'alice', ['put f.bin a.bin', 'get a.bin b.bin'], local);
    assert.equal(sftp.code, 0, sftp.stderr);
    const scp = await run('scp', ['-O', '-q', '-F', '/dev/null', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes',
      '-o', 'IdentitiesOnly=yes', '-i', ts.key.privatePath, '-P', String(ts.port), join(local, 'f.bin'), 'alice@127.0.0.1:c.bin']);
    assert.equal(scp.code, 0, scp.stderr);
    const bob = await RawSession.open(ts, 'bob');
    await assert.rejects(bob.putFile('/big.bin', Buffer.alloc(20 * KiB)));
    await bob.end();
    // Two failures from 127.0.0.2 ban it (banThreshold 2); 127.0.0.1 stays usable.
    for (let i = 0; i < 2; i++) assert.notEqual(await tryLogin(ts.port, { username: 'alice', password: 'wrong', localAddress: '127.0.0.2' }), 'ok');

    await waitFor(async () => sample((text = await metrics()), 'coffer_sessions{kind="scp"}') === 0 && sample(text, 'coffer_connections') === 0, 10_000, 'sessions ended');
    assert.equal(sample(text, 'coffer_sessions{kind="sftp"}'), 0);
    assert.equal(sample(text, 'coffer_open_files'), 0);
    assert.equal(sample(text, 'coffer_transfers_total{direction="upload",outcome="ok"}'), 3); // open.bin, a.bin, c.bin
    assert.equal(sample(text, 'coffer_transfers_total{direction="download",outcome="ok"}'), 1);
    assert.equal(sample(text, 'coffer_transfers_total{direction="upload",outcome="quota-exceeded"}'), 1);
    // bob's one 20 KiB WRITE was refused whole: his upload moved no bytes.
    assert.equal(sample(text, 'coffer_transfer_bytes_total{direction="upload"}'), 10_000);
    assert.equal(sample(text, 'coffer_transfer_bytes_total{direction="download"}'), 5000);
    assert.ok(sample(text, 'coffer_quota_refusals_total')! >= 1);
    assert.equal(sample(text, 'coffer_bans_total'), 1);
    assert.equal(sample(text, 'coffer_auth_attempts_total{method="publickey",result="success"}'), 2);
    assert.equal(sample(text, 'coffer_auth_attempts_total{method="password",result="success"}'), 2);
    assert.equal(sample(text, 'coffer_auth_attempts_total{method="password",result="failure"}'), 2);
    assert.ok(sample(text, 'coffer_handshake_seconds_count')! >= 6);
    assert.equal(sample(text, 'coffer_login_seconds_count'), 4);
    assert.equal(sample(text, 'coffer_store_up'), 1);
    assert.equal(sample(text, 'coffer_hook_queue'), 0);
    assert.ok(sample(text, 'process_cpu_seconds_total')! > 0, 'prom-client process metrics');
    for (const secret of ['alice', 'bob', ts.root, '127.0.0.2']) assert.ok(!text.includes(secret), `no ${secret} in /metrics`);
  });

  it('promtool check metrics accepts the output', async () => {
    const r = promtool(await metrics());
    assert.equal(r.status, 0, r.output);
  });

  it('a store that stops answering makes /healthz 503 and coffer_store_up 0, until it answers again', async () => {
    const store = ts.server.state.store;
    const real = store.changeVersion.bind(store);
    store.changeVersion = () => Promise.reject(new Error('connection refused'));
    try {
      let r = await http(port, 'GET', '/healthz');
      await waitFor(async () => (r = await http(port, 'GET', '/healthz')).status === 503, 10_000, 'healthz 503');
      assert.equal(r.body, 'store unavailable\n');
      assert.equal(sample(await metrics(), 'coffer_store_up'), 0);
    } finally {
      store.changeVersion = real;
    }
    await waitFor(async () => (await http(port, 'GET', '/healthz')).status === 200, 10_000, 'healthz 200 again');
    assert.equal(sample(await metrics(), 'coffer_store_up'), 1);
  });
});
