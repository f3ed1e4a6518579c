import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { exitStatusFor, parseInvocation } from '../../src/cli/client/args.js';
import { UsageError } from '../../src/cli/common/run.js';
import { PassThrough, Readable } from 'node:stream';
import type { SFTPWrapper } from 'ssh2';
import { BatchError, runBatch } from '../../src/client/batch.js';
import type { Connection } from '../../src/client/connection.js';
import { Progress } from '../../src/client/progress.js';
import { RemoteOps } from '../../src/client/remote-ops.js';
import { runLine, runShell } from '../../src/client/shell.js';
import { Session, takeOptions } from '../../src/client/commands.js';
import { completePath, lastToken, wordKind } from '../../src/client/completer.js';
import { hostKeyOrder } from '../../src/client/connection.js';
import { ClientError, CommandUsageError, InterruptedError, VerifyMismatchError } from '../../src/client/errors.js';
import { columns, dfLines, humanSize, quoteWord, splitWords } from '../../src/client/format.js';
import { isRemoteSpec, parseTarget } from '../../src/client/target.js';

describe('targets', () => {
  test('[USER@]HOST[:PATH], IPv6 in brackets, @ inside paths', () => {
    assert.deepEqual(parseTarget('alice@host', 'me'), { user: 'alice', host: 'host', path: null });
    assert.deepEqual(parseTarget('host:/x/y', 'me'), { user: 'me', host: 'host', path: '/x/y' });
    assert.deepEqual(parseTarget('alice@host:', 'me'), { user: 'alice', host: 'host', path: '' });
    assert.deepEqual(parseTarget('alice@host:a@b', 'me'), { user: 'alice', host: 'host', path: 'a@b' });
    assert.deepEqual(parseTarget('bob@[::1]:/srv', 'me'), { user: 'bob', host: '::1', path: '/srv' });
    assert.deepEqual(parseTarget('[::1]', 'me'), { user: 'me', host: '::1', path: null });
    for (const bad of ['', '@host', 'alice@', '[::1', 'a b']) assert.equal(parseTarget(bad, 'me'), null, bad);
  });
  test('remote specs need HOST: before any slash', () => {
    assert.ok(isRemoteSpec('host:file'));
    assert.ok(!isRemoteSpec('./a:b'));
    assert.ok(!isRemoteSpec('dir/a:b'));
    assert.ok(!isRemoteSpec('/abs'));
  });
});

