/**
 * Authentication (SPEC §5, security catalog §3): password, keyboard-interactive (one hidden
 * `Password:` prompt) and publickey with the signature verified here, because ssh2 never verifies
 * it. Unknown users, wrong passwords and disabled users get the same answer after the same work.
 */
import type { AuthContext, AuthenticationType, KeyboardAuthContext, PasswordAuthContext, PublicKeyAuthContext } from 'ssh2';
import { isValidUserName } from '../users/user-name.js';
import { verifyPassword, MAX_PASSWORD_BYTES, type ScryptParams } from '../users/password.js';
import type { Store, User } from '../store/store.js';
import { CheckRefusedError } from './password-queue.js';
import { verifyPublicKey } from './public-key-auth.js';

/** The methods offered after a failure (never `none`). */
export const AUTH_METHODS: AuthenticationType[] = ['publickey', 'password', 'keyboard-interactive'];

/** The outcome of one authentication request. */
export type Verdict =
  | { kind: 'accept'; user: User; password?: string }
  | { kind: 'pk-ok' }
  | { kind: 'reject'; reason: string; user: string; countsForBan: boolean; quiet?: boolean };

/** What checking credentials needs. */
export interface CredentialDeps {
  store: Store;
  scrypt: ScryptParams;
  /** Runs one password check when the server's bounded queue lets it (default: at once); may reject with CheckRefusedError. */
  runCheck?: <T>(work: () => Promise<T>) => Promise<T>;
}

/** Decides one authentication request; never throws for anything a client sends. */
export async function checkCredentials(ctx: AuthContext, deps: CredentialDeps): Promise<Verdict> {
  switch (ctx.method) {
    case 'none':
      // `none` only asks which methods exist: not a failure (SPEC §5).
      return reject(ctx.username, 'none', false, true);
    case 'password':
      return checkPassword(ctx.username, passwordOf(ctx), deps);
    case 'keyboard-interactive': {
      const answer = await promptPassword(ctx);
      // The client moved on to another request before answering (RFC 4252 abort): no verdict.
      if (answer === ABORTED) return reject(ctx.username, 'keyboard-interactive abandoned', false, true);
      return checkPassword(ctx.username, answer, deps);
    }
    case 'publickey':
      return checkKey(ctx, deps);
    default:
      return reject(ctx.username, `method ${String((ctx as { method: unknown }).method)} not offered`, false);
  }
}

/** ssh2 passes the password-change form as an object: not a password we accept. */
function passwordOf(ctx: PasswordAuthContext): unknown {
  return (ctx as { password: unknown }).password;
}

const ABORTED = Symbol('aborted');

/**
 * Sends one hidden `Password:` prompt; resolves with the answer, undefined if it is unusable, or
 * ABORTED when ssh2 aborted the exchange (it then passes an Error).
 */
function promptPassword(ctx: KeyboardAuthContext): Promise<unknown> {
  return new Promise((resolve) => {
    ctx.prompt([{ prompt: 'Password: ', echo: false }], (answers: unknown) => {
      if (answers instanceof Error) resolve(ABORTED);
      else resolve(Array.isArray(answers) && answers.length === 1 ? answers[0] : undefined);
    });
  });
}

async function checkPassword(name: string, password: unknown, deps: CredentialDeps): Promise<Verdict> {
  if (typeof password !== 'string') {
    return reject(name, 'malformed password request', true);
  }
  if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) return reject(name, 'password too long', true);
  const runCheck = deps.runCheck ?? ((work) => work());
  let checked: { user: User | undefined; ok: boolean };
  try {
    // Every attempt waits in the same queue, whoever it names, so the wait reveals nothing. The
    // user is read once the check's turn comes, so a change made while it waited applies.
    checked = await runCheck(async () => {
      const user = isValidUserName(name) ? await deps.store.find(name) : undefined;
      // Same scrypt work whatever the outcome: a missing user (or one without a password) is
      // checked against a dummy hash (OpenSSH CVE-2016-6210).
      return { user, ok: await verifyPassword(password, user?.passwordHash ?? null, deps.scrypt) };
    });
  } catch (err) {
    if (!(err instanceof CheckRefusedError)) throw err;
    // A full queue refuses at once (that reveals the load, not the user) and is no guess, so
    // it does not count toward a ban; a dropped check's connection is gone (no one to answer).
    return err.code === 'COFFER_AUTH_QUEUE_FULL' ? reject(name, 'password check queue full', false) : reject(name, 'abandoned', false, true);
  }
  const { user, ok } = checked;
  if (!user) return reject(name, 'unknown user', true);
  if (!ok) return reject(name, 'wrong password', true);
  if (user.disabled) return reject(name, 'user disabled', true);
  return { kind: 'accept', user, password };
}

async function checkKey(ctx: PublicKeyAuthContext, deps: CredentialDeps): Promise<Verdict> {
  const name = ctx.username;
  const user = isValidUserName(name) ? await deps.store.find(name) : undefined;
  const result = verifyPublicKey(ctx, user && !user.disabled ? user.keys : []);
  if (result === 'accept') return { kind: 'accept', user: user! };
  if (result === 'pk-ok') return { kind: 'pk-ok' };
  // Offering a key that is not authorised is what agents do; only a bad signature on an
  // authorised key is an attack worth counting toward a ban.
  return reject(name, result, result === 'bad signature');
}

function reject(user: string, reason: string, countsForBan: boolean, quiet = false): Verdict {
  return { kind: 'reject', reason, user, countsForBan, quiet };
}
