/**
 * Issue 23 (hardening): probes before login, reproduced against the real server: client-supplied
 * text in the logs, keyboard-interactive answers of every size.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import ssh2 from 'ssh2';
import { tryLogin } from '../support/ssh-clients.js';
import { startTestServer, type TestServer } from '../support/test-server.js';

const PW = 'the right password';

describe('client text before login (probes)', () => {
  let ts: TestServer;
  before(async () => {
    ts = await startTestServer({ settings: { banThreshold: 0 } });
    await ts.addUser('alice', { password: PW });
  });
  after(() => ts.close());

  it('answers keyboard-interactive with thousands of responses or a huge one as one failure each', async () => {
    for (const answers of [Array.from({ length: 5000 }, () => 'x'), ['y'.repeat(30_000)]]) {
      const result = await new Promise<string>((resolve) => {
        const c = new ssh2.Client();
        c.on('keyboard-interactive', (_n, _i, _l, _p, finish) => finish(answers));
        c.on('ready', () => resolve('logged in?!'));
        c.on('error', (e) => resolve(e.message));
        c.connect({ host: '127.0.0.1', port: ts.port, username: 'alice', tryKeyboard: true, authHandler: ['keyboard-interactive'] as never });
      });
      assert.match(result, /All configured authentication methods failed/);
    }
    assert.ok(ts.logs.events('auth.failure', { method: 'keyboard-interactive', reason: 'malformed password request' }).length >= 1);
    assert.ok(ts.logs.events('auth.failure', { method: 'keyboard-interactive', reason: 'password too long' }).length >= 1);
    assert.equal(await tryLogin(ts.port, { username: 'alice', password: PW }), 'ok');
  });

  it('logs a 30 KB user name short, and control characters in user names escaped', async () => {
    const names = ['u'.repeat(30_000), 'evil\nfrom 9.9.9.9 \u001b[31mred\u202etxt.exe\u0085'];
    for (const username of names) {
      assert.match(await tryLogin(ts.port, { username, password: 'nope' }), /All configured authentication methods failed/);
    }
    const lines = ts.logs.events('auth.failure').filter((l) => String(l.user).startsWith('u') || String(l.user).startsWith('evil'));
    assert.equal(lines.length, 2);
    for (const l of lines) {
      for (const text of [String(l.user), String(l.msg)]) {
        assert.ok(text.length < 200, `${text.length} characters logged`);
                assert.doesNotMatch(text, /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/, `raw control character in ${JSON.stringify(text)}`);
      }
    }
    assert.match(String(lines[1]!.user), /^evil\\nfrom 9\.9\.9\.9 \\x1b\[31mred\\u202etxt\.exe\\x85$/);
  });
});