describe('command line', () => {
  test('the shell with options before or after the host; -b selects batch mode', () => {
    const a = parseInvocation(['-P', '2222', 'alice@127.0.0.1']);
    assert.deepEqual([a.mode, a.port, a.target.user, a.target.host, a.line], ['shell', 2222, 'alice', '127.0.0.1', '']);
    const b = parseInvocation(['alice@127.0.0.1', '-P', '2222', '-i', 'key', '-b', 'cmds']);
    assert.deepEqual([b.mode, b.port, b.values.identity, b.values.batch], ['batch', 2222, 'key', 'cmds']);
    assert.equal(parseInvocation(['host:/srv/data']).line, 'cd /srv/data');
    assert.equal(parseInvocation(['host']).port, 22);
  });
  test('one-shot commands become shell command lines, options anywhere', () => {
    assert.equal(parseInvocation(['get', '-r', 'h:dir', 'local dir', '-P', '1']).line, "get -r dir 'local dir'");
    assert.equal(parseInvocation(['-P', '1', 'put', 'f', 'h:']).line, 'put f .');
    assert.equal(parseInvocation(['put', 'f', 'alice@h:/up/x']).line, 'put f /up/x');
    assert.equal(parseInvocation(['sum', 'h:f', '--algo', 'md5']).line, 'sum --algo md5 f');
    assert.equal(parseInvocation(['sum', 'h:f']).line, 'sum --algo sha256 f');
    assert.equal(parseInvocation(['ls', '-l', 'h']).line, 'ls -l .');
    assert.equal(parseInvocation(['ls', 'h:/x']).line, 'ls /x');
    assert.equal(parseInvocation(['df', 'alice@h']).line, 'df .');
    assert.equal(parseInvocation(['get', 'h:f', '--no-verify', '--accept-new-host-key']).values['no-verify'], true);
  });
  test('usage errors', () => {
    for (const argv of [[], ['a', 'b'], ['get', 'h'], ['get'], ['put', 'f'], ['put', 'f', 'h'], ['sum', 'h:'], ['-P', '0', 'h'], ['-P', 'x', 'h'], ['--nope', 'h'], ['-P']]) {
      assert.throws(() => parseInvocation(argv), UsageError, JSON.stringify(argv));
    }
  });
  test('exit statuses: 3 mismatch (also inside a batch), 130 interrupted, 2 usage, 1 otherwise', () => {
    const mismatch = new VerifyMismatchError('f', 'aa', 'bb', 'f.coffer-part');
    assert.equal(exitStatusFor(mismatch), 3);
    assert.equal(exitStatusFor(new BatchError(3, 'get f', mismatch)), 3);
    assert.equal(exitStatusFor(new InterruptedError()), 130);
    assert.equal(exitStatusFor(new UsageError('x')), 2);
    assert.equal(exitStatusFor(new BatchError(1, 'x', new CommandUsageError('x'))), 2);
    assert.equal(exitStatusFor(new ClientError('COFFER_REMOTE', 'x')), 1);
    assert.equal(exitStatusFor(new Error('x')), 1);
    assert.equal(mismatch.message, 'f: checksum mismatch: local sha256 aa, server sha256 bb (kept f.coffer-part)');
  });
  test('host key algorithms: known types first', () => {
    assert.deepEqual(hostKeyOrder(['ssh-rsa']).slice(0, 3), ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
    assert.equal(hostKeyOrder([])[0], 'ssh-ed25519');
    assert.equal(new Set(hostKeyOrder(['ssh-ed25519', 'ssh-rsa'])).size, hostKeyOrder([]).length);
  });
});

describe('shell words and options', () => {
  test('quotes and escapes, nothing expanded', () => {
    assert.deepEqual(splitWords(`get 'a b' "c \\"d\\"" e\\ f *.txt ~/x $HOME`), ['get', 'a b', 'c "d"', 'e f', '*.txt', '~/x', '$HOME']);
    assert.deepEqual(splitWords('  '), []);
    assert.deepEqual(splitWords(`''`), ['']);
    assert.throws(() => splitWords(`get 'open`), /unterminated/);
    for (const w of ['plain', 'a b', "it's", '']) assert.deepEqual(splitWords(quoteWord(w)), [w]);
  });
  test('takeOptions: letters combine, valued options take the next word or =value, -- ends options', () => {
    const a = takeOptions(['-la', 'x'], 'la');
    assert.deepEqual([[...a.opts.keys()], a.rest], [['l', 'a'], ['x']]);
    assert.equal(takeOptions(['--algo', 'md5', 'f'], '', ['algo']).opts.get('algo'), 'md5');
    assert.equal(takeOptions(['--algo=sha1', 'f'], '', ['algo']).opts.get('algo'), 'sha1');
    assert.deepEqual(takeOptions(['--', '-r'], 'r').rest, ['-r']);
    assert.throws(() => takeOptions(['-x'], 'r'), CommandUsageError);
    assert.throws(() => takeOptions(['--algo'], '', ['algo']), /needs a value/);
  });
});

describe('df and listings', () => {
  test('humanSize rounds up like df -h: powers of 1024, one decimal below 10', () => {
    const cases: Array<[number, string]> = [
      [0, '0'],
      [512, '512'],
      [1024, '1.0K'],
      [1536, '1.5K'],
      [1025, '1.1K'],
      [10 * 1024 ** 2, '10M'],
      [10 * 1024 ** 2 + 1, '11M'],
      [1.5 * 1024 ** 3, '1.5G'],
      [9.99 * 1024 ** 3, '10G'],
      [1023.5 * 1024, '1.0M'],
      [2 * 1024 ** 4, '2.0T'],
    ];
    for (const [n, s] of cases) assert.equal(humanSize(n), s, String(n));
  });
  test('df lines: header and values aligned, Use% rounded up', () => {
    const [head, vals] = dfLines({ f_bsize: 4096, f_frsize: 4096, f_blocks: 2560, f_bfree: 2176, f_bavail: 2176 });
    assert.deepEqual(head.trim().split(/\s+/), ['Size', 'Used', 'Avail', 'Use%']);
    assert.deepEqual(vals.trim().split(/\s+/), ['10M', '1.5M', '8.5M', '15%']);
    assert.equal(head.length, vals.length);
    assert.equal(dfLines({ f_bsize: 4096, f_frsize: 0, f_blocks: 0, f_bfree: 0, f_bavail: 0 })[1].trim().split(/\s+/)[3], '-');
  });
  test('columns fill down then across, one per line when too wide', () => {
    assert.deepEqual(columns(['a', 'b', 'c', 'd', 'e'], 9), ['a  c  e', 'b  d']);
    assert.deepEqual(columns(['a', 'b', 'c', 'd', 'e'], 7), ['a  d', 'b  e', 'c']);
    assert.deepEqual(columns(['long-name'], 5), ['long-name']);
    assert.deepEqual(columns([], 80), []);
  });
});

describe('completion', () => {
  test('which kind of word is being completed', () => {
    assert.deepEqual(wordKind('ge'), { kind: 'command', partial: 'ge' });
    assert.deepEqual(wordKind('get rem'), { kind: 'remote', partial: 'rem' });
    assert.deepEqual(wordKind('get -r remote loc'), { kind: 'local', partial: 'loc' });
    assert.deepEqual(wordKind('put lo'), { kind: 'local', partial: 'lo' });
    assert.deepEqual(wordKind('put local re'), { kind: 'remote', partial: 're' });
    assert.deepEqual(wordKind('lcd di'), { kind: 'local', partial: 'di' });
    assert.deepEqual(wordKind('cd my\\ fo'), { kind: 'remote', partial: 'my fo' });
    assert.equal(wordKind('pwd x').kind, 'none');
    assert.equal(wordKind('nosuch x').kind, 'none');
  });
  test('paths: folder part kept, folders get a slash, dot files only when asked, spaces escaped', () => {
    const entries = [
      { name: 'docs', dir: true },
      { name: 'doc one.txt', dir: false },
      { name: '.dot', dir: false },
      { name: 'other', dir: false },
    ];
    assert.deepEqual(completePath('do', entries), ['doc\\ one.txt', 'docs/']);
    assert.deepEqual(completePath('sub/do', entries), ['sub/doc\\ one.txt', 'sub/docs/']);
    assert.deepEqual(completePath('.', entries), ['.dot']);
    assert.deepEqual(completePath('', entries).length, 3);
  });
  test('the token readline replaces is the last word as typed', () => {
    assert.equal(lastToken('get my\\ fi'), 'my\\ fi');
    assert.equal(lastToken('get '), '');
    assert.equal(lastToken('ge'), 'ge');
  });
});

describe('a lost connection', () => {
  /** A session whose connection dropped (`lost` aborted); `pwd` would work without a server. */
  function lostSession(): { session: Session; reason: ClientError; lost: AbortController } {
    const lost = new AbortController();
    const reason = new ClientError('COFFER_CONNECTION', 'connection to h port 22 lost');
    const conn = { lost: lost.signal, home: '/home/alice' } as unknown as Connection;
    const session = new Session(conn, { print: () => undefined, say: () => undefined, columns: 80, tty: false }, new Progress({ write: () => true }, false), true);
    return { session, reason, lost };
  }

  test('every command fails at once with the loss; the shell stops with status 1; a batch stops even under -', async () => {
    const { session, reason, lost } = lostSession();
    assert.equal(await runLine(session, 'pwd'), true, 'fine while connected');
    lost.abort(reason);
    await assert.rejects(runLine(session, 'pwd'), reason);
    assert.equal(await runLine(session, 'exit'), false, 'quitting still works');

    const errors: string[] = [];
    const input = Readable.from(['pwd\n', 'lpwd\n', 'pwd\n']);
    const status = await runShell(session, { input, output: new PassThrough(), terminal: false, historyFile: null, error: (l) => errors.push(l) });
    assert.equal(status, 1);
    assert.deepEqual(errors, ['error: connection to h port 22 lost'], 'the first command reports it, and the shell ends');

    const printed: string[] = [];
    await assert.rejects(runBatch(session, '-pwd\nlpwd\n', { print: (l) => printed.push(l), error: () => undefined }), (err: Error) => err instanceof BatchError && /line 1: 'pwd' failed: connection to h port 22 lost/.test(err.message));
    assert.deepEqual(printed, ['coffer> pwd'], 'nothing after the failed line ran');
  });

  test('a command still waiting when the connection drops ends with the loss, 2 s later at most', async () => {
    const { session, reason, lost } = lostSession();
    // A command ssh2 would leave waiting forever: a remote call that never calls back.
    const silent = new Proxy({}, { get: () => () => undefined }) as SFTPWrapper;
    (session.conn as unknown as { ops: RemoteOps }).ops = new RemoteOps(silent);
    const started = Date.now();
    const pending = runLine(session, 'cd /somewhere');
    setTimeout(() => lost.abort(reason), 50);
    await assert.rejects(pending, reason);
    const took = Date.now() - started;
    assert.ok(took >= 50 && took < 5000, `${took} ms`);
  });

  test('RemoteOps: a request rejects with the loss, whether it was waiting or sent afterwards', async () => {
    const lost = new AbortController();
    const reason = new ClientError('COFFER_CONNECTION', 'connection lost');
    const ops = new RemoteOps({ stat: () => undefined, realpath: (_p: string, cb: (e: undefined, v: string) => void) => cb(undefined, '/x') } as unknown as SFTPWrapper, lost.signal);
    assert.equal(await ops.realpath('.'), '/x', 'answered requests resolve');
    const waiting = ops.stat('/a');
    lost.abort(reason);
    await assert.rejects(waiting, reason);
    await assert.rejects(ops.stat('/b'), reason);
  });
});
