/**
 * How the server reports events to its observers (metrics, hooks): a fan-out that shields the
 * server from an observer's mistakes, and the FileEventSink each SFTP or scp session reports to.
 */
import { NO_OBSERVER, type FileEvent, type FileEventSink, type Observer, type Protocol, type ServerEvent, type SessionInfo } from '../events/events.js';
import type { Logger } from '../util/logger.js';
import { normalizePath } from '../vfs/virtual-path.js';

/**
 * One observer calling each of `observers`; a throw is logged (once per observer) and ignored.
 * With none, NO_OBSERVER itself, so sessions can tell that nobody listens (sessionSink).
 */
export function fanOut(observers: Observer[], log: Logger): Observer {
  if (observers.length === 0) return NO_OBSERVER;
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

/**
 * The sink of one session: paths become canonical virtual paths ("/a/b"), the session is attached.
 * Read when the session starts: with no metrics and no hooks (NO_OBSERVER), a sink that does
 * nothing, so a file operation builds no event at all.
 */
export function sessionSink(observer: Observer, session: SessionInfo): FileEventSink {
  if (observer === NO_OBSERVER) return ignore;
  return (file: FileEvent) => observer.observe({ event: 'file', session, file: canonical(file) });
}

const ignore: FileEventSink = () => {};

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
