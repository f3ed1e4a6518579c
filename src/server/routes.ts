/**
 * The routing table coffer-server runs with: the SFTP engine on subsystem `sftp`; the checksum
 * commands and legacy scp (issue 6) will add exec routes.
 */
import { SessionRouter } from './session-router.js';
import { sftpSubsystem } from './sftp-route.js';

/** The subsystems and exec commands the real server serves. */
export function defaultRouter(): SessionRouter {
  return new SessionRouter().addSubsystem('sftp', sftpSubsystem);
}
