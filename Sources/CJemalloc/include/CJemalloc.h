// Makes jemalloc the allocator of the executable that depends on this target (bulwark).
#ifndef CJEMALLOC_H
#define CJEMALLOC_H

#if !__has_include(<jemalloc/jemalloc.h>)
#error "jemalloc headers are missing: install Debian's libjemalloc-dev (apt-get install libjemalloc-dev), or run 'make deps'"
#endif

/// Returns 1 when jemalloc answers mallctl. Calling it also keeps libjemalloc a needed library
/// of the executable, so its malloc is the one every library binds to.
int bulwark_jemalloc_linked(void);

#endif
