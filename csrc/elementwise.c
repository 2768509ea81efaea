/* Elementwise kernels: unary, binary, scalar-operand and row-broadcast forms,
 * for float32 and float64, generated from the op lists in pyad_defs.h. */
#include "pyad_defs.h"

/* One dtype's worth of kernels. Each public kernel splits its range across
 * threads; the serial loop it calls is cloned per instruction set. */

/* Parallel entry points: each kernel runs its serial loop over parts of the
 * range, given to threads by pyad_run (threads.c). */
#define ELEMENTWISE(kname, loop, PARAMS, CTX, CALL, par_min)                    \
    static void TASK(kname)(const pyad_ctx *c, size_t part, size_t start,      \
                            size_t len) {                                       \
        (void)part;                                                             \
        loop CALL;                                                              \
    }                                                                           \
    void K(kname) PARAMS {                                                      \
        const pyad_ctx c = CTX;                                                 \
        pyad_run(n, PYAD_GRAIN(par_min), n >= (par_min), TASK(kname), &c);        \
    }

#define OUT ((T *)c->out + start)
#define XS ((const T *)c->x + start)
#define YS ((const T *)c->y + start)

#define UNARY(name, expr, par_min)                                              \
    PYAD_CLONES void LOOP(name)(size_t n, T *restrict out, const T *restrict xs) { \
        for (size_t i = 0; i < n; i++) {                                        \
            const T x = xs[i];                                                  \
            out[i] = (expr);                                                    \
        }                                                                       \
    }                                                                           \
    ELEMENTWISE(name, LOOP(name), (size_t n, T *restrict out, const T *restrict x), \
                ((pyad_ctx){.out = out, .x = x}), (len, OUT, XS), par_min)

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
    ELEMENTWISE(name, LOOP(name), (size_t n, T *restrict out, const T *restrict x), \
                ((pyad_ctx){.out = out, .x = x}), (len, OUT, XS), PYAD_PAR_MIN_HEAVY)

/* Row broadcasting: x is (rows, cols) and y is (cols,) (or the reverse for
 * rrow); threads take whole rows and run the same-shape loop on each. */
#define ROWS(kname, loop, XROW, YROW, par_min)                                  \
    static void TASK(kname)(const pyad_ctx *c, size_t part, size_t start,      \
                            size_t len) {                                       \
        (void)part;                                                             \
        const size_t cols = c->cols;                                            \
        for (size_t r = start; r < start + len; r++)                            \
            loop(cols, (T *)c->out + r * cols, XROW, YROW);                     \
    }                                                                           \
    void K(kname)(size_t rows, size_t cols, T *restrict out, const T *restrict x, \
                  const T *restrict y) {                                        \
        const pyad_ctx c = {.out = out, .x = x, .y = y, .cols = cols};          \
        pyad_run(rows, pyad_grain_of(cols), rows > 1 && rows * cols >= (par_min), \
                 TASK(kname), &c);                                              \
    }

/* out = expr(x, y) for same-shaped, scalar and row-broadcast operands: the serial
 * loops, then their parallel entry points. */
#define BINARY_LOOPS(name, expr)                                                \
    PYAD_CLONES static void LOOP(name)(size_t n, T *restrict out,               \
                                       const T *restrict xs,                    \
                                       const T *restrict ys) {                  \
        for (size_t i = 0; i < n; i++) {                                        \
            const T x = xs[i], y = ys[i];                                       \
            out[i] = (expr);                                                    \
        }                                                                       \
    }                                                                           \
    PYAD_CLONES static void LOOP(name##_scalar)(size_t n, T *restrict out,      \
                                                const T *restrict xs, T y) {    \
        for (size_t i = 0; i < n; i++) {                                        \
            const T x = xs[i];                                                  \
            out[i] = (expr);                                                    \
        }                                                                       \
    }                                                                           \
    PYAD_CLONES static void LOOP(name##_rscalar)(size_t n, T *restrict out,     \
                                                 T x, const T *restrict ys) {   \
        for (size_t i = 0; i < n; i++) {                                        \
            const T y = ys[i];                                                  \
            out[i] = (expr);                                                    \
        }                                                                       \
    }

