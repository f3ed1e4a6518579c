import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../src/util/errors.js';
import { fingerprintOf, MIN_RSA_BITS, parseAuthorizedKeys, parseKeyLine } from '../../src/users/public-keys.js';

interface Generated {
  /** The .pub line as ssh-keygen wrote it. */
  line: string;
  type: string;
  data: string;
  /** What `ssh-keygen -lf` prints. */
  bits: number;
  fingerprint: string;
  privateKey: string;
}

const SPECS = [
  { name: 'ed25519', args: ['-t', 'ed25519'], type: 'ssh-ed25519', bits: 256 },
  { name: 'ecdsa256', args: ['-t', 'ecdsa', '-b', '256'], type: 'ecdsa-sha2-nistp256', bits: 256 },
  { name: 'ecdsa384', args: ['-t', 'ecdsa', '-b', '384'], type: 'ecdsa-sha2-nistp384', bits: 384 },
  { name: 'ecdsa521', args: ['-t', 'ecdsa', '-b', '521'], type: 'ecdsa-sha2-nistp521', bits: 521 },
  { name: 'rsa2048', args: ['-t', 'rsa', '-b', '2048'], type: 'ssh-rsa', bits: 2048 },
] as const;

let dir: string;
const keys: Record<string, Generated> = {};

function generate(name: string, args: readonly string[], comment: string): Generated {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', ...args, '-N', '', '-C', comment, '-f', file], { stdio: 'pipe' });
  const line = readFileSync(file + '.pub', 'utf8').trim();
  const [type = '', data = ''] = line.split(' ');
  // "256 SHA256:abc... comment (ED25519)"
  const listed = execFileSync('ssh-keygen', ['-lf', file + '.pub'], { encoding: 'utf8' }).trim().split(' ');
  return { line, type, data, bits: Number(listed[0]), fingerprint: listed[1]!, privateKey: readFileSync(file, 'utf8') };
}

