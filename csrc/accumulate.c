/* Gradient accumulation and reductions: dst += src, dst += (sum of src's rows),
 * the sum of an array, and the triad loop that measures memory bandwidth. */
#include "pyad_defs.h"

/* Summing in blocks of this many elements, pairwise across blocks, keeps the
 * rounding error near numpy's pairwise summation; within a block, PYAD_LANES
 * independent partial sums (numpy uses 8) let the loop vectorize without
 * reassociating anything. */
#define PYAD_SUM_BLOCK 256
#define PYAD_LANES 16

/* The sum of TERM (an expression in x[k] and y[k]) over k in [0, n): lanes
 * within blocks, pairwise across blocks within each of pyad_run's parts, and the
 * parts' sums added in order: the same bits whichever threads ran the parts. */
#define REDUCTION(name, TERM)                                                   \
    PYAD_CLONES static double LOOP(name##_block)(size_t n, const T *restrict x, \
                                                 const T *restrict y) {         \
        (void)y;                                                                \
        T lane[PYAD_LANES] = {0};                                               \
        size_t i = 0;                                                           \
        for (; i + PYAD_LANES <= n; i += PYAD_LANES)                            \
            for (size_t j = 0; j < PYAD_LANES; j++) {                           \
                const size_t k = i + j;                                         \
                lane[j] += (TERM);                                              \
            }                                                                   \
        T s = 0;                                                                \
        for (size_t j = 0; j < PYAD_LANES; j++)                                 \
            s += lane[j];                                                       \
        for (size_t k = i; k < n; k++)                                          \
            s += (TERM);                                                        \
        return (double)s;                                                       \
    }                                                                           \
    static double LOOP(name##_pairwise)(size_t n, const T *restrict x,          \
                                        const T *restrict y) {                  \
        if (n <= PYAD_SUM_BLOCK)                                                \
            return LOOP(name##_block)(n, x, y);                                 \
        size_t half = n / 2 / PYAD_SUM_BLOCK * PYAD_SUM_BLOCK;                  \
        if (half == 0)                                                          \
            half = PYAD_SUM_BLOCK;                                              \
        return LOOP(name##_pairwise)(half, x, y) +                              \
               LOOP(name##_pairwise)(n - half, x + half, y + half);             \
    }                                                                           \
    static void TASK(name)(const pyad_ctx *c, size_t part, size_t start, size_t len) { \
        c->partials[part] = LOOP(name##_pairwise)(len, (const T *)c->x + start,  \
                                                  (const T *)c->y + start);     \
    }                                                                           \
    static double LOOP(name##_run)(size_t n, const T *x, const T *y) {          \
        double partials[PYAD_MAX_PARTS] = {0};                                  \
        const pyad_ctx c = {.x = x, .y = y, .partials = partials};              \
        pyad_run(n, PYAD_GRAIN(PYAD_PAR_MIN), n >= PYAD_PAR_MIN, TASK(name), &c); \
        double total = 0;                                                       \
        for (size_t p = 0; p < PYAD_MAX_PARTS; p++)                             \
            total += partials[p];                                               \
        return total;                                                           \
    }

#define ACCUMULATE                                                              \
    PYAD_CLONES static void LOOP(acc)(size_t n, T *restrict dst,                \
                                      const T *restrict src) {                  \
        for (size_t i = 0; i < n; i++)                                          \
            dst[i] += src[i];                                                   \
    }                                                                           \
    static void TASK(acc)(const pyad_ctx *c, size_t part, size_t start, size_t len) { \
        (void)part;                                                             \
        LOOP(acc)(len, (T *)c->out + start, (const T *)c->x + start);           \
    }                                                                           \
    void K(acc)(size_t n, T *restrict dst, const T *restrict src) {             \
        const pyad_ctx c = {.out = dst, .x = src};                              \
        pyad_run(n, PYAD_GRAIN(PYAD_PAR_MIN), n >= PYAD_PAR_MIN, TASK(acc), &c); \
    }                                                                           \
                                                                                \
    /* Rows are added one after another, as numpy's sum(axis=0) does, and     \
     * threads split the columns, so each owns its part of dst. Short rows are \
     * not split: two threads reading parts of the same cache lines move more \
     * memory than one thread alone (measured 2.4x slower at 100 columns). */  \
    PYAD_CLONES static void LOOP(acc_rows)(size_t rows, size_t cols, size_t stride, \
                                           T *restrict dst, const T *restrict src) { \
        for (size_t r = 0; r < rows; r++)                                       \
            for (size_t j = 0; j < cols; j++)                                   \
                dst[j] += src[r * stride + j];                                  \
    }                                                                           \
    static void TASK(acc_rows)(const pyad_ctx *c, size_t part, size_t start,   \
                               size_t len) {                                    \
        (void)part;                                                             \
        const size_t cols = c->cols, rows = (size_t)c->s;                       \
        LOOP(acc_rows)(rows, len, cols, (T *)c->out + start, (const T *)c->x + start); \
    }                                                                           \
    void K(acc_rows)(size_t rows, size_t cols, T *restrict dst,                 \
                     const T *restrict src) {                                   \
        const pyad_ctx c = {.out = dst, .x = src, .s = (double)rows, .cols = cols}; \
        /* (in parts of whole cache lines of columns) */                       \
        pyad_run(cols, (pyad_grain_of(rows) + 15) / 16 * 16,                    \
                 cols >= 4096 && rows * cols >= PYAD_PAR_MIN, TASK(acc_rows), &c); \
    }                                                                           \
                                                                                \
    REDUCTION(sum, x[k])                                                        \
    double K(sum)(size_t n, const T *restrict x) { return LOOP(sum_run)(n, x, x); } \
                                                                                \
    /* sum(x * y) in one pass: the gradient of a scalar multiplying an array.  \
     * Not numpy's vdot: that is BLAS's, whose own threads fight ours. */      \
    REDUCTION(vdot, x[k] * y[k])                                                \
    double K(vdot)(size_t n, const T *restrict x, const T *restrict y) {        \
        return LOOP(vdot_run)(n, x, y);                                         \
    }                                                                           \
                                                                                \
    PYAD_CLONES static void LOOP(triad)(size_t n, T *restrict a, const T *restrict b, \
                                        const T *restrict c, T s) {             \
        for (size_t i = 0; i < n; i++)                                          \
            a[i] = b[i] + s * c[i];                                             \
    }                                                                           \
    static void TASK(triad)(const pyad_ctx *c, size_t part, size_t start, size_t len) { \
        (void)part;                                                             \
        LOOP(triad)(len, (T *)c->out + start, (const T *)c->x + start,          \
                    (const T *)c->y + start, (T)c->s);                          \
    }                                                                           \
    void K(triad)(size_t n, T *restrict a, const T *restrict b, const T *restrict c, \
                  T s) {                                                        \
        const pyad_ctx ctx = {.out = a, .x = b, .y = c, .s = s};                \
        pyad_run(n, PYAD_GRAIN(PYAD_PAR_MIN), n >= PYAD_PAR_MIN, TASK(triad), &ctx); \
    }

#define T float
#define S f32
ACCUMULATE
#undef T
#undef S

#define T double
#define S f64
ACCUMULATE
#undef T
#undef S
