/* Buffers for large outputs. The Python side keeps freed ones in a pool and
 * hands them out again, because a fresh large allocation costs a page fault per
 * 4 KiB page on first touch: at 10^7 doubles that is more than the math.
 *
 * They are mapped directly rather than taken from malloc: glibc adapts its
 * thresholds to the large blocks it sees freed (it would then serve the
 * program's own mid-sized numpy arrays from a heap it keeps trimming back to
 * the OS, so they page-fault on every use), and the pool must not change how
 * the rest of the process allocates. */
#define _DEFAULT_SOURCE
#include <stdint.h>
#include <sys/mman.h>

#include "pyad_defs.h"

void *pyad_alloc(size_t nbytes) {
    void *p = mmap(NULL, nbytes ? nbytes : 1, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void pyad_free(void *p, size_t nbytes) { munmap(p, nbytes ? nbytes : 1); }
