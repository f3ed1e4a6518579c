/**
 * Issue 21, fix 2: the interactive shell in a real terminal (tmux) keeps what is typed while a
 * command runs for the next prompt, in order, with the cursor at its end, as OpenSSH's sftp does:
 * `mkdir made_in_shell⏎` then at once `cd completion_ta⇥` completes to `cd completion_target_dir/`
 * (it became `rget_dir/cd completion_ta`). Ctrl-C during a transfer still stops it, and drops
 * the type-ahead before it, as a terminal's interrupt does.
 */
import assert from 'node:assert/strict';
import { mkdir, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanEnv, PROJECT, tempDir } from '../support/run-cli.js';
import { haveTmux, startTmux, type Tmux } from '../support/tmux.js';
import { startFixture, type Fixture } from './support.js';

const PROMPT = 'coffer>';
const lastLine = (screen: string) => screen.split('\n').at(-1) ?? '';

describe('the shell in a terminal: type-ahead', async () => {
  const usable = await haveTmux();
  let fx: Fixture;
  const dirs: Array<{ remove(): void }> = [];

  before(async () => {
    if (!usable) return;
    fx = await startFixture();
    await mkdir(join(fx.aliceHome, 'completion_target_dir'));
  });
  after(async () => {
    await fx?.close();
    for (const d of dirs) d.remove();
  });

  /** coffer's shell as alice in a fresh terminal, at its first prompt. */
  async function shell(): Promise<Tmux> {
    const dir = tempDir('coffer-tmux-');
    dirs.push(dir);
    const argv = [process.execPath, join(PROJECT, 'bin', 'coffer.js'), '-P', String(fx.server.port), 'alice@127.0.0.1'];
    const term = await startTmux(dir.path, argv, { cwd: fx.work, env: cleanEnv({ HOME: fx.home, SSH_AUTH_SOCK: '' }) });
    await term.until((s) => lastLine(s).startsWith(PROMPT), 'the first prompt');
    return term;
  }

  /** Waits until the last line is `line` with the cursor at its end (tmux drops trailing spaces). */
  async function lineIs(term: Tmux, line: string, what: string): Promise<void> {
    await term.until((s) => lastLine(s) === line.trimEnd(), what, 5000);
    const rows = (await term.screen()).split('\n').length;
    assert.deepEqual(await term.cursor(), { x: line.length, y: rows - 1 }, `${what}: the cursor is at the end of the line`);
  }

  it('mkdir⏎ then at once cd completion_ta⇥: the next prompt shows cd completion_target_dir/ and runs it', { skip: !usable && 'tmux is not installed' }, async () => {
    const term = await shell();
    try {
      await term.keys('mkdir made_in_shell', 'Enter', 'cd completion_ta', 'Tab');
      await lineIs(term, `${PROMPT} cd completion_target_dir/`, 'the completed type-ahead');
      await term.keys('Enter', 'pwd', 'Enter');
      await term.until((s) => s.includes('Remote working directory: /completion_target_dir'), 'pwd in the completed folder');
      assert.ok((await stat(join(fx.aliceHome, 'made_in_shell'))).isDirectory());
    } finally {
      await term.close();
    }
  });

  it('text typed ahead waits at the next prompt with the cursor at its end; typing continues it', { skip: !usable && 'tmux is not installed' }, async () => {
    const term = await shell();
    try {
      await term.keys('mkdir second_dir', 'Enter', 'cd completion_ta');
      await lineIs(term, `${PROMPT} cd completion_ta`, 'the type-ahead at the prompt');
      await term.keys('rget_dir', 'Enter', 'pwd', 'Enter');
      await term.until((s) => s.includes('Remote working directory: /completion_target_dir'), 'pwd in the folder typed in two parts');
      assert.ok((await stat(join(fx.aliceHome, 'second_dir'))).isDirectory());
    } finally {
      await term.close();
    }
  });

  it('several lines typed at once run in order', { skip: !usable && 'tmux is not installed' }, async () => {
    const term = await shell();
    try {
      await term.keys('mkdir d1', 'Enter', 'cd d1', 'Enter', 'mkdir d2', 'Enter', 'pwd', 'Enter');
      await term.until((s) => s.includes('Remote working directory: /d1'), 'pwd after cd d1');
      await lineIs(term, `${PROMPT} `, 'an empty prompt after the last line');
      assert.ok((await stat(join(fx.aliceHome, 'd1', 'd2'))).isDirectory());
    } finally {
      await term.close();
    }
  });

  it('Ctrl-C during a put stops it, keeps the part, and drops the text typed ahead of it', { skip: !usable && 'tmux is not installed' }, async () => {
    const big = join(fx.work, 'big.bin');
    await writeFile(big, '');
    await truncate(big, 2 ** 30); // sparse: reading it costs nothing, sending it takes seconds
    const term = await shell();
    try {
      await term.keys('put big.bin', 'Enter');
      await term.until((s) => /big\.bin +[1-9]\d*% /.test(s), 'the progress bar past 1%');
      await term.keys('ls', 'C-c');
      const screen = await term.until((s) => s.includes('interrupted'), 'the interruption');
      assert.match(screen, /bytes kept in \/big\.bin\.coffer-part/);
      await lineIs(term, `${PROMPT} `, 'an empty prompt: the type-ahead before Ctrl-C is dropped');
      assert.ok((await stat(join(fx.aliceHome, 'big.bin.coffer-part'))).size > 0);
      await term.keys('pwd', 'Enter');
      await term.until((s) => s.includes('Remote working directory: /'), 'the shell goes on');
    } finally {
      await term.close();
    }
  });
});
