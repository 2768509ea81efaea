/* Aligned buffers for large outputs. The Python side keeps freed ones in a pool
 * and hands them out again, because a fresh large allocation costs a page fault
 * per 4 KiB page on first touch: at 10^7 doubles that is more than the math. */
#include <stdlib.h>

#include "pyad_defs.h"

void *pyad_alloc(size_t nbytes) {
    /* aligned_alloc wants a size that is a multiple of the alignment */
    size_t rounded = (nbytes + 63) & ~(size_t)63;
    return aligned_alloc(64, rounded ? rounded : 64);
}

void pyad_free(void *p) { free(p); }
