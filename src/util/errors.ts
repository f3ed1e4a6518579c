/**
 * Coffer's typed errors. Each carries a stable `code`; the programs turn them into exit statuses
 * and one-line messages in one place (cli/common/run.ts).
 */

/** Bad input from an operator or user (a name, a size, a key...): refused, nothing changed. */
export class InputError extends Error {
  readonly code: string = 'COFFER_BAD_INPUT';
}

/** A named user does not exist. */
export class NoSuchUserError extends InputError {
  override readonly code = 'COFFER_NO_SUCH_USER';
  constructor(readonly user: string) {
    super(`no such user '${user}'`);
  }
}
