/* Buffers for large outputs. The Python side keeps freed ones in a pool and
 * hands them out again, because a fresh large allocation costs a page fault per
 * 4 KiB page on first touch: at 10^7 doubles that is more than the math.
 *
 * They are mapped directly rather than taken from malloc: glibc adapts its
 * thresholds to the large blocks it sees freed (it would then serve the
 * program's own mid-sized numpy arrays from a heap it keeps trimming back to
 * the OS, so they page-fault on every use), and the pool must not change how
 * the rest of the process allocates.
 *
 * Except under AddressSanitizer, which cannot see into mapped memory: there they
 * come from malloc, sized exactly, so a read or write past the end is reported. */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "pyad_defs.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PYAD_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define PYAD_ASAN 1
#endif

#ifdef PYAD_ASAN
void *pyad_alloc(size_t nbytes) {
    void *p = NULL;
    if (posix_memalign(&p, 64, nbytes ? nbytes : 1) != 0)
        return NULL;
    return memset(p, 0, nbytes); /* as the OS's fresh pages */
}

void pyad_free(void *p, size_t nbytes) {
    (void)nbytes;
    free(p);
}
#else
void *pyad_alloc(size_t nbytes) {
    void *p = mmap(NULL, nbytes ? nbytes : 1, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void pyad_free(void *p, size_t nbytes) { munmap(p, nbytes ? nbytes : 1); }
#endif
