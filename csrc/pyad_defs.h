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


/* Serial inner loops are compiled for x86-64-v4 (AVX-512), v3 (AVX2 + FMA) and
 * baseline x86-64, and the best one for the running CPU is picked at load time. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define PYAD_CLONES                                                             \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define PYAD_CLONES
#endif

/* Below these many elements a kernel runs on the calling thread alone: waking
 * another thread (tens of microseconds) costs more than it saves. Loops that
 * only move memory need more elements to pay for it than transcendentals. */
#define PYAD_PAR_MIN 262144
#define PYAD_PAR_MIN_HEAVY 16384

/* A kernel's arguments, for the parts of it run on other threads (threads.c). */
typedef struct {
    void *out;
    const void *x;
    const void *y;
    double s;
    size_t cols;
    double *partials; /* one per part, for reductions */
    const void *args; /* a kernel's own argument record (fuse.c) */
} pyad_ctx;

/* Does elements [start, start + len) of a kernel; `part` numbers the range. */
typedef void (*pyad_task)(const pyad_ctx *ctx, size_t part, size_t start, size_t len);

/* Runs fn over [0, n), on several threads if `parallel`, else as one part on the
 * caller's. Parallel, the range is cut into at most PYAD_MAX_PARTS parts, each a
 * multiple of `grain` long (but the last). The parts depend on n, grain and
 * `parallel` alone (and so do the bits of a reduction over them), whichever
 * threads end up running them. */
#define PYAD_MAX_PARTS 64
void pyad_run(size_t n, size_t grain, int parallel, pyad_task fn, const pyad_ctx *ctx);
/* The grain of a kernel parallel from par_min elements: 16 parts at par_min, and
 * more, up to PYAD_MAX_PARTS, as n grows. (Shorter parts cost more than they balance:
 * an add of 2^18 doubles ran 1.5x slower in 64 parts than in 8 or 16.) A multiple
 * of 16 elements, so parts start on a cache line. */
#define PYAD_GRAIN(par_min) ((par_min) / 16)
/* The grain of a memory-bound kernel whose items (rows, columns) are `size`
 * elements each: PYAD_GRAIN(PYAD_PAR_MIN) elements' worth of them. */
static inline size_t pyad_grain_of(size_t size) {
    return size ? (PYAD_GRAIN(PYAD_PAR_MIN) + size - 1) / size : 1;
}

/* Kernel names: K(exp) is pyad_exp_f32 or pyad_exp_f64 by the current S. */
#define PYAD_CAT_(a, b) a##b
#define PYAD_CAT(a, b) PYAD_CAT_(a, b)
#define K(name) PYAD_CAT(pyad_##name##_, S)
#define LOOP(name) PYAD_CAT(name##_loop_, S)
/* The libm function (exp or expf), the vmath.h function and its range limit
 * for the current S. */
#define PYAD_M_f32(fn) fn##f
#define PYAD_M_f64(fn) fn
#define M(fn) PYAD_CAT(PYAD_M_, S)(fn)
#define VM(fn) PYAD_CAT(pyad_vm_##fn##_, S)
#define PYAD_VMAX_f32(fn) PYAD_VM_##fn##_MAX_F32
#define PYAD_VMAX_f64(fn) PYAD_VM_##fn##_MAX_F64
#define VMAX(fn) PYAD_CAT(PYAD_VMAX_, S)(fn)
#define TASK(name) PYAD_CAT(name##_task_, S)

/* x > y or x is NaN: numpy's maximum, which returns y on ties (so -0.0 vs 0.0
 * picks y) and propagates NaN from either side. */
#define PYAD_MAX(x, y) (((x) > (y) || (x) != (x)) ? (x) : (y))
#define PYAD_MIN(x, y) (((x) < (y) || (x) != (x)) ? (x) : (y))

