/**
 * An ssh2 client whose authentication steps the test drives one at a time, timing each answer:
 * `attempt(method)` sends one request and resolves with the milliseconds until the server's reply.
 */
import ssh2, { type AuthenticationType } from 'ssh2';
import type { SshClient } from './ssh-clients.js';

/** What an ssh2 authHandler may answer: a method name, false (give up) or a method object. */
export type AuthHandlerResult = AuthenticationType | false | { type: string; username: string; [k: string]: unknown };

/** A connection whose authentication is driven step by step. */
export interface AuthDriver {
  client: SshClient;
  /** Sends one auth request; resolves with ms until the failure (or success) came back. */
  attempt(next: AuthHandlerResult): Promise<{ ms: number; outcome: 'failure' | 'success' | 'closed' }>;
  close(): void;
}

/** Connects and waits until the client is ready to send its first auth request. */
export function authDriver(port: number, extra: ssh2.ConnectConfig = {}): Promise<AuthDriver> {
  return new Promise((resolveDriver, rejectDriver) => {
    const client = new ssh2.Client();
    let pending: ((next: AuthHandlerResult) => void) | undefined;
    let waiter: ((o: 'failure' | 'success' | 'closed') => void) | undefined;
    let isClosed = false;
    const settle = (o: 'failure' | 'success' | 'closed') => {
      const w = waiter;
      waiter = undefined;
      w?.(o);
    };
    const driver: AuthDriver = {
      client,
      attempt(next) {
        return new Promise((resolve) => {
          const t0 = process.hrtime.bigint();
          waiter = (outcome) => resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, outcome });
          const cb = pending;
          pending = undefined;
          if (!cb || isClosed) return settle('closed');
          cb(next);
        });
      },
      close: () => client.end(),
    };
    let started = false;
    client.connect({
      host: '127.0.0.1',
      port,
      readyTimeout: 20_000,
      ...extra,
      authHandler: ((_methods: unknown, _partial: unknown, cb: (next: AuthHandlerResult) => void) => {
        pending = cb;
        if (!started) {
          started = true;
          resolveDriver(driver);
        } else settle('failure');
      }) as never,
    });
    client.on('ready', () => settle('success'));
    client.on('close', () => {
      isClosed = true;
      settle('closed');
    });
    client.on('error', (err) => {
      if (!started) rejectDriver(err);
    });
  });
}