#define BINARY_ENTRIES(name, par_min)                                           \
    ELEMENTWISE(name, LOOP(name),                                               \
                (size_t n, T *restrict out, const T *restrict x, const T *restrict y), \
                ((pyad_ctx){.out = out, .x = x, .y = y}), (len, OUT, XS, YS),  \
                par_min)                                                        \
    ELEMENTWISE(name##_scalar, LOOP(name##_scalar),                             \
                (size_t n, T *restrict out, const T *restrict x, T s),          \
                ((pyad_ctx){.out = out, .x = x, .s = s}), (len, OUT, XS, (T)c->s), \
                par_min)                                                        \
    ELEMENTWISE(name##_rscalar, LOOP(name##_rscalar),                           \
                (size_t n, T *restrict out, T s, const T *restrict y),          \
                ((pyad_ctx){.out = out, .y = y, .s = s}), (len, OUT, (T)c->s, YS), \
                par_min)                                                        \
    ROWS(name##_row, LOOP(name), (const T *)c->x + r * cols, (const T *)c->y,   \
         par_min)                                                               \
    ROWS(name##_rrow, LOOP(name), (const T *)c->x, (const T *)c->y + r * cols,  \
         par_min)

/* Binary kernels with elements redone (pyad_defs.h): a block's fast results, then
 * its elements where `redo` holds again with EXACT(name), while the block is in L1.
 * X and Y read the operands (an array's element, or the scalar). */
#define EXACT(name) PYAD_CAT(name##_exact_, S)
#define PYAD_REDO_CHUNK 32
#define REDO_LOOP(lname, PARAMS, X, Y, fast, redo, exact)                      \
    PYAD_CLONES static void lname PARAMS {                                      \
        for (size_t b = 0; b < n; b += PYAD_FIXUP_BLOCK) {                      \
            const size_t e = n - b < PYAD_FIXUP_BLOCK ? n : b + PYAD_FIXUP_BLOCK; \
            for (size_t i = b; i < e; i++) {                                    \
                const T x = (X), y = (Y);                                       \
                out[i] = (fast);                                                \
            }                                                                   \
            /* chunk by chunk, a vectorized test first: few chunks hold any */  \
            for (size_t c = b; c < e; c += PYAD_REDO_CHUNK) {                   \
                const size_t ce = e - c < PYAD_REDO_CHUNK ? e : c + PYAD_REDO_CHUNK; \
                int any = 0;                                                    \
                for (size_t i = c; i < ce; i++) {                               \
                    const T x = (X), y = (Y), z = out[i];                       \
                    any |= (redo);                                              \
                }                                                               \
                for (size_t i = c; any && i < ce; i++) {                        \
                    const T x = (X), y = (Y), z = out[i];                       \
                    if (redo)                                                   \
                        out[i] = exact(x, y);                                   \
                }                                                               \
            }                                                                   \
        }                                                                       \
    }
