/* Elementwise kernels: unary, binary, scalar-operand and row-broadcast forms,
 * for float32 and float64, generated from the op lists in pyad_defs.h. */
#include "pyad_defs.h"

/* One dtype's worth of kernels. Each public kernel splits its range across
 * threads; the serial loop it calls is cloned per instruction set. */

#define UNARY(name, expr)                                                       \
    PYAD_CLONES static void LOOP(name)(size_t n, T *restrict out,          \
                                            const T *restrict xs) {             \
        for (size_t i = 0; i < n; i++) {                                        \
            const T x = xs[i];                                                  \
            out[i] = (expr);                                                    \
        }                                                                       \
    }                                                                           \
    void K(name)(size_t n, T *restrict out, const T *restrict x) {   \
        PYAD_PARALLEL(n, LOOP(name)(len, out + start, x + start));         \
    }

/* Elements are fixed up block by block, while the block is still in L1. */
#define PYAD_FIXUP_BLOCK 512

#define UNARY_LIMITED(name, fast, limit, exact)                                 \
    PYAD_CLONES static void LOOP(name)(size_t n, T *restrict out,               \
                                       const T *restrict xs) {                  \
        for (size_t b = 0; b < n; b += PYAD_FIXUP_BLOCK) {                      \
            const size_t e = n - b < PYAD_FIXUP_BLOCK ? n : b + PYAD_FIXUP_BLOCK; \
            for (size_t i = b; i < e; i++) {                                    \
                const T x = xs[i];                                              \
                out[i] = (fast);                                                \
            }                                                                   \
            for (size_t i = b; i < e; i++) {                                    \
                const T x = xs[i];                                              \
                if (!(M(fabs)(x) <= (limit)))                                   \
                    out[i] = (exact);                                           \
            }                                                                   \
        }                                                                       \
    }                                                                           \
    void K(name)(size_t n, T *restrict out, const T *restrict x) {              \
        PYAD_PARALLEL(n, LOOP(name)(len, out + start, x + start));              \
    }

#define BINARY(name, expr)                                                      \
    PYAD_CLONES static void LOOP(name)(size_t n, T *restrict out,          \
                                            const T *restrict xs,               \
                                            const T *restrict ys) {             \
        for (size_t i = 0; i < n; i++) {                                        \
            const T x = xs[i], y = ys[i];                                       \
            out[i] = (expr);                                                    \
        }                                                                       \
    }                                                                           \
    PYAD_CLONES static void LOOP(name##_scalar)(size_t n, T *restrict out,   \
                                                   const T *restrict xs, T y) { \
        for (size_t i = 0; i < n; i++) {                                        \
            const T x = xs[i];                                                  \
            out[i] = (expr);                                                    \
        }                                                                       \
    }                                                                           \
    PYAD_CLONES static void LOOP(name##_rscalar)(size_t n, T *restrict out,  \
                                                    T x, const T *restrict ys) { \
        for (size_t i = 0; i < n; i++) {                                        \
            const T y = ys[i];                                                  \
            out[i] = (expr);                                                    \
        }                                                                       \
    }                                                                           \
    void K(name)(size_t n, T *restrict out, const T *restrict x,      \
                           const T *restrict y) {                               \
        PYAD_PARALLEL(n, LOOP(name)(len, out + start, x + start, y + start)); \
    }                                                                           \
    void K(name##_scalar)(size_t n, T *restrict out, const T *restrict x, \
                                  T s) {                                        \
        PYAD_PARALLEL(n, LOOP(name##_scalar)(len, out + start, x + start, s)); \
    }                                                                           \
    void K(name##_rscalar)(size_t n, T *restrict out, T s,              \
                                   const T *restrict y) {                       \
        PYAD_PARALLEL(n, LOOP(name##_rscalar)(len, out + start, s, y + start)); \
    }                                                                           \
    /* Row broadcasting runs the same-shape loop once per row, over whole rows \
     * per thread. */                                                           \
    void K(name##_row)(size_t rows, size_t cols, T *restrict out,       \
                               const T *restrict x, const T *restrict y) {      \
        PYAD_PARALLEL_ROWS(rows, cols,                                          \
            for (size_t r = start; r < start + len; r++)                        \
                LOOP(name)(cols, out + r * cols, x + r * cols, y));        \
    }                                                                           \
    void K(name##_rrow)(size_t rows, size_t cols, T *restrict out,      \
                                const T *restrict x, const T *restrict y) {     \
        PYAD_PARALLEL_ROWS(rows, cols,                                          \
            for (size_t r = start; r < start + len; r++)                        \
                LOOP(name)(cols, out + r * cols, x, y + r * cols));        \
    }

/* The unary kernels may contract a * b + c into one FMA: only the polynomials
 * of vmath.h have such terms, and their error bounds hold either way. The
 * binary kernels may not, so they round exactly as numpy's separate operations. */
#pragma GCC push_options
#pragma GCC optimize("fp-contract=fast")

#define T float
#define S f32
#define M(fn) fn##f
#define VM(fn) pyad_vm_##fn##_f32
#define VMAX(fn) PYAD_VM_##fn##_MAX_F32
PYAD_UNARY_OPS(UNARY)
PYAD_UNARY_LIMITED_OPS(UNARY_LIMITED)
#undef T
#undef S
#undef M
#undef VM
#undef VMAX

#define T double
#define S f64
#define M(fn) fn
#define VM(fn) pyad_vm_##fn##_f64
#define VMAX(fn) PYAD_VM_##fn##_MAX_F64
PYAD_UNARY_OPS(UNARY)
PYAD_UNARY_LIMITED_OPS(UNARY_LIMITED)
#undef T
#undef S
#undef M
#undef VM
#undef VMAX

#pragma GCC pop_options

#define T float
#define S f32
#define M(fn) fn##f
PYAD_BINARY_OPS(BINARY)
#undef T
#undef S
#undef M

#define T double
#define S f64
#define M(fn) fn
PYAD_BINARY_OPS(BINARY)
#undef T
#undef S
#undef M