/** Asserts that parsing `text` throws an InputError whose message matches every pattern. */
function assertRefused(text: string, ...patterns: RegExp[]): void {
  assert.throws(
    () => parseAuthorizedKeys(text),
    (err: unknown) => {
      assert.ok(err instanceof InputError, `expected InputError, got ${String(err)}`);
      assert.equal(err.code, 'COFFER_BAD_INPUT');
      for (const p of patterns) assert.match(err.message, p);
      assert.ok(!err.message.includes('\n'), 'one-line message');
      assert.ok(err.message.length < 400, 'short message, even for huge input');
      return true;
    },
  );
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'coffer-keys-test-'));
  for (const spec of SPECS) keys[spec.name] = generate(spec.name, spec.args, `${spec.name}@test host`);
  keys.rsa1024 = generate('rsa1024', ['-t', 'rsa', '-b', '1024'], 'weak@test');
  keys.dsa = generate('dsa', ['-t', 'dsa'], 'old@test');
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('accepted keys', () => {
  for (const spec of SPECS) {
    test(`${spec.name}: type, bits, fingerprint as ssh-keygen -lf prints it, comment kept`, () => {
      const k = keys[spec.name]!;
      assert.equal(k.bits, spec.bits, 'ssh-keygen made the key asked for');
      const [parsed, ...more] = parseAuthorizedKeys(k.line + '\n');
      assert.equal(more.length, 0);
      assert.ok(parsed);
      assert.equal(parsed.algorithm, spec.type);
      assert.equal(parsed.bits, k.bits);
      assert.equal(parsed.fingerprint, k.fingerprint);
      assert.match(parsed.fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
      assert.equal(parsed.comment, `${spec.name}@test host`);
      assert.equal(parsed.blob, k.data);
      assert.equal(fingerprintOf(Buffer.from(parsed.blob, 'base64')), k.fingerprint);
    });
  }

  test('parseKeyLine on a single line', () => {
    const k = keys.ed25519!;
    const parsed = parseKeyLine(k.line, 'here');
    assert.equal(parsed.fingerprint, k.fingerprint);
  });

  test('a key without a comment has an empty comment', () => {
    const k = keys.ed25519!;
    const [parsed] = parseAuthorizedKeys(`${k.type} ${k.data}`);
    assert.equal(parsed?.comment, '');
    assert.equal(parsed?.fingerprint, k.fingerprint);
  });

  test('tabs and extra spaces between fields', () => {
    const k = keys.ecdsa256!;
    const [parsed] = parseAuthorizedKeys(`  ${k.type}\t${k.data}   my laptop  `);
    assert.equal(parsed?.fingerprint, k.fingerprint);
    assert.equal(parsed?.comment, 'my laptop');
  });

  test('several lines with blank lines, # comments and CRLF line ends', () => {
    const text = [
      '# keys of alice',
      '',
      keys.ed25519!.line,
      '   ',
      '  # an indented comment ssh-rsa AAAA',
      keys.rsa2048!.line,
      '\t',
      keys.ecdsa521!.line,
      '',
    ].join('\r\n');
    const parsed = parseAuthorizedKeys(text);
    assert.deepEqual(
      parsed.map((k) => [k.algorithm, k.fingerprint, k.comment]),
      [keys.ed25519!, keys.rsa2048!, keys.ecdsa521!].map((k) => [k.type, k.fingerprint, k.line.split(' ').slice(2).join(' ')]),
    );
  });

  test(`RSA of exactly ${MIN_RSA_BITS} bits is the minimum`, () => {
    assert.equal(MIN_RSA_BITS, 2048);
    assert.equal(parseAuthorizedKeys(keys.rsa2048!.line)[0]?.bits, 2048);
  });
});

describe('refused input (each an InputError)', () => {
  test('RSA 1024 is too weak, and the message says 2048', () => {
    assertRefused(keys.rsa1024!.line, /too weak/, /2048/, /1024/);
  });

  test('a private key file pasted instead of the public key', () => {
    assertRefused(keys.ed25519!.privateKey, /private key/);
    assertRefused(keys.rsa2048!.privateKey, /private key/);
  });

  test('a PEM private key', () => {
    const pemFile = join(dir, 'pem');
    execFileSync('ssh-keygen', ['-q', '-t', 'ecdsa', '-b', '256', '-m', 'PEM', '-N', '', '-f', pemFile], { stdio: 'pipe' });
    const pem = readFileSync(pemFile, 'utf8');
    assert.match(pem, /BEGIN EC PRIVATE KEY/);
    assertRefused(pem, /private key/);
  });

  test('a PuTTY private key', () => {
    const ppk = [
      'PuTTY-User-Key-File-3: ssh-ed25519',
      'Encryption: none',
      'Comment: eddsa-key-20240101',
      'Public-Lines: 2',
      keys.ed25519!.data.slice(0, 40),
      keys.ed25519!.data.slice(40),
      'Private-Lines: 1',
      'AAAAIBn0eVtIp6qzC3eAl8K9LM3aXHb7Y0ZxJQqF0qZ8V5Xh',
      'Private-MAC: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
    ].join('\n');
    assertRefused(ppk, /private key/);
  });

  test('an RFC 4716 public key (ssh-keygen -e), with the command to convert it', () => {
    const rfc4716 = execFileSync('ssh-keygen', ['-e', '-f', join(dir, 'ed25519.pub')], { encoding: 'utf8' });
    assert.match(rfc4716, /^---- BEGIN SSH2 PUBLIC KEY ----/);
    assertRefused(rfc4716, /RFC 4716/, /ssh-keygen -i/);
  });

  test('base64 that is not a key', () => {
    assertRefused('ssh-ed25519 AAAAnotreallyakeyatall comment', /malformed ssh-ed25519 key/);
    assertRefused('ssh-rsa QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=', /malformed ssh-rsa key/);
  });

  test('data that is not base64 at all', () => {
    assertRefused('ssh-ed25519 !!!!not-base64!!!! me', /malformed/);
    assertRefused('ssh-ed25519', /malformed/);
  });

  test('truncated base64', () => {
    for (const name of ['ed25519', 'ecdsa384', 'rsa2048']) {
      const k = keys[name]!;
      for (const cut of [4, 10, 30]) assertRefused(`${k.type} ${k.data.slice(0, -cut)} c`, /malformed/);
      assertRefused(`${k.type} ${k.data.slice(0, 12)} c`, /malformed/);
    }
  });

  test('a key blob with bytes appended', () => {
    const k = keys.ed25519!;
    const longer = Buffer.concat([Buffer.from(k.data, 'base64'), Buffer.from([0, 0, 0, 1, 65])]).toString('base64');
    assertRefused(`${k.type} ${longer}`, /malformed/);
  });

  test('a valid blob under the wrong type name', () => {
    assertRefused(`ssh-rsa ${keys.ed25519!.data} c`, /malformed ssh-rsa key/);
    assertRefused(`ssh-ed25519 ${keys.rsa2048!.data} c`, /malformed ssh-ed25519 key/);
    assertRefused(`ecdsa-sha2-nistp256 ${keys.ecdsa384!.data} c`, /malformed/);
    assertRefused(`ecdsa-sha2-nistp521 ${keys.ed25519!.data} c`, /malformed/);
  });

  test('DSA (ssh-dss)', () => {
    assert.match(keys.dsa!.line, /^ssh-dss /);
    assertRefused(keys.dsa!.line, /DSA/);
  });

  test('unsupported or unknown key types', () => {
    assertRefused(`sk-ssh-ed25519@openssh.com ${keys.ed25519!.data}`, /security-key/);
    assertRefused(`ssh-ed448 ${keys.ed25519!.data}`, /not a public key/);
    assertRefused('hello world', /not a public key/);
  });

  test('authorized_keys options before the key', () => {
    const k = keys.ed25519!;
    assertRefused(`from="1.2.3.4" ${k.line}`, /options/);
    assertRefused(`no-pty,command="/bin/true" ${k.line}`, /options/);
  });

  test('the same key twice in one input, even with another comment', () => {
    const k = keys.ed25519!;
    assertRefused(`${k.line}\n${k.line}`, /listed twice/, /line 2/);
    assertRefused(`${k.line}\n${keys.rsa2048!.line}\n${k.type} ${k.data} other comment`, /listed twice/, /line 3/);
  });

  test('empty input, or only blank lines and comments', () => {
    for (const text of ['', '\n', '   \n\t\n', '# just a comment\n\n# another']) assertRefused(text, /no public key/);
  });

  test('a 100 KB line, quickly', () => {
    const started = performance.now();
    assertRefused('ssh-ed25519 ' + 'A'.repeat(100 * 1024) + ' c', /too long/);
    assertRefused('ssh-rsa ' + 'AAAA'.repeat(25 * 1024), /too long/);
    assertRefused('x'.repeat(100 * 1024), /too long/);
    assert.ok(performance.now() - started < 1000);
  });

  test('the message names the source and the line of the bad key', () => {
    const text = `${keys.ed25519!.line}\n\n${keys.rsa1024!.line}\n`;
    assert.throws(() => parseAuthorizedKeys(text, 'alice.pub'), (err: unknown) => err instanceof InputError && /^alice\.pub line 3: /.test(err.message));
  });

  test('one bad line refuses the whole input', () => {
    assertRefused(`${keys.ed25519!.line}\n${keys.rsa2048!.line}\ngarbage here\n`, /line 3/);
  });

  test('a key file with a public key read back from disk round-trips', () => {
    const file = join(dir, 'roundtrip.pub');
    writeFileSync(file, `${keys.ecdsa384!.line}\n`);
    const [parsed] = parseAuthorizedKeys(readFileSync(file, 'utf8'), file);
    assert.equal(parsed?.fingerprint, keys.ecdsa384!.fingerprint);
  });
});
