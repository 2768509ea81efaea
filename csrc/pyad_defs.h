/* Shared definitions for the kernels: includes, the op lists and the dtype map.
 *
 * Every kernel family is one X-macro list of (name, expression) pairs, expanded
 * once per dtype by the .c files. Expressions are written in terms of T (the
 * element type), M(f) (the libm function for T: f or f##f) and VM(f) (the
 * vectorizable pyad_vm_f_f32/f64 from vmath.h), so float32 never goes through
 * double.
 */
#ifndef PYAD_DEFS_H
#define PYAD_DEFS_H

#include <math.h>
#include <stddef.h>

#include "pyad.h"
#include "vmath.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Serial inner loops are compiled for x86-64-v4 (AVX-512), v3 (AVX2 + FMA) and
 * baseline x86-64, and the best one for the running CPU is picked at load time. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define PYAD_CLONES                                                             \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define PYAD_CLONES
#endif

/* Below this many elements a loop runs on one thread: waking a second one
 * costs more than it saves. */
#define PYAD_PAR_MIN 32768

#ifdef _OPENMP
#define PYAD_OMP_PARALLEL_IF _Pragma("omp parallel if(par_)")
#define PYAD_THREADS() ((size_t)omp_get_num_threads())
#define PYAD_THREAD() ((size_t)omp_get_thread_num())
#else
#define PYAD_OMP_PARALLEL_IF
#define PYAD_THREADS() ((size_t)1)
#define PYAD_THREAD() ((size_t)0)
#endif

/* Run BODY with [start, start + len) bound to one contiguous chunk of [0, n)
 * per thread (chunk starts are multiples of ALIGN), in parallel only if PAR. */
#define PYAD_SPLIT(n, align, par, BODY)                                         \
    do {                                                                        \
        const size_t n_ = (n);                                                  \
        const int par_ = (par);                                                 \
        (void)par_;                                                             \
        PYAD_OMP_PARALLEL_IF                                                    \
        {                                                                       \
            const size_t nt_ = PYAD_THREADS();                                  \
            size_t chunk_ = (n_ + nt_ - 1) / nt_;                               \
            chunk_ = (chunk_ + (align) - 1) / (align) * (align);                \
            const size_t start = PYAD_THREAD() * chunk_;                        \
            const size_t len = start >= n_ ? 0 : (n_ - start < chunk_ ? n_ - start : chunk_); \
            if (len) {                                                          \
                BODY;                                                           \
            }                                                                   \
        }                                                                       \
    } while (0)

/* Elementwise ranges split on 64-byte boundaries; row ranges by whole rows. */
#define PYAD_PARALLEL(n, BODY) PYAD_SPLIT(n, 16, n_ >= PYAD_PAR_MIN, BODY)
#define PYAD_PARALLEL_ROWS(rows, cols, BODY)                                    \
    PYAD_SPLIT(rows, 1, n_ > 1 && n_ * (cols) >= PYAD_PAR_MIN, BODY)

/* Kernel names: K(exp) is pyad_exp_f32 or pyad_exp_f64 by the current S. */
#define PYAD_CAT_(a, b) a##b
#define PYAD_CAT(a, b) PYAD_CAT_(a, b)
#define K(name) PYAD_CAT(pyad_##name##_, S)
#define LOOP(name) PYAD_CAT(name##_loop_, S)

/* x > y or x is NaN: numpy's maximum, which returns y on ties (so -0.0 vs 0.0
 * picks y) and propagates NaN from either side. */
#define PYAD_MAX(x, y) (((x) > (y) || (x) != (x)) ? (x) : (y))
#define PYAD_MIN(x, y) (((x) < (y) || (x) != (x)) ? (x) : (y))

/* Unary kernels: out[i] = expr(x[i]). */
#define PYAD_UNARY_OPS(X)                                                       \
    X(neg, -x)                                                                  \
    X(abs, M(fabs)(x))                                                          \
    X(exp, VM(exp)(x))                                                          \
    X(log, VM(log)(x))                                                          \
    X(log1p, VM(log1p)(x))                                                      \
    X(expm1, VM(expm1)(x))                                                      \
    X(sqrt, M(sqrt)(x))                                                         \
    X(square, x * x)                                                            \
    X(tanh, VM(tanh)(x))                                                        \
    X(sigmoid, VM(sigmoid)(x))                                                  \
    X(relu, PYAD_MAX(x, (T)0))                                                  \
    /* log(1 + e^x) as numpy's logaddexp(0, x): max(x, 0) + log1p(e^-|x|) */    \
    X(softplus, PYAD_MAX(x, (T)0) + VM(log1p)(VM(exp)(-M(fabs)(x))))

/* Unary kernels whose fast form holds on a limited range: X(name, fast, limit,
 * exact); elements with |x| beyond the limit (and NaN, inf) are redone with
 * libm's exact function. */
#define PYAD_UNARY_LIMITED_OPS(X)                                               \
    X(sin, VM(sin)(x), VMAX(SINCOS), M(sin)(x))                                 \
    X(cos, VM(cos)(x), VMAX(SINCOS), M(cos)(x))

/* Binary kernels: out[i] = expr(x[i], y[i]), and with one side a scalar. The
 * *_grad entries are the fused backward formulas of tanh, sigmoid and relu,
 * written in numpy's order of operations so both backends round alike. pow is
 * not here: numpy's is vectorized (faster than libm's scalar pow) and differs
 * from C's pow on signed zeros, so the C backend leaves it to numpy. */
#define PYAD_BINARY_OPS(X)                                                      \
    X(add, x + y)                                                               \
    X(sub, x - y)                                                               \
    X(mul, x * y)                                                               \
    X(div, x / y)                                                               \
    X(maximum, PYAD_MAX(x, y))                                                  \
    X(minimum, PYAD_MIN(x, y))                                                  \
    X(tanh_grad, x * ((T)1 - y * y))                                            \
    X(sigmoid_grad, x * (y * ((T)1 - y)))                                       \
    X(relu_grad, x * (T)(y > (T)0))

#endif
