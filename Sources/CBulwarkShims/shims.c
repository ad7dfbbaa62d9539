#define _GNU_SOURCE
#include "CBulwarkShims.h"
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <jemalloc/jemalloc.h>

int bulwark_accept4(int fd, struct sockaddr *address, socklen_t *length, int flags) {
    return accept4(fd, address, length, flags);
}

const char *bulwark_jemalloc_version(void) {
    const char *version = NULL;
    size_t size = sizeof(version);
    if (mallctl("version", &version, &size, NULL, 0) != 0) return NULL;
    return version;
}

int bulwark_jemalloc_is_active(void) {
    uint64_t before = 0, after = 0;
    size_t size = sizeof(uint64_t);
    if (mallctl("thread.allocated", &before, &size, NULL, 0) != 0) return 0;
    // Call malloc through a volatile pointer so the compiler cannot elide the pair.
    void *(*volatile allocate)(size_t) = malloc;
    void *probe = allocate(4096);
    size = sizeof(uint64_t);
    int status = mallctl("thread.allocated", &after, &size, NULL, 0);
    free(probe);
    return status == 0 && after >= before + 4096;
}

int64_t bulwark_jemalloc_allocated_bytes(void) {
    uint64_t epoch = 1;
    size_t size = sizeof(epoch);
    if (mallctl("epoch", &epoch, &size, &epoch, size) != 0) return -1;
    size_t allocated = 0;
    size = sizeof(allocated);
    if (mallctl("stats.allocated", &allocated, &size, NULL, 0) != 0) return -1;
    return (int64_t)allocated;
}

void bulwark_jemalloc_purge(void) {
    char command[64];
    snprintf(command, sizeof(command), "arena.%u.purge", (unsigned)MALLCTL_ARENAS_ALL);
    mallctl(command, NULL, NULL, NULL, 0);
}

int bulwark_gettid(void) { return (int)syscall(SYS_gettid); }

void bulwark_set_thread_name(const char *name) { pthread_setname_np(pthread_self(), name); }

// jemalloc reads this at start-up. Background purging with a 1 s dirty-page decay hands memory
// back to the kernel soon after a burst, even when the gateway then sits idle (without the
// background thread, purging only happens on later allocator activity).
const char *malloc_conf = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0";
