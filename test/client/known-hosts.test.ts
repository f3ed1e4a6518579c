import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkHostKey,
  entryMatches,
  fingerprint,
  hostKeyName,
  keyTypeOf,
  knownHostsLine,
  knownKeyTypes,
  parseKnownHosts,
  usesHashedNames,
} from '../../src/client/known-hosts.js';
import { HostTrust } from '../../src/client/host-trust.js';

// A fake ssh-ed25519 blob: string "ssh-ed25519", string 32 key bytes.
function blob(fill: number, type = 'ssh-ed25519'): Buffer {
  const t = Buffer.from(type);
  const k = Buffer.alloc(32, fill);
  const out = Buffer.alloc(8 + t.length + k.length);
  out.writeUInt32BE(t.length, 0);
  t.copy(out, 4);
  out.writeUInt32BE(k.length, 4 + t.length);
  k.copy(out, 8 + t.length);
  return out;
}
const A = blob(1);
const B = blob(2);
const RSA = blob(3, 'ssh-rsa');
const line = (hosts: string, key: Buffer) => `${hosts} ${keyTypeOf(key)} ${key.toString('base64')}`;

describe('known_hosts parsing', () => {
  test('skips comments, blank and malformed lines; keeps markers and line numbers', () => {
    const text = ['# comment', '', line('host1', A), 'garbage', 'host2 ssh-ed25519 !!notbase64', `@revoked ${line('*', B)}`, `@cert-authority ${line('*.example', RSA)} ca`].join('\n');
    const entries = parseKnownHosts(text);
    assert.deepEqual(
      entries.map((e) => [e.line, e.marker, e.hosts, e.keyType]),
      [
        [3, '', 'host1', 'ssh-ed25519'],
        [6, '@revoked', '*', 'ssh-ed25519'],
        [7, '@cert-authority', '*.example', 'ssh-rsa'],
      ],
    );
    assert.deepEqual(entries[0]!.key, A);
  });

  test('hostKeyName: plain for port 22, [host]:port otherwise', () => {
    assert.equal(hostKeyName('example.com', 22), 'example.com');
    assert.equal(hostKeyName('127.0.0.1', 2222), '[127.0.0.1]:2222');
  });

  test('fingerprints are OpenSSH SHA256 without padding', () => {
    assert.equal(fingerprint(A), 'SHA256:' + createHash('sha256').update(A).digest('base64').replace(/=+$/, ''));
    assert.ok(!fingerprint(A).endsWith('='));
  });
});

describe('host matching', () => {
  const entry = (hosts: string) => parseKnownHosts(line(hosts, A))[0]!;
  test('comma lists, wildcards, case-insensitive names and negation', () => {
    assert.ok(entryMatches(entry('a.example,b.example'), 'b.example'));
    assert.ok(entryMatches(entry('*.example'), 'HOST.example'));
    assert.ok(entryMatches(entry('host?'), 'host7'));
    assert.ok(!entryMatches(entry('host?'), 'host77'));
    assert.ok(!entryMatches(entry('*.example,!bad.example'), 'bad.example'));
    assert.ok(entryMatches(entry('*.example,!bad.example'), 'good.example'));
  });
  test('[host]:port entries only match that port', () => {
    assert.ok(entryMatches(entry('[127.0.0.1]:2222'), '[127.0.0.1]:2222'));
    assert.ok(!entryMatches(entry('[127.0.0.1]:2222'), '127.0.0.1'));
    assert.ok(!entryMatches(entry('127.0.0.1'), '[127.0.0.1]:2222'));
  });
  test('hashed names: |1|salt|HMAC-SHA1(salt, name), as ssh-keygen -H writes them', () => {
    const salt = Buffer.alloc(20, 9);
    const hash = createHmac('sha1', salt).update('[10.0.0.1]:2222').digest('base64');
    const e = entry(`|1|${salt.toString('base64')}|${hash}`);
    assert.ok(entryMatches(e, '[10.0.0.1]:2222'));
    assert.ok(!entryMatches(e, '10.0.0.1'));
    assert.ok(!entryMatches(entry('|1|broken'), 'x'));
  });
});

describe('checkHostKey', () => {
  const file = parseKnownHosts([line('[h]:2222', A), line('other', B), line('[h]:2222', RSA), `@revoked ${line('*', blob(7))}`].join('\n'));
  test('known, changed (same type, other key), unknown (other types listed), revoked', () => {
    assert.equal(checkHostKey(file, '[h]:2222', A).status, 'known');
    assert.equal(checkHostKey(file, '[h]:2222', RSA).status, 'known');
    const changed = checkHostKey(file, '[h]:2222', B);
    assert.equal(changed.status, 'changed');
    assert.deepEqual(changed.status === 'changed' && changed.entries.map((e) => e.line), [1]);
    const unknown = checkHostKey(file, 'new-host', A);
    assert.deepEqual(unknown, { status: 'unknown', otherTypes: [] });
    const otherType = checkHostKey(parseKnownHosts(line('x', RSA)), 'x', A);
    assert.equal(otherType.status === 'unknown' && otherType.otherTypes.length, 1);
    assert.equal(checkHostKey(file, '[h]:2222', blob(7)).status, 'revoked');
  });
  test('knownKeyTypes lists the types known for a host (to ask the server for them first)', () => {
    assert.deepEqual(knownKeyTypes(file, '[h]:2222'), ['ssh-ed25519', 'ssh-rsa']);
    assert.deepEqual(knownKeyTypes(file, 'nobody'), []);
  });
});