#define BINARY_REDO_LOOPS(name, fast, redo, exact)                              \
    REDO_LOOP(LOOP(name), (size_t n, T *restrict out, const T *restrict xs,     \
                           const T *restrict ys), xs[i], ys[i], fast, redo, EXACT(name)) \
    REDO_LOOP(LOOP(name##_scalar), (size_t n, T *restrict out, const T *restrict xs, T ys), \
              xs[i], ys, fast, redo, EXACT(name))                               \
    REDO_LOOP(LOOP(name##_rscalar), (size_t n, T *restrict out, T xs, const T *restrict ys), \
              xs, ys[i], fast, redo, EXACT(name))
/* The exact forms: out of line (they are called for few elements) and compiled where
 * a * b + c is not contracted, so they round as numpy's loops do. */
#define BINARY_EXACT(name, fast, redo, exact)                                   \
    __attribute__((noinline)) static T EXACT(name)(T x, T y) { return (exact); }

/* The binary kernels: those forms, and the accumulating ones, dst += expr(x, y). */
#define BINARY(name, expr)                                                      \
    BINARY_LOOPS(name, expr)                                                    \
    BINARY_ENTRIES(name, PYAD_PAR_MIN)                                          \
    /* dst += expr: a gradient added straight into the one already held. */    \
    PYAD_CLONES static void LOOP(name##_acc)(size_t n, T *restrict dst,         \
                                             const T *restrict xs,              \
                                             const T *restrict ys) {            \
        for (size_t i = 0; i < n; i++) {                                        \
            const T x = xs[i], y = ys[i];                                       \
            dst[i] += (expr);                                                   \
        }                                                                       \
    }                                                                           \
    PYAD_CLONES static void LOOP(name##_acc_scalar)(size_t n, T *restrict dst,  \
                                                    const T *restrict xs, T y) { \
        for (size_t i = 0; i < n; i++) {                                        \
            const T x = xs[i];                                                  \
            dst[i] += (expr);                                                   \
        }                                                                       \
    }                                                                           \
    ELEMENTWISE(name##_acc, LOOP(name##_acc),                                   \
                (size_t n, T *restrict dst, const T *restrict x, const T *restrict y), \
                ((pyad_ctx){.out = dst, .x = x, .y = y}), (len, OUT, XS, YS),  \
                PYAD_PAR_MIN)                                                   \
    ELEMENTWISE(name##_acc_scalar, LOOP(name##_acc_scalar),                     \
                (size_t n, T *restrict dst, const T *restrict x, T s),          \
                ((pyad_ctx){.out = dst, .x = x, .s = s}), (len, OUT, XS, (T)c->s), \
                PYAD_PAR_MIN)

#define T float
#define S f32
PYAD_BINARY_REDO_OPS(BINARY_EXACT)
#undef T
#undef S

#define T double
#define S f64
PYAD_BINARY_REDO_OPS(BINARY_EXACT)
#undef T
#undef S

/* The unary kernels may contract a * b + c into one FMA: only the polynomials
 * of vmath.h have such terms, and their error bounds hold either way (so do the
 * binary math kernels' built on them). The other binary kernels may not, so they
 * round exactly as numpy's separate operations. */
#pragma GCC push_options
#pragma GCC optimize("fp-contract=fast")

#define BINARY_MATH(name, expr)                                                 \
    BINARY_LOOPS(name, expr)                                                    \
    BINARY_ENTRIES(name, PYAD_PAR_MIN_HEAVY)
#define BINARY_REDO(name, fast, redo, exact)                                    \
    BINARY_REDO_LOOPS(name, fast, redo, exact)                                  \
    BINARY_ENTRIES(name, PYAD_PAR_MIN_HEAVY)

#define T float
#define S f32
PYAD_UNARY_OPS(UNARY)
PYAD_UNARY_LIMITED_OPS(UNARY_LIMITED)
PYAD_BINARY_MATH_OPS(BINARY_MATH)
PYAD_BINARY_REDO_OPS(BINARY_REDO)
#undef T
#undef S

#define T double
#define S f64
PYAD_UNARY_OPS(UNARY)
PYAD_UNARY_LIMITED_OPS(UNARY_LIMITED)
PYAD_BINARY_MATH_OPS(BINARY_MATH)
PYAD_BINARY_REDO_OPS(BINARY_REDO)
#undef T
#undef S

#pragma GCC pop_options

#define T float
#define S f32
PYAD_BINARY_OPS(BINARY)
#undef T
#undef S

#define T double
#define S f64
PYAD_BINARY_OPS(BINARY)
#undef T
#undef S