/* Unary kernels: X(name, expr(x), parallel from this many elements). */
#define PYAD_UNARY_OPS(X)                                                       \
    X(neg, -x, PYAD_PAR_MIN)                                                    \
    X(abs, M(fabs)(x), PYAD_PAR_MIN)                                            \
    X(exp, VM(exp)(x), PYAD_PAR_MIN_HEAVY)                                      \
    X(log, VM(log)(x), PYAD_PAR_MIN_HEAVY)                                      \
    X(log1p, VM(log1p)(x), PYAD_PAR_MIN_HEAVY)                                  \
    X(expm1, VM(expm1)(x), PYAD_PAR_MIN_HEAVY)                                  \
    X(sqrt, M(sqrt)(x), PYAD_PAR_MIN)                                           \
    X(square, x * x, PYAD_PAR_MIN)                                              \
    X(tanh, VM(tanh)(x), PYAD_PAR_MIN_HEAVY)                                    \
    X(sigmoid, VM(sigmoid)(x), PYAD_PAR_MIN_HEAVY)                              \
    X(relu, PYAD_MAX(x, (T)0), PYAD_PAR_MIN)                                    \
    /* log(1 + e^x) as numpy's logaddexp(0, x): max(x, 0) + log1p(e^-|x|) */    \
    X(softplus, PYAD_MAX(x, (T)0) + VM(log1p)(VM(exp)(-M(fabs)(x))), PYAD_PAR_MIN_HEAVY)

/* The serial loops of the unary kernels (elementwise.c), also run block by
 * block by fused programs (fuse.c), so both round alike. */
#define PYAD_UNARY_LOOP_DECL(name, expr, par_min)                              \
    __attribute__((visibility("hidden"))) void name##_loop_f32(                 \
        size_t n, float *restrict out, const float *restrict xs);               \
    __attribute__((visibility("hidden"))) void name##_loop_f64(                 \
        size_t n, double *restrict out, const double *restrict xs);
PYAD_UNARY_OPS(PYAD_UNARY_LOOP_DECL)

/* Unary kernels whose fast form holds on a limited range: X(name, fast, limit,
 * exact); elements with |x| beyond the limit (and NaN, inf) are redone with
 * libm's exact function. */
#define PYAD_UNARY_LIMITED_OPS(X)                                               \
    X(sin, VM(sin)(x), VMAX(SINCOS), M(sin)(x))                                 \
    X(cos, VM(cos)(x), VMAX(SINCOS), M(cos)(x))

/* Binary kernels: out[i] = expr(x[i], y[i]), and with one side a scalar. The
 * *_grad entries are the fused backward formulas of tanh, sigmoid, square and relu,
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
    X(square_grad, x * (y + y))                                                 \
    X(relu_grad, x * (T)(y > (T)0))

/* Binary kernels of transcendental functions: X(name, fast, redo, exact). numpy's
 * loops for these call libm element by element (10-20x slower than the vectorized
 * `fast` forms of vmath.h). Elements where `redo` holds (z is the fast result) are
 * computed again with `exact`, numpy's own formula on libm: where max(x, y) < 0 nearly
 * cancels log1p(...), both formulas err by a few ulp of the terms, which is many ulp of
 * the result; there the kernels give numpy's bits, so the two backends stay within
 * their relative tolerances. Elsewhere results are within a few ulp of numpy's. These
 * kernels have no accumulating forms and are not fused into backward programs. */
#define PYAD_CANCELS(x, y, z) (M(fabs)(z) < PYAD_MAX(x, y) * (T)-0.25)
#define PYAD_BINARY_REDO_OPS(X)                                                 \
    X(logaddexp, VM(logaddexp)(x, y), PYAD_CANCELS(x, y, z),                   \
      PYAD_MAX(x, y) + M(log1p)(M(exp)(-M(fabs)(x - y))))                       \
    X(logaddexp2, VM(logaddexp2)(x, y), PYAD_CANCELS(x, y, z),                 \
      PYAD_MAX(x, y) + (T)0x1.71547652b82fep+0 * M(log1p)(M(exp2)(-M(fabs)(x - y))))
/* ... and those within 2 ulp everywhere: X(name, expr). */
#define PYAD_BINARY_MATH_OPS(X) X(hypot, VM(hypot)(x, y))

#endif
