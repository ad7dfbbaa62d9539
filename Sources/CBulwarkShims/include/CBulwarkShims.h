// C declarations Swift cannot import from Glibc alone: its umbrella lacks these headers and is
// built without _GNU_SOURCE. Everything here is a thin wrapper; policy lives in Swift.
#ifndef CBULWARK_SHIMS_H
#define CBULWARK_SHIMS_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/signalfd.h>
#include <signal.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netdb.h>

/// accept4(2): only visible with _GNU_SOURCE.
int bulwark_accept4(int fd, struct sockaddr *address, socklen_t *length, int flags);

// jemalloc is reached through dlsym("mallctl"), so these work in any process that has
// jemalloc as its allocator (the bulwark binary links it through the CJemalloc target) and
// answer "unavailable" elsewhere (test binaries under ThreadSanitizer, which must keep its own
// allocator).

/// The jemalloc version string, or NULL when jemalloc is not loaded.
const char *bulwark_jemalloc_version(void);

/// 1 when malloc(3) in this process is served by jemalloc: a probe allocation made through libc's
/// malloc symbol moves jemalloc's per-thread allocation counter.
int bulwark_jemalloc_is_active(void);

/// Bytes allocated by the application as jemalloc counts them (stats.allocated after an epoch
/// refresh), or -1.
int64_t bulwark_jemalloc_allocated_bytes(void);

/// Asks jemalloc to return unused dirty pages to the kernel now (arena.<all>.purge).
void bulwark_jemalloc_purge(void);

/// Gives the calling thread a jemalloc arena of its own whose freed pages are never purged
/// (dirty and muzzy decay off): it keeps re-using them instead of returning them to the kernel
/// with madvise, which costs every other thread of the process a TLB shootdown. Returns the
/// arena's index, or -1 (not jemalloc, or it refused).
int bulwark_jemalloc_use_unpurged_arena(void);

/// gettid(2).
int bulwark_gettid(void);

/// Puts the calling thread in SCHED_IDLE (runs only when nothing else wants the CPU); 0 on
/// success, else an errno.
int bulwark_set_thread_idle_scheduling(void);

/// pthread_setname_np for the calling thread (names show in top -H and /proc).
void bulwark_set_thread_name(const char *name);

// Striped counters (BulwarkSys.StripedCounter): each thread adds to its own cache line, chosen
// by a thread-local stripe, so counting never bounces a line between cores.

/// The calling thread's counter stripe (0 until set; engine workers set their own).
extern _Thread_local int bulwark_counter_stripe;

static inline int bulwark_counter_stripe_get(void) { return bulwark_counter_stripe; }
static inline void bulwark_counter_stripe_set(int stripe) { bulwark_counter_stripe = stripe; }

/// Relaxed atomic add and load: a stripe may still be shared (more threads than stripes, or
/// threads outside the engine on stripe 0), and a reader sums while writers add.
static inline void bulwark_relaxed_add(int64_t *slot, int64_t amount) {
    __atomic_fetch_add(slot, amount, __ATOMIC_RELAXED);
}
static inline int64_t bulwark_relaxed_load(const int64_t *slot) { return __atomic_load_n(slot, __ATOMIC_RELAXED); }

// Asynchronous name lookups (getaddrinfo_a with SIGEV_THREAD). glibc's notification thread
// writes 1 to the owner's eventfd, so completions arrive through the shared epoll. A lookup is
// reference counted (owner + notification) so the owner may let go while it is still running:
// a lookup stuck in a slow DNS server then finishes into nobody's eventfd and frees itself.

struct bulwark_lookup;

/// Starts looking `host` up (any family, stream sockets). NULL with errno set when it could not
/// start; *gai_error then holds the getaddrinfo_a error (EAI_AGAIN, EAI_MEMORY, EAI_SYSTEM).
struct bulwark_lookup *bulwark_lookup_start(const char *host, int eventfd, int *gai_error);

/// EAI_INPROGRESS while running, 0 when resolved, otherwise the getaddrinfo error code.
int bulwark_lookup_status(struct bulwark_lookup *lookup);

/// The answer once the status is 0 (owned by the lookup; valid until it is released).
const struct addrinfo *bulwark_lookup_result(struct bulwark_lookup *lookup);

/// The owner lets go: its eventfd is never written again, and the memory is freed once the
/// notification has run too.
void bulwark_lookup_release(struct bulwark_lookup *lookup);

/// The text of a getaddrinfo error code.
const char *bulwark_lookup_error_text(int code);

/// EAI_INPROGRESS (only visible with _GNU_SOURCE).
int bulwark_lookup_in_progress_code(void);

// Privileges.

/// SO_PEERCRED of a connected Unix socket: 0 and the peer's uid, gid and pid, or -1 (errno).
int bulwark_peer_credentials(int fd, uint32_t *uid, uint32_t *gid, int32_t *pid);

/// Leaves the calling process no capabilities at all (ambient set cleared, then effective,
/// permitted and inheritable emptied by capset) and sets no_new_privs, so nothing it execs can
/// gain any. 0, or -1 with errno.
int bulwark_drop_all_capabilities(void);

/// The effective capability set's low 64 bits (for tests and logs), or -1.
int64_t bulwark_effective_capabilities(void);

// Handing a config from the master to its workers: a sealed memory file, passed on at spawn or
// over the channel with SCM_RIGHTS.

/// memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING).
int bulwark_memfd_create(const char *name);

/// Seals a memory file against every change (F_SEAL_WRITE, SHRINK, GROW, then SEAL). 0, or -1.
int bulwark_memfd_seal(int fd);

/// send(2) of one message with `fd` attached (SCM_RIGHTS; none when fd < 0), MSG_DONTWAIT |
/// MSG_NOSIGNAL. The byte count, or -1 with errno.
ssize_t bulwark_send_with_fd(int socket, const void *buffer, size_t length, int fd);

/// recv(2) of one message, MSG_DONTWAIT, taking an attached fd (close-on-exec) into *fd (-1
/// when none). The byte count (0: end of stream), or -1 with errno. *truncated is set when the
/// message was longer than the buffer.
ssize_t bulwark_receive_with_fd(int socket, void *buffer, size_t length, int *fd, int *truncated);

// The master's way back after an upgrade's exec: while the new image restores its state, a
// crash (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP), a hang (SIGALRM after `seconds`)
// or an exit makes it execute the previous image again (fexecve of `executable_fd`) with
// `argv` and `envp` plus BULWARK_MASTER_FALLBACK=<why>. Async-signal-safe in the handler.

/// Copies argv and envp (NULL-terminated) and installs the handlers and the alarm. 0, or -1.
int bulwark_fallback_arm(int executable_fd, char *const argv[], char *const envp[], unsigned seconds);

/// The restore is done: the handlers are put back as they were, the alarm cancelled.
void bulwark_fallback_disarm(void);

/// Executes the previous image now, saying `reason`. Returns only if that fails (-1, errno).
int bulwark_fallback_now(const char *reason);

#endif
