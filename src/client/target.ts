/**
 * `[USER@]HOST[:PATH]` as scp and sftp write it. An IPv6 address goes in brackets
 * (`alice@[::1]:/x`); the user is everything before the last `@` of the host part.
 */
import { userInfo } from 'node:os';

/** Who to connect to and, for one-shot commands, which remote path. */
export interface Target {
  user: string;
  host: string;
  /** The remote path after `:`, or null when there was no colon. */
  path: string | null;
}

/** The local user's name: $USER, else the account name. */
export function localUserName(): string {
  return process.env.USER || process.env.LOGNAME || userInfo().username;
}

/** Parses `[USER@]HOST[:PATH]`; returns null when the text has no host. */
export function parseTarget(text: string, defaultUser = localUserName()): Target | null {
  const at = text.lastIndexOf('@', text.startsWith('[') ? -1 : hostEnd(text));
  if (at === 0) return null;
  const user = at > 0 ? text.slice(0, at) : defaultUser;
  const rest = at >= 0 ? text.slice(at + 1) : text;
  let host: string;
  let path: string | null = null;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) return null;
    host = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) return null;
    path = after === '' ? null : after.slice(1);
  } else {
    const colon = rest.indexOf(':');
    host = colon < 0 ? rest : rest.slice(0, colon);
    path = colon < 0 ? null : rest.slice(colon + 1);
  }
  if (host === '' || user === '' || /[\s/]/.test(host)) return null;
  return { user, host, path };
}

// The '@' that separates the user must come before the first ':' (a path may hold '@').
function hostEnd(text: string): number {
  const colon = text.indexOf(':');
  return colon < 0 ? text.length : colon;
}

/** True when an argument names a remote place (has `HOST:`), as scp decides. */
export function isRemoteSpec(text: string): boolean {
  if (text.startsWith('/') || text.startsWith('./') || text.startsWith('../')) return false;
  const colon = text.indexOf(':');
  const slash = text.indexOf('/');
  return colon > 0 && (slash < 0 || colon < slash || text.startsWith('['));
}
