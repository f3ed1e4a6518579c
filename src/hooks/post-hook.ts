/**
 * A `post` hook (SPEC §8): the event JSON POSTed with Content-Type application/json and
 * `X-Coffer-Signature: sha256=<hex HMAC-SHA256 of the body with the secret>`. A non-2xx answer or
 * a network error is retried 3 times, after 1, 2 and 4 × `retryBaseMs`; each attempt is abandoned
 * after `timeoutMs`.
 */
import { createHmac } from 'node:crypto';

/** Retries after the first attempt. */
export const POST_RETRIES = 3;

/** The signature header's value for `body`. */
export function signature(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** What a post needs. */
export interface PostOptions {
  url: string;
  secret: string;
  timeoutMs: number;
  /** First retry delay; the next ones double (1 s in production, less in tests). */
  retryBaseMs: number;
  signal: AbortSignal;
}

/** Posts `body`; resolves null once a 2xx answer came, else the last failure's reason. */
export async function postHook(body: string, opts: PostOptions): Promise<string | null> {
  const headers = { 'content-type': 'application/json', 'x-coffer-signature': signature(body, opts.secret), 'user-agent': 'coffer-hooks' };
  let reason = '';
  for (let attempt = 0; attempt <= POST_RETRIES; attempt++) {
    if (attempt > 0 && !(await delay(opts.retryBaseMs * 2 ** (attempt - 1), opts.signal))) return `${reason} (stopped: server shutting down)`;
    try {
      const res = await fetch(opts.url, { method: 'POST', headers, body, redirect: 'manual', signal: AbortSignal.any([opts.signal, AbortSignal.timeout(opts.timeoutMs)]) });
      await res.body?.cancel().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return null;
      reason = `HTTP ${res.status}`;
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      reason = e.name === 'TimeoutError' ? `no answer within ${opts.timeoutMs / 1000} s` : (e.cause?.code ?? e.message);
      if (opts.signal.aborted) return `${reason} (stopped: server shutting down)`;
    }
  }
  return `${reason} after ${POST_RETRIES} retries`;
}

/** Waits `ms`; false if `signal` aborted first. */
function delay(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
