/**
 * Legacy scp without a network: the exec command line (shell-style quoting as OpenSSH's scp and
 * pscp send it, and the refusals), the C/D/E/T records (parsing, formatting, hostile names and
 * malformed records), download patterns, and the bounded channel reader.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { ScpConnectionLost, ScpReader } from '../../src/scp/channel-io.js';
import { isScpCommand, parseScpCommand, ScpCommandError, splitShellWords, wordPath } from '../../src/scp/command.js';
import { compileGlob, splitPattern } from '../../src/scp/glob.js';
import { dirRecord, errorRecord, fileRecord, isValidName, parseRecord, ScpNameError, ScpProtocolError, timesRecord, visible } from '../../src/scp/records.js';

describe('scp command line', () => {
  it('parses what OpenSSH scp -O and pscp send', () => {
    assert.deepEqual(parseScpCommand('scp -t .'), { mode: 'sink', recursive: false, preserve: false, targetIsDir: false, paths: [{ text: '.', pattern: null, tilde: false }] });
    const c = parseScpCommand('scp -v -r -p -d -t -- -dash');
    assert.equal(c.mode, 'sink');
    assert.ok(c.recursive && c.preserve && c.targetIsDir);
    assert.equal(c.paths[0]!.text, '-dash');
    const combined = parseScpCommand('scp -rpf a b');
    assert.equal(combined.mode, 'source');
    assert.ok(combined.recursive && combined.preserve && !combined.targetIsDir);
    assert.deepEqual(combined.paths.map((p) => p.text), ['a', 'b']);
    assert.equal(parseScpCommand('  scp\t-q  -f   x').paths[0]!.text, 'x');
  });

  it('removes shell quoting: single, double, backslash', () => {
    const texts = (line: string) => splitShellWords(line).map((w) => w.text);
    assert.deepEqual(texts(`scp -f 'my file.txt'`), ['scp', '-f', 'my file.txt']);
    assert.deepEqual(texts(`scp -f my\\ file.txt`), ['scp', '-f', 'my file.txt']);
    assert.deepEqual(texts(`scp -f "it's \\"q\\" \\\\ \\n"`), ['scp', '-f', `it's "q" \\ \\n`]);
    assert.deepEqual(texts(`scp -f 'it'\\''s'`), ['scp', '-f', "it's"]);
    assert.deepEqual(texts(`scp -f ''`), ['scp', '-f', '']);
    assert.deepEqual(texts(`scp -f a#b`), ['scp', '-f', 'a#b'], '# inside a word is no comment');
  });

  it('marks unquoted glob characters as a pattern, quoted ones as literal', () => {
    const [, , w1] = splitShellWords('scp -f *.txt');
    assert.equal(w1!.pattern, '*.txt');
    const [, , w2] = splitShellWords(`scp -f '*.txt'`);
    assert.equal(w2!.pattern, null);
    assert.equal(w2!.text, '*.txt');
    const [, , w3] = splitShellWords(`scp -f 'a*'b?`);
    assert.equal(w3!.pattern, 'a\\*b?');
    assert.equal(w3!.text, 'a*b?');
  });

  it('expands ~ and ~/x (unquoted, at the start) to the home', () => {
    const path = (line: string) => wordPath(parseScpCommand(line).paths[0]!);
    assert.equal(path('scp -f ~'), '/');
    assert.equal(path('scp -f ~/docs/a'), '/docs/a');
    assert.equal(path(`scp -f '~/docs'`), '~/docs');
    assert.equal(path('scp -f a~'), 'a~');
    assert.equal(path('scp -f ~other'), '~other');
    assert.equal(path('scp -t ../../etc'), '../../etc', 'the Vfs jails it, not the parser');
  });

  it('refuses shell syntax, unknown options and malformed commands', () => {
    const refused: Array<[string, RegExp]> = [
      ['scp -t a; rm -rf /', /shell syntax/],
      ['scp -t $(id)', /shell syntax/],
      ['scp -t `id`', /shell syntax/],
      ['scp -t "$HOME"', /shell syntax/],
      ['scp -t "`id`"', /shell syntax/],
      ['scp -t a|b', /shell syntax/],
      ['scp -t a>b', /shell syntax/],
      ['scp -t a&', /shell syntax/],
      ['scp -t (a)', /shell syntax/],
      ['scp -t #x', /shell syntax/],
      ['scp -t a\nrm x', /control characters|shell syntax/],
      ['scp -t a\u0000b', /control characters/],
      ["scp -t 'open", /unterminated quote/],
      ['scp -t "open', /unterminated quote/],
      ['scp -t a\\', /trailing backslash/],
      ['scp -x -t a', /unsupported option -x/],
      ['scp -S prog -t a', /unsupported option -S/],
      ['scp -t -f a', /exactly one of -t and -f/],
      ['scp a b', /exactly one of -t and -f/],
      ['scp -t a b', /ambiguous target/],
      ['scp -t', /ambiguous target/],
      ['scp -f', /no file to send/],
      ['scpx -t a', /not an scp command/],
      ["'scp' -t x; y", /shell syntax/],
      ['sc* -t a', /not an scp command/],
      ['x'.repeat(70_000), /too long/],
    ];
    for (const [line, why] of refused) {
      assert.throws(() => parseScpCommand(line), (err: Error) => err instanceof ScpCommandError && why.test(err.message), JSON.stringify(line.slice(0, 40)));
    }
  });

  it('isScpCommand routes scp lines only', () => {
    assert.ok(isScpCommand('scp -t .'));
    assert.ok(isScpCommand(' scp'));
    assert.ok(isScpCommand('scp -x'), 'the scp route answers its own refusals');
    assert.ok(!isScpCommand('scpx -t .'));
    assert.ok(!isScpCommand('md5sum scp'));
    assert.ok(!isScpCommand('/usr/bin/scp -t .'));
  });
});

describe('scp records', () => {
  it('parses C, D, E, T and error records', () => {
    assert.deepEqual(parseRecord('C0644 12 hello world.txt'), { kind: 'file', mode: 0o644, size: 12, name: 'hello world.txt' });
    assert.deepEqual(parseRecord(`C4755 0 it's "q"`), { kind: 'file', mode: 0o4755, size: 0, name: `it's "q"` });
    assert.deepEqual(parseRecord('D0755 0 sub'), { kind: 'dir', mode: 0o755, name: 'sub' });
    assert.deepEqual(parseRecord('E'), { kind: 'end' });
    assert.deepEqual(parseRecord('T1700000000 0 1700000001 999999'), { kind: 'times', mtime: 1700000000, atime: 1700000001 });
    assert.deepEqual(parseRecord('\x01scp: x: No such file'), { kind: 'error', fatal: false, message: 'scp: x: No such file' });
    assert.deepEqual(parseRecord('\x02boom'), { kind: 'error', fatal: true, message: 'boom' });
    assert.equal((parseRecord(`C0644 ${Number.MAX_SAFE_INTEGER} big`) as { size: number }).size, Number.MAX_SAFE_INTEGER);
    assert.equal((parseRecord(`C0644 ${'0'.repeat(40)}5 z`) as { size: number }).size, 5, 'leading zeros, as strtoull reads them');
    assert.equal((parseRecord('C0644 0 z') as { size: number }).size, 0);
  });

  it('refuses hostile names: .., ., slashes, empty, control characters, over-long', () => {
    const hostile = ['../evil', '..', '.', 'a/b', '/etc', '', 'a\u0000b', 'a\rb', '\u001b[31mred', 'a\u007fb', 'bad\ufffd', 'x'.repeat(256), 'é'.repeat(128)];
    for (const name of hostile) {
      assert.equal(isValidName(name), false, JSON.stringify(name));
      assert.throws(() => parseRecord(`C0644 5 ${name}`), ScpNameError, `C ${JSON.stringify(name)}`);
      assert.throws(() => parseRecord(`D0755 0 ${name}`), ScpNameError, `D ${JSON.stringify(name)}`);
    }
    for (const name of ['...', '.hidden', 'a b', `it's "q"`, 'x'.repeat(255), 'back\\slash', 'ünï']) assert.ok(isValidName(name), name);
    const err = (() => {
      try {
        parseRecord('C0644 5 \u001b]0;pwned\u0007');
      } catch (e) {
        return e as Error;
      }
      return null;
    })();
    assert.ok(err && !/[\u0000-\u001f]/.test(err.message), 'the refusal does not echo control characters');
  });

  it('refuses malformed records', () => {
    const bad: Array<[string, RegExp]> = [
      ['C644 5 a', /^bad mode$/],
      ['C06444 5 a', /^mode not delimited$/],
      ['C0844 5 a', /^bad mode$/],
      ['C 5 a', /^bad mode$/],
      ['C0644 -1 a', /^size not present$/],
      ['C0644 +5 a', /^size not present$/],
      ['C0644 5', /^size not delimited$/],
      ['C0644  5 a', /^size not present$/],
      ['C0644 5x a', /^size not delimited$/],
      ['C0644 99999999999999999999 a', /^size out of range$/],
      ['C0644 9007199254740992 a', /^size out of range$/],
      ['C0644 ' + '9'.repeat(4000) + ' a', /^size out of range$/],
      ['C0644 0x10 a', /^size not delimited$/],
      ['C0644 ５ a', /^size not present$/],
      ['T1 2 3', /bad time record/],
      ['T1 1000000 1 0', /bad time record/],
      ['T-1 0 1 0', /bad time record/],
      ['E x', /bad end record/],
      ['X0644 5 a', /expected control record/],
      ['', /unexpected <newline>/],
    ];
    for (const [line, why] of bad) {
      assert.throws(() => parseRecord(line), (err: Error) => err instanceof ScpProtocolError && why.test(err.message), JSON.stringify(line));
    }
  });

  it('formats records as OpenSSH sends them, modes masked to 0777', () => {
    assert.equal(fileRecord(0o100640, 5, 'a b'), 'C0640 5 a b\n');
    assert.equal(fileRecord(0o104755, 0, 'x'), 'C0755 0 x\n', 'setuid stripped');
    assert.equal(dirRecord(0o41777, 'd'), 'D0777 0 d\n', 'sticky stripped');
    assert.equal(timesRecord(1700000000.9, 1600000000), 'T1700000000 0 1600000000 0\n');
    assert.equal(errorRecord('x: Quota exceeded'), '\x01scp: x: Quota exceeded\n');
    assert.equal(errorRecord('a\nb', true), '\x02scp: a b\n');
    assert.equal(visible('a\u001bb'), 'a\\x1bb');
    assert.equal(visible('y'.repeat(300)).length, 203);
  });
});

describe('download patterns', () => {
  it('matches *, ? and [...] in one component, dot files only explicitly', () => {
    const m = (pattern: string, name: string) => compileGlob(pattern)!.matches(name);
    assert.ok(m('*.txt', 'a.txt'));
    assert.ok(!m('*.txt', 'a.txt.gz'));
    assert.ok(!m('*.txt', '.hidden.txt'));
    assert.ok(m('.*', '.hidden'));
    assert.ok(m('?.bin', 'x.bin'));
    assert.ok(!m('?.bin', 'xy.bin'));
    assert.ok(m('[ab]*', 'beta'));
    assert.ok(!m('[!ab]*', 'beta'));
    assert.ok(m('[a-c]x', 'bx'));
    assert.ok(m('a\\*', 'a*'));
    assert.ok(!m('a\\*', 'ab'));
    assert.ok(m('[', '['), 'an unclosed bracket is literal');
    assert.ok(m('(x)+', '(x)+'), 'RegExp syntax is literal');
  });

  it('splits a pattern at its last slash; folders cannot be patterns', () => {
    assert.deepEqual(splitPattern('docs/*.txt'), { dir: 'docs', last: '*.txt' });
    assert.deepEqual(splitPattern('*.txt'), { dir: '', last: '*.txt' });
    assert.deepEqual(splitPattern('a\\ b/*'), { dir: 'a b', last: '*' });
    assert.equal(splitPattern('*/x*'), null);
    assert.equal(splitPattern('a\\\\*/x'), null, 'a star after an escaped backslash is a glob in the folder');
    assert.deepEqual(splitPattern('a\\*/x*'), { dir: 'a*', last: 'x*' }, 'an escaped star is not');
  });
});

