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

#define T float
#define S f32
#define M(fn) fn##f
#define VM(fn) pyad_vm_##fn##_f32
PYAD_UNARY_OPS(UNARY)
PYAD_BINARY_OPS(BINARY)
#undef T
#undef S
#undef M
#undef VM

#define T double
#define S f64
#define M(fn) fn
#define VM(fn) pyad_vm_##fn##_f64
PYAD_UNARY_OPS(UNARY)
PYAD_BINARY_OPS(BINARY)
#undef T
#undef S
#undef M
#undef VM
