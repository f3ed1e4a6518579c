/**
 * Keeps secrets out of messages and logs: a database URL's password never appears in an error,
 * a log line or a refusal of the setting that holds it, and a logged object's password or private
 * key fields never reach a line (logger.ts puts every line's fields through redactSecretKeys).
 */

/** `postgres://user:secret@host/db` -> `postgres://user:***@host/db`; other text is unchanged. */
export function redactUrl(text: string): string {
  return text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^/:@\s]*):[^@/\s]*@/gi, '$1:***@');
}

/** Replaces every occurrence of `secret` (when non-empty) in `text` by `***`. */
export function redactSecret(text: string, secret: string | undefined): string {
  return secret ? text.split(secret).join('***') : text;
}

/** Keys whose values are never logged, in a logged object or in any object directly inside it. */
const SECRET_KEYS: ReadonlySet<string> = new Set(['password', 'newPassword', 'oldPassword', 'privateKey']);

/** What a secret's value is written as. */
export const REDACTED = '[redacted]';

/**
 * The log's second fence (logger.ts): `obj` with the value of every key of SECRET_KEYS, at its
 * top level and one level down, replaced by REDACTED (a copy; the caller's objects are never
 * changed). An object with none, every line in practice, is returned as it is.
 *
 * pino's own `redact` option did the same for the same paths, but parsed its paths again and
 * cloned the logged object at every call: with its garbage, most of a transfer line's cost (a
 * line took 17 µs inside the server during a small-file upload; in a loop, 7 µs then, 2.6 now;
 * issue 20).
 */
export function redactSecretKeys<T extends object>(obj: T): T {
  let out: Record<string, unknown> | null = null;
  for (const key in obj) {
    const value = (obj as Record<string, unknown>)[key];
    let shown = value;
    if (SECRET_KEYS.has(key)) shown = REDACTED;
    else if (value !== null && typeof value === 'object' && !ArrayBuffer.isView(value)) {
      let inner: Record<string, unknown> | unknown[] | null = null;
      for (const k in value) {
        if (!SECRET_KEYS.has(k)) continue;
        inner ??= Array.isArray(value) ? [...value] : { ...(value as Record<string, unknown>) };
        (inner as Record<string, unknown>)[k] = REDACTED;
      }
      if (inner) shown = inner;
    }
    if (shown !== value) (out ??= { ...(obj as Record<string, unknown>) })[key] = shown;
  }
  return (out ?? obj) as T;
}
