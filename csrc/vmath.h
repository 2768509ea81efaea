/* vmath.h: the transcendental functions the kernels call, one per dtype.
 *
 * Interim version: glibc's scalar libm (correctly rounded to within 1 ulp, but
 * not vectorized). The vectorizable polynomial versions replace these bodies;
 * the names and the contract (numpy's results within 2 ulp, NaN/inf/-0.0 as
 * numpy) stay the same.
 */
#ifndef PYAD_VMATH_H
#define PYAD_VMATH_H

#include <math.h>

#define PYAD_VM_LIBM(fn)                                                        \
    static inline double pyad_vm_##fn##_f64(double x) { return fn(x); }         \
    static inline float pyad_vm_##fn##_f32(float x) { return fn##f(x); }

PYAD_VM_LIBM(exp)
PYAD_VM_LIBM(log)
PYAD_VM_LIBM(log1p)
PYAD_VM_LIBM(expm1)
PYAD_VM_LIBM(tanh)
PYAD_VM_LIBM(sin)
PYAD_VM_LIBM(cos)

static inline double pyad_vm_sigmoid_f64(double x) { return 1.0 / (1.0 + exp(-x)); }
static inline float pyad_vm_sigmoid_f32(float x) { return 1.0f / (1.0f + expf(-x)); }

#endif
