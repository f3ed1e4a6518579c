/**
 * The local-vfs suite again with metadataIo 'async': every metadata call on the thread pool, the path
 * a home on NFS, CIFS or FUSE takes (meta-io.ts). local-vfs.test.ts runs it with 'auto', which on the
 * local temp folder is the event loop.
 */
process.env.COFFER_TEST_METADATA_IO = 'async';
await import('./local-vfs.test.js');