describe('new known_hosts lines', () => {
  test('plain and hashed lines parse back and match', () => {
    const plain = knownHostsLine('[h]:2222', A, false);
    assert.equal(plain, `[h]:2222 ssh-ed25519 ${A.toString('base64')}`);
    const hashed = knownHostsLine('[h]:2222', A, true, Buffer.alloc(20, 5));
    assert.match(hashed, /^\|1\|BQUFBQUFBQUFBQUFBQUFBQUFBQU=\|[A-Za-z0-9+/]{27}= ssh-ed25519 /);
    for (const l of [plain, hashed]) assert.equal(checkHostKey(parseKnownHosts(l), '[h]:2222', A).status, 'known');
    assert.ok(usesHashedNames(parseKnownHosts(hashed)));
    assert.ok(!usesHashedNames(parseKnownHosts(plain)));
  });
});

describe('HostTrust', () => {
  async function withFile(text: string | null, fn: (file: string) => Promise<void>) {
    const dir = await mkdtemp(join(tmpdir(), 'coffer-kh-'));
    const file = join(dir, '.ssh', 'known_hosts');
    try {
      if (text !== null) {
        await mkdir(join(dir, '.ssh'));
        await writeFile(file, text);
      }
      await fn(file);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const opts = (file: string, over: Partial<ConstructorParameters<typeof HostTrust>[0]> = {}) => ({ host: 'h', port: 2222, knownHostsFile: file, acceptNew: false, ask: null, notice: () => undefined, ...over });

  test('unknown without a terminal and without the flag: refused, file not created', async () => {
    await withFile(null, async (file) => {
      const t = new HostTrust(opts(file));
      await t.load();
      assert.equal(await t.verify(A), false);
      assert.match(t.failure!.message, /is unknown \(ED25519 key SHA256:.*--accept-new-host-key/);
      await assert.rejects(readFile(file));
    });
  });

  test('accept-new creates ~/.ssh and the file with a plain line; hashed files get hashed lines', async () => {
    await withFile(null, async (file) => {
      const notices: string[] = [];
      const t = new HostTrust(opts(file, { acceptNew: true, notice: (l) => notices.push(l) }));
      await t.load();
      assert.equal(await t.verify(A), true);
      assert.equal(await readFile(file, 'utf8'), `[h]:2222 ssh-ed25519 ${A.toString('base64')}\n`);
      assert.deepEqual(notices, ["Warning: Permanently added '[h]:2222' (ED25519) to the list of known hosts."]);
    });
    await withFile(knownHostsLine('elsewhere', B, true), async (file) => {
      const t = new HostTrust(opts(file, { acceptNew: true }));
      await t.load();
      assert.equal(await t.verify(A), true);
      const lines = (await readFile(file, 'utf8')).split('\n');
      assert.equal(lines.length, 3, 'a newline was added before the new line');
      assert.match(lines[1]!, /^\|1\|/);
    });
  });

  test('the prompt: yes accepts, the fingerprint itself accepts, no refuses, a wrong fingerprint refuses', async () => {
    for (const [answer, ok] of [['yes', true], [fingerprint(A), true], ['no', false], ['SHA256:wrong', false], [null, false]] as const) {
      await withFile('', async (file) => {
        const asked: string[] = [];
        const t = new HostTrust(opts(file, { ask: async (q) => (asked.push(q), answer) }));
        await t.load();
        assert.equal(await t.verify(A), ok, String(answer));
        assert.match(asked[0]!, /^The authenticity of host '\[h\]:2222' can't be established\.\nED25519 key fingerprint is SHA256:/);
        assert.equal((await readFile(file, 'utf8')).includes('ssh-ed25519'), ok);
      });
    }
  });

  test('a changed key is refused with both fingerprints even when new keys are accepted', async () => {
    await withFile(line('[h]:2222', A) + '\n', async (file) => {
      const t = new HostTrust(opts(file, { acceptNew: true, ask: async () => 'yes' }));
      await t.load();
      assert.equal(await t.verify(B), false);
      assert.ok(t.failure!.message.includes(fingerprint(A)) && t.failure!.message.includes(fingerprint(B)));
      assert.match(t.failure!.message, /known_hosts:1/);
    });
  });
});
