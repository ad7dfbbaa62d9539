#define _GNU_SOURCE
#include "CBulwarkShims.h"
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <dlfcn.h>
#include <sched.h>
#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <linux/capability.h>

int bulwark_accept4(int fd, struct sockaddr *address, socklen_t *length, int flags) {
    return accept4(fd, address, length, flags);
}

typedef int (*mallctl_function)(const char *, void *, size_t *, void *, size_t);

/// jemalloc's mallctl if the process has it, looked up once.
static mallctl_function find_mallctl(void) {
    static mallctl_function found = NULL;
    static int looked = 0;
    if (!__atomic_load_n(&looked, __ATOMIC_ACQUIRE)) {
        found = (mallctl_function)dlsym(RTLD_DEFAULT, "mallctl");
        __atomic_store_n(&looked, 1, __ATOMIC_RELEASE);
    }
    return found;
}

#define mallctl(...) (find_mallctl() ? find_mallctl()(__VA_ARGS__) : -1)
#define MALLCTL_ARENAS_ALL 4096

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

int bulwark_jemalloc_use_unpurged_arena(void) {
    unsigned arena = 0;
    size_t size = sizeof(arena);
    if (mallctl("arenas.create", &arena, &size, NULL, 0) != 0) return -1;
    ssize_t never = -1;
    char name[64];
    snprintf(name, sizeof(name), "arena.%u.dirty_decay_ms", arena);
    if (mallctl(name, NULL, NULL, &never, sizeof(never)) != 0) return -1;
    snprintf(name, sizeof(name), "arena.%u.muzzy_decay_ms", arena);
    if (mallctl(name, NULL, NULL, &never, sizeof(never)) != 0) return -1;
    return mallctl("thread.arena", NULL, NULL, &arena, sizeof(arena)) == 0 ? (int)arena : -1;
}

int bulwark_gettid(void) { return (int)syscall(SYS_gettid); }

void bulwark_set_thread_name(const char *name) { pthread_setname_np(pthread_self(), name); }


_Thread_local int bulwark_counter_stripe = 0;

int bulwark_set_thread_idle_scheduling(void) {
    struct sched_param parameters = { .sched_priority = 0 };
    return pthread_setschedparam(pthread_self(), SCHED_IDLE, &parameters);
}

// MARK: asynchronous name lookups

struct bulwark_lookup {
    struct gaicb request;
    struct addrinfo hints;
    struct sigevent notification;
    pthread_mutex_t lock;
    int eventfd;   // -1 once the owner let go (under lock)
    int references; // owner + notification (atomic)
    char host[];
};

static void bulwark_lookup_unreference(struct bulwark_lookup *lookup) {
    if (__atomic_sub_fetch(&lookup->references, 1, __ATOMIC_ACQ_REL) != 0) return;
    if (lookup->request.ar_result) freeaddrinfo(lookup->request.ar_result);
    pthread_mutex_destroy(&lookup->lock);
    free(lookup);
}

static void bulwark_lookup_notified(union sigval value) {
    struct bulwark_lookup *lookup = value.sival_ptr;
    pthread_mutex_lock(&lookup->lock);
    if (lookup->eventfd >= 0) {
        uint64_t one = 1;
        // An eventfd write of 1 fails only when the counter would overflow: then it is readable anyway.
        ssize_t written = write(lookup->eventfd, &one, sizeof one);
        (void)written;
    }
    pthread_mutex_unlock(&lookup->lock);
    bulwark_lookup_unreference(lookup);
}

struct bulwark_lookup *bulwark_lookup_start(const char *host, int eventfd, int *gai_error) {
    size_t length = strlen(host) + 1;
    struct bulwark_lookup *lookup = calloc(1, sizeof *lookup + length);
    if (!lookup) { *gai_error = EAI_MEMORY; errno = ENOMEM; return NULL; }
    memcpy(lookup->host, host, length);
    pthread_mutex_init(&lookup->lock, NULL);
    lookup->eventfd = eventfd;
    lookup->references = 2;
    lookup->hints.ai_family = AF_UNSPEC;
    lookup->hints.ai_socktype = SOCK_STREAM;
    lookup->request.ar_name = lookup->host;
    lookup->request.ar_request = &lookup->hints;
    lookup->notification.sigev_notify = SIGEV_THREAD;
    lookup->notification.sigev_value.sival_ptr = lookup;
    lookup->notification.sigev_notify_function = bulwark_lookup_notified;
    struct gaicb *list[1] = { &lookup->request };
    int result = getaddrinfo_a(GAI_NOWAIT, list, 1, &lookup->notification);
    if (result != 0) {
        *gai_error = result;
        pthread_mutex_destroy(&lookup->lock);
        free(lookup);
        if (result != EAI_SYSTEM) errno = EAGAIN;
        return NULL;
    }
    *gai_error = 0;
    return lookup;
}

int bulwark_lookup_status(struct bulwark_lookup *lookup) { return gai_error(&lookup->request); }

const struct addrinfo *bulwark_lookup_result(struct bulwark_lookup *lookup) {
    return gai_error(&lookup->request) == 0 ? lookup->request.ar_result : NULL;
}

void bulwark_lookup_release(struct bulwark_lookup *lookup) {
    pthread_mutex_lock(&lookup->lock);
    lookup->eventfd = -1;
    pthread_mutex_unlock(&lookup->lock);
    bulwark_lookup_unreference(lookup);
}

const char *bulwark_lookup_error_text(int code) { return gai_strerror(code); }

int bulwark_lookup_in_progress_code(void) { return EAI_INPROGRESS; }

// MARK: privileges

int bulwark_peer_credentials(int fd, uint32_t *uid, uint32_t *gid, int32_t *pid) {
    struct ucred credentials;
    socklen_t length = sizeof credentials;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) < 0) return -1;
    *uid = credentials.uid;
    *gid = credentials.gid;
    *pid = credentials.pid;
    return 0;
}

int bulwark_drop_all_capabilities(void) {
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) return -1;
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &header, data) < 0) return -1;
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

int64_t bulwark_effective_capabilities(void) {
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &header, data) < 0) return -1;
    return (int64_t)(((uint64_t)data[1].effective << 32) | data[0].effective);
}
