#ifndef CISCSI_SHIMS_H
#define CISCSI_SHIMS_H

#ifdef __linux__
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <sys/uio.h>

/// Releases a byte range of a file, keeping its size (thin provisioning); -1 and errno on failure.
static inline int ciscsi_punch_hole(int fd, off_t offset, off_t length) {
    return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
}

/// A read that fails with EAGAIN instead of waiting for the disk (RWF_NOWAIT): served from the
/// page cache or not at all, so it may run on an event loop.
static inline ssize_t ciscsi_pread_nowait(int fd, void *buffer, size_t length, off_t offset) {
    struct iovec vector = { buffer, length };
    return preadv2(fd, &vector, 1, offset, RWF_NOWAIT);
}

static inline off_t ciscsi_seek_data(int fd, off_t offset) { return lseek(fd, offset, SEEK_DATA); }
static inline off_t ciscsi_seek_hole(int fd, off_t offset) { return lseek(fd, offset, SEEK_HOLE); }
#endif

#endif
