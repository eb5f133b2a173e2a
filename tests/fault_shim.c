/*
 * An LD_PRELOAD shim for tests/faults.rs: while the file named by
 * CREDLIST_FAULT_FLAG exists, fsync and fdatasync of files whose path
 * contains CREDLIST_FAULT_MATCH fail with EIO, and, when
 * CREDLIST_FAULT_WRITE is set, so do write and writev, with ENOSPC.
 * Everything else goes to the real calls. Built by the test with
 * `gcc -shared -fPIC`.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/* True when the fault is on and `fd` is a file the fault applies to. */
static int faulty(int fd) {
    const char *flag = getenv("CREDLIST_FAULT_FLAG");
    const char *match = getenv("CREDLIST_FAULT_MATCH");
    if (flag == NULL || match == NULL || access(flag, F_OK) != 0) {
        return 0;
    }
    char link[64];
    char path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n < 0) {
        return 0;
    }
    path[n] = '\0';
    return strstr(path, match) != NULL;
}

int fsync(int fd) {
    static int (*real)(int);
    if (faulty(fd)) {
        errno = EIO;
        return -1;
    }
    if (real == NULL) {
        real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    }
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (faulty(fd)) {
        errno = EIO;
        return -1;
    }
    if (real == NULL) {
        real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    }
    return real(fd);
}

ssize_t write(int fd, const void *buf, size_t count) {
    static ssize_t (*real)(int, const void *, size_t);
    if (getenv("CREDLIST_FAULT_WRITE") != NULL && faulty(fd)) {
        errno = ENOSPC;
        return -1;
    }
    if (real == NULL) {
        real = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    }
    return real(fd, buf, count);
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt) {
    static ssize_t (*real)(int, const struct iovec *, int);
    if (getenv("CREDLIST_FAULT_WRITE") != NULL && faulty(fd)) {
        errno = ENOSPC;
        return -1;
    }
    if (real == NULL) {
        real = (ssize_t (*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
    }
    return real(fd, iov, iovcnt);
}
