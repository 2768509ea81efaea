/* Gradient accumulation and reductions: dst += src, dst += (sum of src's rows),
 * the sum of an array, and the triad loop that measures memory bandwidth. */
#include "pyad_defs.h"

/* Summing in blocks of this many elements, pairwise across blocks, keeps the
 * rounding error near numpy's pairwise summation while each block vectorizes. */
#define PYAD_SUM_BLOCK 128

#define ACCUMULATE                                                              \
    PYAD_CLONES static void LOOP(acc)(size_t n, T *restrict dst,                \
                                      const T *restrict src) {                  \
        for (size_t i = 0; i < n; i++)                                          \
            dst[i] += src[i];                                                   \
    }                                                                           \
    void K(acc)(size_t n, T *restrict dst, const T *restrict src) {             \
        PYAD_PARALLEL(n, LOOP(acc)(len, dst + start, src + start));             \
    }                                                                           \
                                                                                \
    /* Rows are added one after another, as numpy's sum(axis=0) does, and     \
     * threads split the columns, so each owns its part of dst. */             \
    PYAD_CLONES static void LOOP(acc_rows)(size_t rows, size_t cols, size_t stride, \
                                           T *restrict dst, const T *restrict src) { \
        for (size_t r = 0; r < rows; r++)                                       \
            for (size_t j = 0; j < cols; j++)                                   \
                dst[j] += src[r * stride + j];                                  \
    }                                                                           \
    void K(acc_rows)(size_t rows, size_t cols, T *restrict dst,                 \
                     const T *restrict src) {                                   \
        PYAD_SPLIT(cols, 16, n_ >= 64 && n_ * rows >= PYAD_PAR_MIN,             \
                   LOOP(acc_rows)(rows, len, cols, dst + start, src + start));  \
    }                                                                           \
                                                                                \
    PYAD_CLONES static double LOOP(block_sum)(size_t n, const T *restrict x) {  \
        T s = 0;                                                                \
        for (size_t i = 0; i < n; i++)                                          \
            s += x[i];                                                          \
        return (double)s;                                                       \
    }                                                                           \
    static double LOOP(pairwise)(size_t n, const T *restrict x) {               \
        if (n <= PYAD_SUM_BLOCK)                                                \
            return LOOP(block_sum)(n, x);                                       \
        size_t half = n / 2 / PYAD_SUM_BLOCK * PYAD_SUM_BLOCK;                  \
        if (half == 0)                                                          \
            half = PYAD_SUM_BLOCK;                                              \
        return LOOP(pairwise)(half, x) + LOOP(pairwise)(n - half, x + half);    \
    }                                                                           \
    double K(sum)(size_t n, const T *restrict x) {                              \
        double total = 0;                                                       \
        PYAD_PARALLEL(n, {                                                      \
            double part = LOOP(pairwise)(len, x + start);                       \
            _Pragma("omp atomic")                                               \
            total += part;                                                      \
        });                                                                     \
        return total;                                                           \
    }                                                                           \
                                                                                \
    PYAD_CLONES static void LOOP(triad)(size_t n, T *restrict a, const T *restrict b, \
                                        const T *restrict c, T s) {             \
        for (size_t i = 0; i < n; i++)                                          \
            a[i] = b[i] + s * c[i];                                             \
    }                                                                           \
    void K(triad)(size_t n, T *restrict a, const T *restrict b,                 \
                  const T *restrict c, T s) {                                   \
        PYAD_PARALLEL(n, LOOP(triad)(len, a + start, b + start, c + start, s)); \
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

int pyad_num_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
