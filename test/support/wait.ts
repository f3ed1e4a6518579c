/** Waiting helpers for tests: poll a condition with a deadline, never a bare sleep. */

/** Resolves once `cond()` is true; rejects after `timeoutMs` with `what` in the message. */
export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Resolves with the first emission of `event` on `emitter`, or rejects after `timeoutMs`. */
export function once<T = unknown>(emitter: NodeJS.EventEmitter, event: string, timeoutMs = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`timed out after ${timeoutMs} ms waiting for '${event}'`));
    }, timeoutMs);
    const on = (value: T) => {
      clearTimeout(timer);
      resolve(value);
    };
    emitter.once(event, on);
  });
}