describe('scp channel reader', () => {
  it('reads lines, bytes and blocks across chunk boundaries', async () => {
    const s = new PassThrough();
    const r = new ScpReader(s);
    s.write('C0644 3 a');
    s.write('\nxy');
    s.write('z\x00\x01scp: oops\n');
    s.end();
    assert.equal((await r.readLine(100))!.toString(), 'C0644 3 a');
    assert.equal((await r.read(3))!.toString(), 'xyz');
    assert.deepEqual(await r.readResponse(), { ok: true });
    assert.deepEqual(await r.readResponse(), { ok: false, fatal: false, message: 'scp: oops' });
    assert.equal(await r.readLine(100), null);
    assert.equal(await r.readByte(), null);
  });

  it('takes only 0, 1 and 2 as a status byte: anything else is a stream out of step', async () => {
    const s = new PassThrough();
    const r = new ScpReader(s);
    s.end('\x02fatal\nEXTRA\n');
    assert.deepEqual(await r.readResponse(), { ok: false, fatal: true, message: 'fatal' });
    await assert.rejects(r.readResponse(), (err: Error) => err instanceof ScpProtocolError && err.message === 'expected a status byte, got 0x45');
  });

  it('refuses an endless line and reports a line cut by the end of input', async () => {
    const s = new PassThrough();
    const r = new ScpReader(s);
    s.write(Buffer.alloc(5000, 0x41));
    await assert.rejects(r.readLine(4096), ScpProtocolError);
    const s2 = new PassThrough();
    const r2 = new ScpReader(s2);
    s2.end('C0644 1');
    await assert.rejects(r2.readLine(4096), ScpConnectionLost);
  });

  it('pauses the stream past its high-water mark and resumes once drained', async () => {
    const s = new PassThrough();
    const r = new ScpReader(s, 1024);
    s.write(Buffer.alloc(600));
    s.write(Buffer.alloc(600));
    await new Promise((resolve) => setImmediate(resolve));
    assert.ok(s.isPaused(), 'paused with 1200 bytes queued');
    assert.equal((await r.read(1000))!.length, 1000);
    assert.ok(!s.isPaused(), 'resumed below half the mark');
    r.close();
    assert.equal(await r.read(10), null, 'closed: end of input');
  });
});
