#include "CJemalloc.h"
#include <stddef.h>
#include <jemalloc/jemalloc.h>

// jemalloc reads this at start-up. Background purging with a 1 s dirty-page decay hands memory
// back to the kernel soon after a burst, even when the gateway then sits idle (without the
// background thread, purging only happens on later allocator activity).
const char *malloc_conf = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0";

int bulwark_jemalloc_linked(void) {
    const char *version = NULL;
    size_t size = sizeof(version);
    return mallctl("version", &version, &size, NULL, 0) == 0;
}
