/**
 * toVfsError: the one mapping from any error to what a client may see, shared by SFTP's statuses
 * (sftp/status.ts) and scp's error records (scp/context.ts). A node:fs message holds host paths:
 * only its errno code is read.
 */
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { QuotaExceededError, QuotaUnavailableError } from '../../src/quota/user-quota.js';
import { errorText } from '../../src/scp/context.js';
import { StatusCode } from '../../src/sftp/constants.js';
import { toStatus } from '../../src/sftp/status.js';
import { notFound, toVfsError, VfsError } from '../../src/vfs/vfs-error.js';

const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: open '/srv/coffer/homes/alice/x'`), { code });

describe('toVfsError', () => {
  it('passes a VfsError through as it is', () => {
    const e = new VfsError('DENIED', 'Changing ownership is not allowed');
    assert.equal(toVfsError(e), e);
  });

  it('maps errno codes to a code and a fixed text, never the fs message', () => {
    const cases: Array<[string, string, string]> = [
      ['ENOENT', 'NOT_FOUND', 'No such file'],
      ['ENOTDIR', 'NOT_FOUND', 'No such file'],
      ['EACCES', 'DENIED', 'Permission denied'],
      ['EEXIST', 'EXISTS', 'File exists'],
      ['ENOTEMPTY', 'FAILURE', 'Directory not empty'],
      ['EISDIR', 'NOT_A_FILE', 'Is a directory'],
      ['ENOSPC', 'FAILURE', 'No space left on device'],
      ['EOPNOTSUPP', 'UNSUPPORTED', 'Operation unsupported'],
      ['EWHATEVER', 'FAILURE', 'Failure'],
      ['constructor', 'FAILURE', 'Failure'],
    ];
    for (const [code, want, message] of cases) {
      const e = toVfsError(errno(code));
      assert.deepEqual([e.code, e.message], [want, message], code);
    }
  });

  it('an exceeded quota is QUOTA_EXCEEDED (SFTP FAILURE) with its own message, a lost store UNAVAILABLE; anything else is FAILURE', () => {
    assert.deepEqual([toVfsError(new QuotaExceededError()).code, toVfsError(new QuotaExceededError()).message], ['QUOTA_EXCEEDED', 'Quota exceeded']);
    assert.deepEqual([toVfsError(new QuotaUnavailableError()).code, toVfsError(new QuotaUnavailableError()).message], ['UNAVAILABLE', 'Temporarily unavailable']);
    assert.deepEqual(toStatus(new QuotaExceededError()), { code: StatusCode.FAILURE, message: 'Quota exceeded' });
    assert.deepEqual(toStatus(new QuotaUnavailableError()), { code: StatusCode.FAILURE, message: 'Temporarily unavailable' });
    assert.deepEqual([toVfsError(new Error('/etc/shadow')).message, toVfsError(null).message, toVfsError('x').code], ['Failure', 'Failure', 'FAILURE']);
  });

  it('a real fs error reaches SFTP and scp with the same fixed text', async () => {
    const err = await open('/nonexistent-coffer-dir/x').catch((e: unknown) => e);
    assert.deepEqual(toStatus(err), { code: StatusCode.NO_SUCH_FILE, message: 'No such file' });
    assert.equal(errorText(err), 'No such file or directory');
    assert.equal(errorText(notFound()), 'No such file or directory');
    assert.equal(errorText(new QuotaExceededError()), 'Quota exceeded');
    assert.equal(errorText(errno('EACCES')), 'Permission denied');
    assert.deepEqual(toStatus(errno('EEXIST')), { code: StatusCode.FAILURE, message: 'File exists' });
    assert.deepEqual(toStatus(new VfsError('DENIED', 'x')), { code: StatusCode.PERMISSION_DENIED, message: 'x' });
  });
});
