/**
 * The hook runner process: started once by the server when hooks are set (hook-runner.ts), it
 * delivers every hook on the server's behalf, so none of that work runs on the server's event
 * loop. Measured on 2 busy vCPUs: starting a program from the server (a fork of ~50 MB resident)
 * stalled its event loop ~13 ms per hook, and fetch() cost it ~2 ms per post; small-file uploads
 * were 7x and 2x slower. Messages: {kind: 'run', id, argv, stdin, env, timeoutMs} and
 * {kind: 'post', id, body, url, secret, timeoutMs, retryBaseMs} -> {id, reason}; {kind: 'abort',
 * id} kills that program or stops that post. When the server goes (the IPC channel closes),
 * everything running is stopped and this process exits.
 */
import { postHook } from './post-hook.js';
import { runHook } from './run-hook.js';

interface RunMessage {
  kind: 'run';
  id: number;
  argv: string[];
  stdin: string;
  env: Record<string, string>;
  timeoutMs: number;
}

interface PostMessage {
  kind: 'post';
  id: number;
  body: string;
  url: string;
  secret: string;
  timeoutMs: number;
  retryBaseMs: number;
}

const running = new Map<number, AbortController>();

process.on('message', (message: RunMessage | PostMessage | { kind: 'abort'; id: number }) => {
  if (message.kind === 'abort') return running.get(message.id)?.abort();
  const ctl = new AbortController();
  running.set(message.id, ctl);
  const m = message;
  const work =
    m.kind === 'run'
      ? runHook(m.argv, m.stdin, m.env, m.timeoutMs, ctl.signal)
      : postHook(m.body, { url: m.url, secret: m.secret, timeoutMs: m.timeoutMs, retryBaseMs: m.retryBaseMs, signal: ctl.signal });
  void work.then((reason) => {
    running.delete(message.id);
    if (process.connected) process.send!({ id: message.id, reason });
    else if (running.size === 0) process.exit(0);
  });
});

process.on('disconnect', () => {
  for (const ctl of running.values()) ctl.abort();
  if (running.size === 0) process.exit(0);
});
