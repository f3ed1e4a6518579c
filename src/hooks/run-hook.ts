/**
 * A `run` hook (SPEC §8): the program started without a shell, the event JSON on its stdin, and an
 * environment of PATH and the COFFER_* event variables only (nothing else of the server's
 * environment: not COFFER_DATABASE, not a secret). It runs in a process group of its own, killed
 * with SIGKILL (the program and what it started) after the timeout or when the server stops.
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** How one run went: null = exit status 0, else the reason it failed (for `hook.failed`). */
export function runHook(argv: string[], stdin: string, env: Record<string, string>, timeoutMs: number, signal: AbortSignal): Promise<string | null> {
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['pipe', 'ignore', 'pipe'], detached: true, shell: false });
    } catch (err) {
      return resolve(`cannot start: ${(err as Error).message}`);
    }
    let stderr = '';
    let timedOut = false;
    const kill = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, timeoutMs);
    const onAbort = () => kill();
    signal.addEventListener('abort', onAbort, { once: true });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      if (stderr.length < 400) stderr += text;
    });
    child.stdin!.on('error', () => {}); // a program that does not read its stdin: EPIPE
    child.stdin!.end(stdin);
    child.once('error', (err) => finish(`cannot start: ${err.message}`));
    child.once('exit', (code, sig) => {
      if (timedOut) return finish(`killed after ${timeoutMs / 1000} s (hookTimeoutSeconds)`);
      if (code === 0) return finish(null);
      const said = stderr.trim().split('\n')[0]?.slice(0, 200);
      finish(`${code !== null ? `exit status ${code}` : `killed by ${sig}`}${said ? `: ${said}` : ''}`);
    });
    let done = false;
    function finish(reason: string | null): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      child.stderr?.destroy(); // a grandchild may hold it open
      resolve(reason);
    }
  });
}
