/**
 * Session routing table: which subsystems and exec commands the server serves. The SFTP engine
 * (subsystem `sftp`), the checksum commands and legacy scp (exec) plug in here; anything not in the
 * table is refused. Handlers get ssh2's raw channel (a Duplex: read requests, write replies,
 * `channel.stderr`, `channel.exit(status)`, `channel.end()`) and the session's context.
 */
import type { ServerChannel } from 'ssh2';
import type { Config } from '../config/load.js';
import type { FileEventSink, Protocol } from '../events/events.js';
import type { QuotaLedger } from '../quota/quota-ledger.js';
import type { UserLocks } from '../vfs/user-locks.js';
import type { Store } from '../store/store.js';
import type { Logger } from '../util/logger.js';

/** What a handler knows about the session it serves. */
export interface SessionContext {
  /** The authenticated user's name. */
  user: string;
  /** The user's home folder on the host (their `/`). */
  home: string;
  config: Config;
  /** Child logger carrying user, address and connection id. */
  log: Logger;
  store: Store;
  /** The server's quota ledger: acquire(user) for a session's shared UserQuota, release(user) after. */
  ledger: QuotaLedger;
  /** The users' namespace locks in this process: acquire(user) for a session, release(user) after. */
  locks: UserLocks;
  /** Client address and port. */
  address: string;
  port: number;
  connectionId: number;
  /** Aborted when the session must wind down: shutdown, or the user was disabled or removed. */
  signal: AbortSignal;
  /**
   * Aborted once nothing sent on the channel will be read: the peer closed it (ssh2's session
   * 'close', which comes at once, where the channel's own 'close' waits for its input to be read)
   * or the connection is ending. Work whose only result is output (hashing) stops here.
   */
  closed: AbortSignal;
  /** Marks the session active (incoming channel data already does this). */
  touch(): void;
  /** The sink an SFTP or scp engine reports files, folders and quota refusals to (metrics, hooks). */
  fileEvents(protocol: Protocol): FileEventSink;
  /**
   * Set by a handler to say whether it is in the middle of work (an open transfer). Shutdown waits
   * up to shutdownGraceSeconds while any session is busy. Default: data seen in the last 2 s.
   */
  isBusy?: () => boolean;
}

/** Serves one subsystem channel (e.g. `sftp`) until it closes. */
export type SubsystemHandler = (channel: ServerChannel, ctx: SessionContext) => void | Promise<void>;

/** One family of exec commands (e.g. `md5sum PATH...`, `scp -t DIR`). */
export interface ExecRoute {
  /** Name for logs. */
  name: string;
  /** True when this route serves `command`. */
  matches(command: string, ctx: SessionContext): boolean;
  /** Runs the command; must end with channel.exit(status) and channel.end(). */
  run(channel: ServerChannel, command: string, ctx: SessionContext): void | Promise<void>;
}

/** The routing table: subsystems by name, exec routes in order (first match wins). */
export class SessionRouter {
  private readonly subsystems = new Map<string, SubsystemHandler>();
  private readonly execRoutes: ExecRoute[] = [];

  /** Serves subsystem `name` with `handler` (replacing any earlier one). */
  addSubsystem(name: string, handler: SubsystemHandler): this {
    this.subsystems.set(name, handler);
    return this;
  }

  /** Adds an exec route after the existing ones. */
  addExec(route: ExecRoute): this {
    this.execRoutes.push(route);
    return this;
  }

  /** The handler of subsystem `name`, if served. */
  subsystem(name: string): SubsystemHandler | undefined {
    return this.subsystems.get(name);
  }

  /** The first exec route serving `command`, if any. */
  exec(command: string, ctx: SessionContext): ExecRoute | undefined {
    return this.execRoutes.find((r) => r.matches(command, ctx));
  }
}

/** The one line a shell request, and any exec nobody serves, gets on stderr (SPEC §5). */
export const SFTP_ONLY_MESSAGE = 'This service allows SFTP only.';
