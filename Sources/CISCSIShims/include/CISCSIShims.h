#ifndef CISCSI_SHIMS_H
#define CISCSI_SHIMS_H

// Declarations only: the definitions need _GNU_SOURCE, which must not leak into the clang module
// of this header (other modules see the same system headers without it).
#include <stddef.h>

/// Releases a byte range of a file, keeping its size (thin provisioning); -1 and errno on failure
/// (EOPNOTSUPP where the file system has no holes).
int ciscsi_punch_hole(int fd, long offset, long length);

/// lseek(SEEK_DATA) and lseek(SEEK_HOLE); -1 and errno (ENXIO past the last data).
long ciscsi_seek_data(int fd, long offset);
long ciscsi_seek_hole(int fd, long offset);

/// A read that fails with EAGAIN instead of waiting for the disk (RWF_NOWAIT): served from the
/// page cache or not at all, so it may run on an event loop.
long ciscsi_pread_nowait(int fd, void *buffer, size_t length, long offset);

/// copy_file_range at the same offset in both files (in the kernel; a reflink where possible);
/// the bytes moved, or -1 and errno (EXDEV, ENOSYS, EOPNOTSUPP where it cannot).
long ciscsi_copy_range(int source, int destination, long offset, size_t length);

#endif
