#define _GNU_SOURCE
#include "CISCSIShims.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/falloc.h>
#endif

int ciscsi_punch_hole(int fd, long offset, long length) {
#ifdef __linux__
    return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length);
#else
    errno = EOPNOTSUPP;
    return -1;
#endif
}

long ciscsi_seek_data(int fd, long offset) { return lseek(fd, (off_t)offset, SEEK_DATA); }

long ciscsi_seek_hole(int fd, long offset) { return lseek(fd, (off_t)offset, SEEK_HOLE); }

long ciscsi_pread_nowait(int fd, void *buffer, size_t length, long offset) {
#ifdef RWF_NOWAIT
    struct iovec vector = { buffer, length };
    return preadv2(fd, &vector, 1, (off_t)offset, RWF_NOWAIT);
#else
    errno = EOPNOTSUPP;
    return -1;
#endif
}

long ciscsi_copy_range(int source, int destination, long offset, size_t length) {
#ifdef __linux__
    loff_t in = (loff_t)offset, out = (loff_t)offset;
    return (long)copy_file_range(source, &in, destination, &out, length, 0);
#else
    errno = ENOSYS;
    return -1;
#endif
}
