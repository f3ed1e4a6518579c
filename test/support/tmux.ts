/**
 * A program in a real terminal for tests: tmux on a private socket (its own server, no user
 * config), keys sent with send-keys, the screen read with capture-pane, and waits that poll the
 * screen until a condition holds (never a fixed sleep). close() ends that tmux server only.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { waitFor } from './wait.js';

/** A terminal running one program. */
export interface Tmux {
  /** The visible screen, trailing blank lines removed. */
  screen(): Promise<string>;
  /** The cursor's column and row (0-based). */
  cursor(): Promise<{ x: number; y: number }>;
  /** tmux send-keys arguments: literal text, or key names such as Enter, Tab, C-c. */
  keys(...keys: string[]): Promise<void>;
  /** Resolves with the screen once `cond(screen)` holds; fails with the screen after `timeoutMs`. */
  until(cond: (screen: string) => boolean, what: string, timeoutMs?: number): Promise<string>;
  close(): Promise<void>;
}

function tmux(socket: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('tmux', ['-S', socket, ...args], { env, timeout: 10_000 }, (err, stdout, stderr) => (err ? reject(new Error(`tmux ${args[0]}: ${stderr || err.message}`)) : resolve(stdout))),
  );
}

/** True when tmux can be run here. */
export function haveTmux(): Promise<boolean> {
  return new Promise((resolve) => execFile('tmux', ['-V'], (err) => resolve(!err)));
}

/**
 * Starts `argv` in a `cols` x `rows` terminal in `cwd` with `env` (in a folder `dir` of the
 * caller's, which holds the socket and the config). The pane stays after the program exits.
 */
export async function startTmux(dir: string, argv: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; cols?: number; rows?: number }): Promise<Tmux> {
  const socket = join(dir, 'tmux.sock');
  const config = join(dir, 'tmux.conf');
  await writeFile(config, 'set -g remain-on-exit on\nset -g status off\n');
  const env: NodeJS.ProcessEnv = { ...opts.env, TERM: 'xterm-256color' };
  delete env.TMUX;
  const quoted = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  await tmux(socket, ['-f', config, 'new-session', '-d', '-s', 't', '-x', String(opts.cols ?? 120), '-y', String(opts.rows ?? 30), '-c', opts.cwd, quoted], env);
  const screen = async () => (await tmux(socket, ['capture-pane', '-p', '-t', 't'])).replace(/\n+$/, '');
  return {
    screen,
    cursor: async () => {
      const [x, y] = (await tmux(socket, ['display-message', '-p', '-t', 't', '#{cursor_x} #{cursor_y}'])).trim().split(' ').map(Number);
      return { x: x!, y: y! };
    },
    keys: async (...keys) => void (await tmux(socket, ['send-keys', '-t', 't', ...keys])),
    until: async (cond, what, timeoutMs = 10_000) => {
      let last = '';
      try {
        await waitFor(async () => cond((last = await screen())), timeoutMs, what);
      } catch (err) {
        throw new Error(`${(err as Error).message}; the screen:\n${last}`);
      }
      return last;
    },
    close: async () => void (await tmux(socket, ['kill-server']).catch(() => undefined)),
  };
}
