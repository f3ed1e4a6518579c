/**
 * How the server reports events to its observers (metrics, hooks): a fan-out that shields the
 * server from an observer's mistakes, and the FileEventSink each SFTP or scp session reports to.
 */
import type { FileEvent, FileEventSink, Observer, Protocol, ServerEvent, SessionInfo } from '../events/events.js';
import type { Logger } from '../util/logger.js';
import { normalizePath } from '../vfs/virtual-path.js';

/** One observer calling each of `observers`; a throw is logged (once per observer) and ignored. */
export function fanOut(observers: Observer[], log: Logger): Observer {
  if (observers.length === 0) return { observe: () => {} };
  const failed = new Set<Observer>();
  return {
    observe(e: ServerEvent) {
      for (const o of observers) {
        try {
          o.observe(e);
        } catch (err) {
          if (failed.has(o)) continue;
          failed.add(o);
          log.error({ event: 'observer.error', err: (err as Error).message }, 'an event observer failed');
        }
      }
    },
  };
}

/** The sink of one session: paths become canonical virtual paths ("/a/b"), the session is attached. */
export function sessionSink(observer: Observer, session: SessionInfo): FileEventSink {
  return (file: FileEvent) => observer.observe({ event: 'file', session, file: canonical(file) });
}

function canonical(f: FileEvent): FileEvent {
  if (f.event === 'rename') return { ...f, path: virtual(f.path), target: virtual(f.target) };
  if ('path' in f && f.path !== undefined) return { ...f, path: virtual(f.path) };
  return f;
}

/** The canonical virtual path; the text itself if it cannot name a file. */
function virtual(path: string): string {
  try {
    return normalizePath(path);
  } catch {
    return path;
  }
}

export type { Protocol };
