/**
 * Keeps secrets out of messages and logs: a database URL's password never appears in an error,
 * a log line or a refusal of the setting that holds it.
 */

/** `postgres://user:secret@host/db` -> `postgres://user:***@host/db`; other text is unchanged. */
export function redactUrl(text: string): string {
  return text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^/:@\s]*):[^@/\s]*@/gi, '$1:***@');
}

/** Replaces every occurrence of `secret` (when non-empty) in `text` by `***`. */
export function redactSecret(text: string, secret: string | undefined): string {
  return secret ? text.split(secret).join('***') : text;
}
