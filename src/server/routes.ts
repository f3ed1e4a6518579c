/**
 * The routing table coffer-server runs with: the SFTP engine on subsystem `sftp`, and exec of
 * the checksum commands and legacy scp.
 */
import { checksumRoute } from './checksum-route.js';
import { scpRoute } from './scp-route.js';
import { SessionRouter } from './session-router.js';
import { sftpSubsystem } from './sftp-route.js';

/** The subsystems and exec commands the real server serves. */
export function defaultRouter(): SessionRouter {
  return new SessionRouter().addSubsystem('sftp', sftpSubsystem).addExec(checksumRoute).addExec(scpRoute);
}
