/**
 * Waiting for work that cannot be cancelled (a scrypt hash, a key generation, a walk of a folder,
 * a read of stdin that may never end) without letting it hold up a stop.
 */

/**
 * Settles as `work` does, or rejects with the signal's reason as soon as it aborts. The work
 * itself runs on and its result is dropped, so only use it for work that changes nothing.
 */
export function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => {}); // dropped: its failure is nobody's concern any more
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      work.catch(() => {});
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
