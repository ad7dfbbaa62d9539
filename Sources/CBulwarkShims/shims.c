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
#include <sys/mman.h>
#include <fcntl.h>

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

// MARK: handing a config on


int bulwark_memfd_create(const char *name) {
    return memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
}

int bulwark_memfd_seal(int fd) {
    return fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
}

ssize_t bulwark_send_with_fd(int socket, const void *buffer, size_t length, int fd) {
    struct iovec vector = { .iov_base = (void *)buffer, .iov_len = length };
    union { struct cmsghdr header; char space[CMSG_SPACE(sizeof(int))]; } control;
    struct msghdr message = { .msg_iov = &vector, .msg_iovlen = 1 };
    if (fd >= 0) {
        memset(&control, 0, sizeof(control));
        message.msg_control = control.space;
        message.msg_controllen = sizeof(control.space);
        struct cmsghdr *header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(header), &fd, sizeof(int));
    }
    ssize_t sent;
    do { sent = sendmsg(socket, &message, MSG_DONTWAIT | MSG_NOSIGNAL); } while (sent < 0 && errno == EINTR);
    return sent;
}

ssize_t bulwark_receive_with_fd(int socket, void *buffer, size_t length, int *fd, int *truncated) {
    struct iovec vector = { .iov_base = buffer, .iov_len = length };
    union { struct cmsghdr header; char space[CMSG_SPACE(sizeof(int) * 4)]; } control;
    struct msghdr message = { .msg_iov = &vector, .msg_iovlen = 1, .msg_control = control.space,
                              .msg_controllen = sizeof(control.space) };
    *fd = -1;
    *truncated = 0;
    ssize_t count;
    do { count = recvmsg(socket, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC); } while (count < 0 && errno == EINTR);
    if (count < 0) return count;
    for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        size_t fds = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t index = 0; index < fds; index++) {
            int received;
            memcpy(&received, CMSG_DATA(header) + index * sizeof(int), sizeof(int));
            if (*fd < 0) *fd = received; else close(received);  // one fd a message; extra ones are not kept
        }
    }
    if (message.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) *truncated = 1;
    return count;
}

// MARK: the master's fallback after an upgrade's exec

static const int fallback_signals[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGALRM };
#define FALLBACK_SIGNAL_COUNT (sizeof(fallback_signals) / sizeof(fallback_signals[0]))
static struct sigaction fallback_previous[FALLBACK_SIGNAL_COUNT];
static volatile sig_atomic_t fallback_armed = 0;
static int fallback_fd = -1;
static char **fallback_argv = NULL;
static char **fallback_envp = NULL;
static unsigned fallback_seconds = 0;
#define FALLBACK_PREFIX "BULWARK_MASTER_FALLBACK="
// The last slot of fallback_envp points here; the handler writes the reason into it.
static char fallback_reason[256] = FALLBACK_PREFIX "exited while restoring";

static char **copy_strings(char *const strings[], int extra) {
    size_t count = 0;
    while (strings[count]) count++;
    char **copy = calloc(count + extra + 1, sizeof(char *));
    if (!copy) return NULL;
    for (size_t index = 0; index < count; index++) {
        copy[index] = strdup(strings[index]);
        if (!copy[index]) {
            while (index > 0) free(copy[--index]);
            free(copy);
            return NULL;
        }
    }
    return copy;
}

// The handler runs on its own stack, so a stack overflow (SIGSEGV on a full stack) is caught too.
static char fallback_stack[64 * 1024];
static stack_t fallback_previous_stack;

/// Appends `text` at `*cursor` (within the reason buffer), async-signal-safe.
static void reason_append(char **cursor, const char *text) {
    char *end = fallback_reason + sizeof(fallback_reason) - 1;
    while (*text && *cursor < end) *(*cursor)++ = *text++;
    **cursor = 0;
}

static void reason_append_number(char **cursor, unsigned value) {
    char digits[12];
    int length = 0;
    do { digits[length++] = (char)('0' + value % 10); value /= 10; } while (value && length < 11);
    char text[12];
    for (int index = 0; index < length; index++) text[index] = digits[length - 1 - index];
    text[length] = 0;
    reason_append(cursor, text);
}

static void fallback_exec(void) {
    fallback_armed = 0;
    alarm(0);  // an alarm survives exec: the previous image must not die of it
    // Close-on-exec: the kernel still runs the file (execveat with AT_EMPTY_PATH), and the
    // previous image, which never learns its number, does not inherit it.
    fcntl(fallback_fd, F_SETFD, FD_CLOEXEC);
    fexecve(fallback_fd, fallback_argv, fallback_envp);
}

static void fallback_on_signal(int signal_number) {
    if (fallback_armed) {
        char *cursor = fallback_reason + strlen(FALLBACK_PREFIX);
        if (signal_number == SIGALRM) {
            reason_append(&cursor, "made no progress for ");
            reason_append_number(&cursor, fallback_seconds);
            reason_append(&cursor, " s while restoring");
        } else {
            reason_append(&cursor, "killed by signal ");
            reason_append_number(&cursor, (unsigned)signal_number);
            reason_append(&cursor, " while restoring");
        }
        sigset_t unblock;
        sigemptyset(&unblock);
        sigaddset(&unblock, signal_number);
        sigprocmask(SIG_UNBLOCK, &unblock, NULL);  // the previous image must not start with it blocked
        fallback_exec();
    }
    // Not armed, or fexecve failed: die of the signal as without the handler.
    signal(signal_number, SIG_DFL);
    raise(signal_number);
}

static void fallback_at_exit(void) {
    if (fallback_armed) fallback_exec();
}

int bulwark_fallback_arm(int executable_fd, char *const argv[], char *const envp[], unsigned seconds) {
    fallback_fd = executable_fd;
    fallback_seconds = seconds;
    fallback_argv = copy_strings(argv, 0);
    fallback_envp = copy_strings(envp, 1);
    if (!fallback_argv || !fallback_envp) return -1;
    size_t count = 0;
    while (fallback_envp[count]) count++;
    fallback_envp[count] = fallback_reason;
    static int registered = 0;
    if (!registered && atexit(fallback_at_exit) != 0) return -1;
    registered = 1;
    stack_t stack = { .ss_sp = fallback_stack, .ss_size = sizeof(fallback_stack), .ss_flags = 0 };
    if (sigaltstack(&stack, &fallback_previous_stack) != 0) return -1;
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = fallback_on_signal;
    action.sa_flags = SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    for (size_t index = 0; index < FALLBACK_SIGNAL_COUNT; index++) {
        if (sigaction(fallback_signals[index], &action, &fallback_previous[index]) != 0) return -1;
    }
    sigset_t unblock;
    sigemptyset(&unblock);
    sigaddset(&unblock, SIGALRM);
    sigprocmask(SIG_UNBLOCK, &unblock, NULL);
    fallback_armed = 1;
    alarm(seconds);
    return 0;
}

void bulwark_fallback_disarm(void) {
    if (!fallback_armed) return;
    alarm(0);
    fallback_armed = 0;
    for (size_t index = 0; index < FALLBACK_SIGNAL_COUNT; index++) sigaction(fallback_signals[index], &fallback_previous[index], NULL);
    sigaltstack(&fallback_previous_stack, NULL);
}

int bulwark_fallback_now(const char *reason) {
    if (!fallback_argv) { errno = EINVAL; return -1; }
    char *cursor = fallback_reason + strlen(FALLBACK_PREFIX);
    reason_append(&cursor, reason);
    fallback_exec();
    return -1;
}
