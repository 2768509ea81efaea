/* vmath.h: branch-free, auto-vectorizable exp/log/log1p/expm1/tanh/sigmoid/sin/cos.
 *
 * double pyad_vm_<f>_f64(double x) and float pyad_vm_<f>_f32(float x) for
 * f in exp, log, log1p, expm1, tanh, sigmoid (1/(1+e^-x)), sin, cos.
 * All are static inline scalar functions with no branches and no libm calls:
 * selects are bit-mask blends, bit casts go through memcpy, integer
 * conversions use the 1.5*2^52 (2^23) shifter, 2^k is built in the exponent
 * bits. So gcc -O3 -std=c11 (no -ffast-math) vectorizes a plain loop
 *     for (size_t i = 0; i < n; i++) out[i] = pyad_vm_exp_f64(x[i]);
 * in a function with __attribute__((target_clones("avx512f", "avx2",
 * "default"))): checked with -fopt-info-vec-optimized for every function and
 * dtype, 64-byte vectors in the avx512f clone, 32-byte in avx2, 16-byte in
 * default. (Why blends and not `c ? a : b`: gcc threads the paths where a
 * ternary picks a constant, e.g. it folds exp(710) for a clamp, and the avx2
 * clone then has control flow and is not vectorized.)
 *
 * No FMA is needed for accuracy: every product whose rounding matters is
 * exact by construction (Cody-Waite constants with trailing zero bits) and
 * sums that must be exact use TwoSum. elementwise.c compiles these functions
 * with contraction allowed (fp-contract=fast, not part of -ffast-math;
 * NaN/inf/-0.0 unchanged) in x86-64-v4 and v3 clones, which fuse the
 * polynomials into vfmadd: all the error bounds below were measured both with
 * and without contraction (no Dekker products, so it cannot break them); the
 * clones' results may differ from each other within those bounds.
 *
 * Methods (coefficients: Chebyshev fits computed with mpmath at 60 digits):
 *  exp     x = k ln2 + r, |r| <= ln2/2, Cody-Waite with ln2 = HI (32 bits) + LO;
 *          e^r = 1 + (r + r^2 P(r)), P degree 9 (f64) / 5 (f32); 2^k applied
 *          as two normal factors 2^floor(k/2) * 2^(k-floor(k/2)), so overflow
 *          gives inf and the subnormal range underflows gradually with one
 *          rounding. Clamped to [-750, 710] (f32: [-104, 89]).
 *  expm1   same reduction keeping the low part of r; e^x-1 = 2^k((1 - 2^-k) + r
 *          + r^2 P(r)), 1 - 2^-k + r summed exactly (TwoSum): no cancellation.
 *  log     x = 2^k m, m in [sqrt2/2, sqrt2) from the bits (subnormals scaled by
 *          2^52 / 2^23 first); f = m - 1, s = f/(2+f), fdlibm's identity
 *          log(1+f) = f - f^2/2 + s (f^2/2 + s^2 T(s^2)), T degree 6 / 3.
 *  log1p   u = 1 + x, log(u) + (x - (u-1))/u (or (1 - (u-x))/u for u >= 2)
 *          with the correction fed into the low part of the log kernel.
 *  tanh    f64: e = expm1(2|x|) >= 0, tanh = e/(e+2) with e and e+2 carried
 *          as hi+lo pairs and the quotient corrected, q + (el - q dl)/dh
 *          (a second division measured faster than a Newton reciprocal); sign from x;
 *          |x| clamped to 20 (tanh rounds to 1); |x| < 2^-28 returns x.
 *          f32: evaluated in double, e/(e+2) with e = 2^k expm1(r) + (2^k-1).
 *  sigmoid -x = k ln2 + r, 1 + e^-x = 2^k (2^-k + 1 + expm1(r)) summed as a
 *          hi+lo pair, 1/d = rcp - rcp^2 lo, result scaled by 2^-k (two-step,
 *          so x < -708 gives the right subnormals, no overflow anywhere).
 *  sin/cos q = round(x 2/pi), r = x - q pi/2 with pi/2 in 4 parts (3 of 30
 *          bits: q*Pi exact for |q| < 2^23), accumulated by TwoSums into a
 *          hi+lo pair; fdlibm-style kernels on [-pi/4, pi/4] (sin degree 13,
 *          cos degree 14, with the lo correction); quadrant q mod 4 picks
 *          kernel and sign by bit operations. f32: reduction (2 parts, q*P1
 *          exact for |q| < 2^20) and kernels in double, one final rounding.
 *
 * Special values as numpy: NaN -> NaN everywhere; exp(+inf)=inf, exp(-inf)=0;
 * log(+-0)=-inf, log(x<0)=NaN, log(inf)=inf; log1p(-1)=-inf, log1p(x<-1)=NaN;
 * expm1(-inf)=-1; tanh(+-inf)=+-1; sigmoid(-inf)=0, sigmoid(inf)=1;
 * sin/cos(+-inf)=NaN; exp(-0.0)=1; -0.0 kept by log1p, expm1, tanh, sin; tiny x
 * gives x for log1p, expm1, tanh, sin.
 *
 * Measured max error in ulp (ulp of the reference's binade, subnormal ulp
 * below the normal range; gcc 12, with and without -ffp-contract=fast):
 *            f64 (dense sweeps)   f32 (ALL 2^32 inputs; sin/cos |x| <= 2^20)
 *  exp       1.06                 0.99
 *  log       0.85                 0.84
 *  log1p     0.83                 0.86
 *  expm1     1.36                 1.10
 *  tanh      0.99                 0.51
 *  sigmoid   1.33                 1.35
 *  sin       0.82                 0.50
 *  cos       0.81                 0.50
 * f64 sweeps: 2e6 points per range, uniform in the bit pattern (log-spaced)
 * over each function's whole finite domain, both signs, subnormals, the
 * overflow/underflow thresholds, all k*ln2 (|k| <= 1074) and their
 * neighbours, and the nearest doubles (+-2 ulp) to all n*pi/2, |n| <= 5.34e6;
 * reference x87 long double libm. f32 reference: double libm.
 *
 * Speed (10^6 elements, one thread, AMD EPYC Zen4, ms, numpy 2.4 in brackets;
 * "fc" = built with -ffp-contract=fast). Without FMA the polynomials cost a
 * mul and an add per term, so numpy's hand-written AVX-512 loops (FMA, table
 * permutes, vgetmant) stay ahead on exp/log/log1p/expm1/tanh:
 *   f64: exp 1.25, fc 0.85 [0.90]; log 1.60, fc 1.15 [0.81]; log1p 1.75,
 *        fc 1.41 [1.07]; expm1 1.73, fc 1.30 [1.21]; tanh 2.24, fc 1.78
 *        [1.70]; sigmoid 1.84, fc 1.39 [1/(1+exp(-x)): 2.05];
 *        sin 2.08, fc 1.78 [17.2]; cos 2.01, fc 1.68 [17.3]
 *   f32: exp 0.46, fc 0.32 [0.47]; log 0.62 [0.38]; log1p 0.74 [0.42];
 *        expm1 0.69 [0.35]; tanh 1.03 [0.37]; sigmoid 0.75 [0.83];
 *        sin 1.03 [0.53]; cos 1.07 [0.55]
 * (tests/test_vmath_ulp.py re-checks the error bounds through the cffi kernels.)
 *
 * sin/cos range: the bounds above hold for |x| <= PYAD_VM_SINCOS_MAX_F64
 * (2^23, float64) and |x| <= PYAD_VM_SINCOS_MAX_F32 (2^20, float32). Beyond,
 * the results are wrong (finite garbage; +-inf still gives NaN): the caller
 * must send such inputs to numpy.
 */
#ifndef PYAD_VMATH_H
#define PYAD_VMATH_H

#include <stdint.h>
#include <string.h>

#define PYAD_VM_SINCOS_MAX_F64 0x1p23
#define PYAD_VM_SINCOS_MAX_F32 0x1p20f

/* For functions called by several kernels of one file: past a few callers gcc's
 * inliner stops inlining them, and a loop that calls a function is not vectorized. */
#define PYAD_VM_INLINE static inline __attribute__((always_inline))

/* ---- bit casts (memcpy: defined behaviour, folded to register moves) ---- */
static inline uint64_t pyad_vm__u64(double x) { uint64_t u; memcpy(&u, &x, sizeof u); return u; }
static inline double pyad_vm__f64(uint64_t u) { double x; memcpy(&x, &u, sizeof x); return x; }
static inline uint32_t pyad_vm__u32(float x) { uint32_t u; memcpy(&u, &x, sizeof u); return u; }
static inline float pyad_vm__f32(uint32_t u) { float x; memcpy(&x, &u, sizeof x); return x; }

#define PYAD_VM__INF64 (pyad_vm__f64(0x7ff0000000000000ULL))
#define PYAD_VM__NAN64 (pyad_vm__f64(0x7ff8000000000000ULL))
#define PYAD_VM__INF32 (pyad_vm__f32(0x7f800000U))
#define PYAD_VM__NAN32 (pyad_vm__f32(0x7fc00000U))

/* |x| and copysign through the sign bit (vectorizes as and/or). */
static inline double pyad_vm__abs64(double x) { return pyad_vm__f64(pyad_vm__u64(x) & 0x7fffffffffffffffULL); }
static inline float pyad_vm__abs32(float x) { return pyad_vm__f32(pyad_vm__u32(x) & 0x7fffffffU); }
static inline double pyad_vm__signof64(double mag, double sgn)
{
    return pyad_vm__f64(pyad_vm__u64(mag) | (pyad_vm__u64(sgn) & 0x8000000000000000ULL));
}
static inline float pyad_vm__signof32(float mag, float sgn)
{
    return pyad_vm__f32(pyad_vm__u32(mag) | (pyad_vm__u32(sgn) & 0x80000000U));
}

/* Selects are bit-mask blends, not `c ? a : b`: with a ternary gcc threads
 * the paths where a constant is selected (e.g. folds exp(710) for a clamp),
 * the loop gets control flow and the avx2 clone is not vectorized. */
static inline double pyad_vm__sel64(int c, double a, double b)
{
    uint64_t m = -(uint64_t)c;
    return pyad_vm__f64((pyad_vm__u64(a) & m) | (pyad_vm__u64(b) & ~m));
}
static inline float pyad_vm__sel32(int c, float a, float b)
{
    uint32_t m = -(uint32_t)c;
    return pyad_vm__f32((pyad_vm__u32(a) & m) | (pyad_vm__u32(b) & ~m));
}
/* clamps; NaN passes through */
static inline double pyad_vm__min64(double x, double c) { return pyad_vm__sel64(x > c, c, x); }
static inline double pyad_vm__max64(double x, double c) { return pyad_vm__sel64(x < c, c, x); }
static inline float pyad_vm__min32(float x, float c) { return pyad_vm__sel32(x > c, c, x); }
static inline float pyad_vm__max32(float x, float c) { return pyad_vm__sel32(x < c, c, x); }

/* ---- constants ---- */
/* Round-to-nearest-integer shifters: (x + SHIFT) - SHIFT rounds x to an
 * integer (|x| < 2^51 resp. 2^22) and the low mantissa bits of x + SHIFT hold
 * that integer in two's complement. No float->int conversion instruction is
 * needed (avx512f without dq and avx2 have no packed double->int64). */
#define PYAD_VM__SHIFT64 0x1.8p52
#define PYAD_VM__SHIFT64_BITS 0x4338000000000000ULL
#define PYAD_VM__SHIFT32 0x1.8p23f
#define PYAD_VM__SHIFT32_BITS 0x4b400000U

#define PYAD_VM__INVLN2_D 0x1.71547652b82fep+0
/* ln2 = HI + LO, HI has 32 significant bits: k*HI is exact for |k| < 2^21. */
#define PYAD_VM__LN2HI_D 0x1.62e42ffp-1
#define PYAD_VM__LN2LO_D -0x1.718432a1b0e26p-35
#define PYAD_VM__INVLN2_F 0x1.715476p+0f
/* HI has 15 significant bits: k*HI is exact for |k| < 2^9. */
#define PYAD_VM__LN2HI_F 0x1.62e4p-1f
#define PYAD_VM__LN2LO_F 0x1.7f7d1cp-20f

/* Polynomial coefficients: near-minimax (Chebyshev) fits computed with
 * mpmath at 60 digits, rounded to the target precision.
 * EXP: (e^r - 1 - r)/r^2 on |r| <= ln2/2 (1.0001x). */
#define PYAD_VM__EXP_D0 0x1.0000000000001p-1
#define PYAD_VM__EXP_D1 0x1.5555555555556p-3
#define PYAD_VM__EXP_D2 0x1.5555555553d63p-5
#define PYAD_VM__EXP_D3 0x1.11111111109b3p-7
#define PYAD_VM__EXP_D4 0x1.6c16c1788bd90p-10
#define PYAD_VM__EXP_D5 0x1.a01a01a7c41d5p-13
#define PYAD_VM__EXP_D6 0x1.a019b90d2ae7ap-16
#define PYAD_VM__EXP_D7 0x1.71de0dae63bb3p-19
#define PYAD_VM__EXP_D8 0x1.289185613a3d6p-22
#define PYAD_VM__EXP_D9 0x1.af38a9b0ec855p-26
/* same, degree 5, for float results evaluated in double */
#define PYAD_VM__EXP_DF0 0x1.0000000b9129bp-1
#define PYAD_VM__EXP_DF1 0x1.5555555a78ed4p-3
#define PYAD_VM__EXP_DF2 0x1.5554e9063586ep-5
#define PYAD_VM__EXP_DF3 0x1.1110e0f238322p-7
#define PYAD_VM__EXP_DF4 0x1.6d43246b523b4p-10
#define PYAD_VM__EXP_DF5 0x1.a124f19fe89acp-13
#define PYAD_VM__EXP_F0 0x1.000000p-1f
#define PYAD_VM__EXP_F1 0x1.555556p-3f
#define PYAD_VM__EXP_F2 0x1.5554eap-5f
#define PYAD_VM__EXP_F3 0x1.1110e0p-7f
#define PYAD_VM__EXP_F4 0x1.6d4324p-10f
#define PYAD_VM__EXP_F5 0x1.a124f2p-13f
/* LOG: T(z) = (log((1+s)/(1-s))/s - 2)/z, z = s^2, s <= (sqrt2-1)/(sqrt2+1). */
#define PYAD_VM__LOG_D0 0x1.5555555555558p-1
#define PYAD_VM__LOG_D1 0x1.9999999995204p-2
#define PYAD_VM__LOG_D2 0x1.2492492e09d4dp-2
#define PYAD_VM__LOG_D3 0x1.c71c62c639fdep-3
#define PYAD_VM__LOG_D4 0x1.7462bd8f7796ep-3
#define PYAD_VM__LOG_D5 0x1.39fd392179a95p-3
#define PYAD_VM__LOG_D6 0x1.2b6688a387e03p-3
#define PYAD_VM__LOG_F0 0x1.555556p-1f
#define PYAD_VM__LOG_F1 0x1.9999ecp-2f
#define PYAD_VM__LOG_F2 0x1.245c0ap-2f
#define PYAD_VM__LOG_F3 0x1.dddae0p-3f
/* SIN: (sin(r) - r)/r^3, COS: (cos(r) - 1 + r^2/2)/r^4, in z = r^2, |r| <= pi/4. */
#define PYAD_VM__SIN_D0 -0x1.5555555555555p-3
#define PYAD_VM__SIN_D1 0x1.1111111110ba5p-7
#define PYAD_VM__SIN_D2 -0x1.a01a019e80693p-13
#define PYAD_VM__SIN_D3 0x1.71de379252004p-19
#define PYAD_VM__SIN_D4 -0x1.ae60069e53ef1p-26
#define PYAD_VM__SIN_D5 0x1.5e098556d302ep-33
#define PYAD_VM__COS_D0 0x1.5555555555555p-5
#define PYAD_VM__COS_D1 -0x1.6c16c16c16960p-10
#define PYAD_VM__COS_D2 0x1.a01a019f4d0edp-16
#define PYAD_VM__COS_D3 -0x1.27e4fa15bd814p-22
#define PYAD_VM__COS_D4 0x1.1eeb66b683028p-29
#define PYAD_VM__COS_D5 -0x1.907c0e63adbb6p-37
/* float sin/cos are evaluated in double with these shorter fits. */
#define PYAD_VM__SIN_DF0 -0x1.555555545c0f8p-3
#define PYAD_VM__SIN_DF1 0x1.11110dea5e8c0p-7
#define PYAD_VM__SIN_DF2 -0x1.a013a11619d1bp-13
#define PYAD_VM__SIN_DF3 0x1.6dbbee1f24647p-19
#define PYAD_VM__COS_DF0 0x1.555555550225fp-5
#define PYAD_VM__COS_DF1 -0x1.6c16bf51b0df9p-10
#define PYAD_VM__COS_DF2 0x1.a015c02820885p-16
#define PYAD_VM__COS_DF3 -0x1.2522e6d930e5bp-22

/* pi/2 = P1 + P2 + P3 + P4 (+ ~2^-147): P1, P2, P3 have 30 significant bits
 * so q*Pi is exact for |q| < 2^23; q*P4 (< 2^-67) is rounded once. */
#define PYAD_VM__PIO2_1 0x1.921fb548p+0
#define PYAD_VM__PIO2_2 -0x1.de973dc8p-31
#define PYAD_VM__PIO2_3 -0x1.9d9cceb8p-62
#define PYAD_VM__PIO2_4 -0x1.1fc8f8cbb5bf7p-93
#define PYAD_VM__2OPI_D 0x1.45f306dc9c883p-1
/* for float inputs (24-bit): P1 has 33 bits, q*P1 exact for |q| < 2^20. */
#define PYAD_VM__PIO2F_1 0x1.921fb544p+0
#define PYAD_VM__PIO2F_2 0x1.0b4611a626331p-34

/* ======================================================================
 * 2^k scaling. kb = k + 2048 (resp. k + 256), unsigned so that only logical
 * shifts are needed. Two factors 2^floor(k/2) and 2^(k - floor(k/2)), each
 * normal, so y * s1 is exact and (y * s1) * s2 rounds once, also into the
 * subnormal range (gradual underflow) and into overflow (inf).
 * ====================================================================== */
static inline double pyad_vm__scale64(double y, uint64_t kb)
{
    uint64_t k1b = kb >> 1;
    double s1 = pyad_vm__f64((k1b - 1) << 52);
    double s2 = pyad_vm__f64((kb - k1b - 1) << 52);
    return (y * s1) * s2;
}
static inline float pyad_vm__scale32(float y, uint32_t kb)
{
    uint32_t k1b = kb >> 1;
    float s1 = pyad_vm__f32((k1b - 1) << 23);
    float s2 = pyad_vm__f32((kb - k1b - 1) << 23);
    return (y * s1) * s2;
}

/* ======================================================================
 * exp.  x = k ln2 + r, |r| <= ln2/2 (Cody-Waite, k*LN2HI exact, x - k*LN2HI
 * exact by Sterbenz), e^r = 1 + (r + r^2 P(r)), result scaled by 2^k.
 * ====================================================================== */
/* r^2 P(r), so that expm1(r) = r + pyad_vm__exp_tail_d(r) */
static inline double pyad_vm__exp_tail_d(double r)
{
    double p = PYAD_VM__EXP_D9;
    p = PYAD_VM__EXP_D8 + r * p;
    p = PYAD_VM__EXP_D7 + r * p;
    p = PYAD_VM__EXP_D6 + r * p;
    p = PYAD_VM__EXP_D5 + r * p;
    p = PYAD_VM__EXP_D4 + r * p;
    p = PYAD_VM__EXP_D3 + r * p;
    p = PYAD_VM__EXP_D2 + r * p;
    p = PYAD_VM__EXP_D1 + r * p;
    p = PYAD_VM__EXP_D0 + r * p;
    return (r * r) * p;
}

/* Reduce x (already clamped to |x| < 2^51 or NaN): returns r, sets *kd (k as
 * double), *kb (k + 2048) and *rlo (the rounding error of r: x - k ln2 = r + rlo). */
static inline double pyad_vm__exp_reduce_d(double x, double *kd, uint64_t *kb, double *rlo)
{
    double t = x * PYAD_VM__INVLN2_D + PYAD_VM__SHIFT64;
    *kb = pyad_vm__u64(t) - PYAD_VM__SHIFT64_BITS + 2048;
    double k = t - PYAD_VM__SHIFT64;
    *kd = k;
    double hi = x - k * PYAD_VM__LN2HI_D; /* exact */
    double lo = k * PYAD_VM__LN2LO_D;
    double r = hi - lo;
    *rlo = (hi - r) - lo;                 /* Fast2Sum, |hi| >= |lo| */
    return r;
}

PYAD_VM_INLINE double pyad_vm_exp_f64(double x)
{
    /* clamp (NaN passes): e^710 overflows, e^-750 underflows to 0. */
    double xc = pyad_vm__min64(x, 710.0);
    xc = pyad_vm__max64(xc, -750.0);
    double kd, rlo;
    uint64_t kb;
    double r = pyad_vm__exp_reduce_d(xc, &kd, &kb, &rlo);
    (void)rlo; /* not needed for exp: max error 0.93 ulp without it */
    double p = 1.0 + (r + pyad_vm__exp_tail_d(r));
    return pyad_vm__scale64(p, kb);
}

static inline float pyad_vm__exp_tailp_f(float r)
{
    float p = PYAD_VM__EXP_F5;
    p = PYAD_VM__EXP_F4 + r * p;
    p = PYAD_VM__EXP_F3 + r * p;
    p = PYAD_VM__EXP_F2 + r * p;
    p = PYAD_VM__EXP_F1 + r * p;
    return PYAD_VM__EXP_F0 + r * p;
}

static inline float pyad_vm__exp_poly_f(float r)
{
    float p = PYAD_VM__EXP_F5;
    p = PYAD_VM__EXP_F4 + r * p;
    p = PYAD_VM__EXP_F3 + r * p;
    p = PYAD_VM__EXP_F2 + r * p;
    p = PYAD_VM__EXP_F1 + r * p;
    p = PYAD_VM__EXP_F0 + r * p;
    return r + (r * r) * p;
}

static inline float pyad_vm__exp_reduce_f(float x, float *kd, uint32_t *kb, float *rlo)
{
    float t = x * PYAD_VM__INVLN2_F + PYAD_VM__SHIFT32;
    *kb = pyad_vm__u32(t) - PYAD_VM__SHIFT32_BITS + 256;
    float k = t - PYAD_VM__SHIFT32;
    *kd = k;
    float hi = x - k * PYAD_VM__LN2HI_F; /* exact */
    float lo = k * PYAD_VM__LN2LO_F;
    float r = hi - lo;
    *rlo = (hi - r) - lo;
    return r;
}

static inline float pyad_vm_exp_f32(float x)
{
    float xc = pyad_vm__min32(x, 89.0f);
    xc = pyad_vm__max32(xc, -104.0f);
    float kd, rlo;
    uint32_t kb;
    float r = pyad_vm__exp_reduce_f(xc, &kd, &kb, &rlo);
    (void)rlo;
    float p = 1.0f + pyad_vm__exp_poly_f(r);
    return pyad_vm__scale32(p, kb);
}

/* ======================================================================
 * expm1.  Same reduction as exp, keeping the low part rlo of r;
 * e^x - 1 = 2^k ((1 - 2^-k) + r + tail): c1 = 1 - 2^-k is exact for
 * -53 <= k <= 53 (beyond, its rounding is below 1/2 ulp of the result);
 * c1 + r is summed exactly (TwoSum), so there is no cancellation error in
 * any binade; one rounding, then the (two-step) scaling. Also returns the
 * unscaled hi/lo pair for tanh. kd must be in [-60, 1100]. */
static inline double pyad_vm__expm1_parts_d(double r, double rlo, double kd, double *lo)
{
    double kc = pyad_vm__min64(kd, 60.0);
    double tk = (-kc) + PYAD_VM__SHIFT64;   /* 2^-k for k <= 60 */
    double twomk = pyad_vm__f64((pyad_vm__u64(tk) - PYAD_VM__SHIFT64_BITS + 1023) << 52);
    double c1 = 1.0 - twomk;
    double s = c1 + r;                      /* TwoSum(c1, r) */
    double bb = s - c1;
    double err = (c1 - (s - bb)) + (r - bb);
    double tail = pyad_vm__exp_tail_d(r) + (rlo + rlo * r) + err;
    double h = s + tail;
    *lo = (s - h) + tail;                   /* |s| >= |tail| unless both tiny */
    return h;
}

static inline double pyad_vm_expm1_f64(double x)
{
    double xc = pyad_vm__min64(x, 710.0);
    xc = pyad_vm__max64(xc, -40.0); /* expm1(-40) rounds to -1 */
    double kd, rlo, lo;
    uint64_t kb;
    double r = pyad_vm__exp_reduce_d(xc, &kd, &kb, &rlo);
    double h = pyad_vm__expm1_parts_d(r, rlo, kd, &lo);
    double y = pyad_vm__scale64(h, kb);
    return pyad_vm__sel64(x == 0.0, x, y); /* keeps -0.0 */
}

/* float helpers evaluated in double: x (in [-1000, 1000]) = k ln2 + r,
 * returns expm1(r) with relative error ~2^-33 and sets *sc = 2^k (normal). */
static inline double pyad_vm__expm1_df(double x, double *sc)
{
    double t = x * PYAD_VM__INVLN2_D + PYAD_VM__SHIFT64;
    double k = t - PYAD_VM__SHIFT64;
    double r = (x - k * PYAD_VM__LN2HI_D) - k * PYAD_VM__LN2LO_D;
    double p = PYAD_VM__EXP_DF5;
    p = PYAD_VM__EXP_DF4 + r * p;
    p = PYAD_VM__EXP_DF3 + r * p;
    p = PYAD_VM__EXP_DF2 + r * p;
    p = PYAD_VM__EXP_DF1 + r * p;
    p = PYAD_VM__EXP_DF0 + r * p;
    *sc = pyad_vm__f64((pyad_vm__u64(t) - PYAD_VM__SHIFT64_BITS + 1023) << 52);
    return r + (r * r) * p;
}

static inline float pyad_vm__expm1_parts_f(float r, float rlo, float kd, float *lo)
{
    float kc = pyad_vm__min32(kd, 30.0f);
    float tk = (-kc) + PYAD_VM__SHIFT32;     /* 2^-k for k <= 30 */
    float twomk = pyad_vm__f32((pyad_vm__u32(tk) - PYAD_VM__SHIFT32_BITS + 127) << 23);
    float c1 = 1.0f - twomk;
    float s = c1 + r;                        /* TwoSum(c1, r) */
    float bb = s - c1;
    float err = (c1 - (s - bb)) + (r - bb);
    float tail = (r * r) * pyad_vm__exp_tailp_f(r) + (rlo + rlo * r) + err;
    float h = s + tail;
    *lo = (s - h) + tail;
    return h;
}

static inline float pyad_vm_expm1_f32(float x)
{
    float xc = pyad_vm__min32(x, 89.0f);
    xc = pyad_vm__max32(xc, -18.0f); /* expm1f(-18) rounds to -1 */
    float kd, rlo, lo;
    uint32_t kb;
    float r = pyad_vm__exp_reduce_f(xc, &kd, &kb, &rlo);
    float h = pyad_vm__expm1_parts_f(r, rlo, kd, &lo);
    float y = pyad_vm__scale32(h, kb);
    return pyad_vm__sel32(x == 0.0f, x, y);
}

/* ======================================================================
 * log.  x = 2^k m, m in [sqrt2/2, sqrt2) by integer arithmetic on the bits
 * (subnormals pre-scaled by 2^52), f = m - 1, s = f/(2+f),
 * log(1+f) = f - f^2/2 + s (f^2/2 + z T(z)), z = s^2 (fdlibm's identity),
 * plus k ln2 in two parts. `c` is an extra low-order term (used by log1p).
 * ====================================================================== */
static inline double pyad_vm__log_core_d(double x, double c)
{
    int tiny = x < 0x1p-1022;
    double xs = pyad_vm__sel64(tiny, x * 0x1p52, x);
    uint64_t ix = pyad_vm__u64(xs);
    uint64_t tmp = ix + (0x400ULL << 52) - 0x3fe6a09e667f3bcdULL;
    uint64_t kb = tmp >> 52;                 /* k + 1024 */
    uint64_t iz = ix - (tmp & (0xfffULL << 52)) + (0x400ULL << 52);
    double k = pyad_vm__f64(0x4330000000000000ULL | kb) - (0x1p52 + 1024.0);
    k = pyad_vm__sel64(tiny, k - 52.0, k);
    double f = pyad_vm__f64(iz) - 1.0;
    double s = f / (2.0 + f);
    double z = s * s;
    double t = PYAD_VM__LOG_D6;
    t = PYAD_VM__LOG_D5 + z * t;
    t = PYAD_VM__LOG_D4 + z * t;
    t = PYAD_VM__LOG_D3 + z * t;
    t = PYAD_VM__LOG_D2 + z * t;
    t = PYAD_VM__LOG_D1 + z * t;
    t = PYAD_VM__LOG_D0 + z * t;
    double R = z * t;
    double hfsq = 0.5 * f * f;
    return k * PYAD_VM__LN2HI_D - ((hfsq - (s * (hfsq + R) + (k * PYAD_VM__LN2LO_D + c))) - f);
}

static inline double pyad_vm_log_f64(double x)
{
    double y = pyad_vm__log_core_d(x, 0.0);
    y = pyad_vm__sel64(x < 0.0, PYAD_VM__NAN64, y);
    y = pyad_vm__sel64(x == 0.0, -PYAD_VM__INF64, y);
    return pyad_vm__sel64(!(x < PYAD_VM__INF64), x, y); /* +inf, NaN: themselves */
}

static inline float pyad_vm__log_core_f(float x, float c)
{
    int tiny = x < 0x1p-126f;
    float xs = pyad_vm__sel32(tiny, x * 0x1p23f, x);
    uint32_t ix = pyad_vm__u32(xs);
    uint32_t tmp = ix + (0x80U << 23) - 0x3f3504f3U;
    uint32_t kb = tmp >> 23;                 /* k + 128 */
    uint32_t iz = ix - (tmp & (0x1ffU << 23)) + (0x80U << 23);
    float k = pyad_vm__f32(0x4b000000U | kb) - (0x1p23f + 128.0f);
    k = pyad_vm__sel32(tiny, k - 23.0f, k);
    float f = pyad_vm__f32(iz) - 1.0f;
    float s = f / (2.0f + f);
    float z = s * s;
    float t = PYAD_VM__LOG_F3;
    t = PYAD_VM__LOG_F2 + z * t;
    t = PYAD_VM__LOG_F1 + z * t;
    t = PYAD_VM__LOG_F0 + z * t;
    float R = z * t;
    float hfsq = 0.5f * f * f;
    return k * PYAD_VM__LN2HI_F - ((hfsq - (s * (hfsq + R) + (k * PYAD_VM__LN2LO_F + c))) - f);
}

static inline float pyad_vm_log_f32(float x)
{
    float y = pyad_vm__log_core_f(x, 0.0f);
    y = pyad_vm__sel32(x < 0.0f, PYAD_VM__NAN32, y);
    y = pyad_vm__sel32(x == 0.0f, -PYAD_VM__INF32, y);
    return pyad_vm__sel32(!(x < PYAD_VM__INF32), x, y); /* +inf, NaN: themselves */
}

/* ======================================================================
 * log1p.  u = 1 + x (rounded), log1p(x) = log(u) + c with the rounding
 * correction c = (x - (u - 1))/u, or (1 - (u - x))/u when u >= 2 (both
 * subtractions exact in their ranges).
 * ====================================================================== */
PYAD_VM_INLINE double pyad_vm_log1p_f64(double x)
{
    double u = 1.0 + x;
    double c = pyad_vm__sel64(u >= 2.0, 1.0 - (u - x), x - (u - 1.0)) / u;
    double y = pyad_vm__log_core_d(u, c);
    y = pyad_vm__sel64(x < -1.0, PYAD_VM__NAN64, y);
    y = pyad_vm__sel64(x == -1.0, -PYAD_VM__INF64, y);
    /* +inf, NaN and +-0 give themselves */
    return pyad_vm__sel64(!(x < PYAD_VM__INF64) | (x == 0.0), x, y);
}

static inline float pyad_vm_log1p_f32(float x)
{
    float u = 1.0f + x;
    float c = pyad_vm__sel32(u >= 2.0f, 1.0f - (u - x), x - (u - 1.0f)) / u;
    float y = pyad_vm__log_core_f(u, c);
    y = pyad_vm__sel32(x < -1.0f, PYAD_VM__NAN32, y);
    y = pyad_vm__sel32(x == -1.0f, -PYAD_VM__INF32, y);
    return pyad_vm__sel32(!(x < PYAD_VM__INF32) | (x == 0.0f), x, y);
}

/* ======================================================================
 * tanh.  a = |x| (clamped to 20, tanh(20) rounds to 1), one expm1:
 *   a <  1:  e = expm1(-2a), tanh = -e/(e + 2)
 *   a >= 1:  e = expm1(2a),  tanh = 1 - 2/(e + 2)
 * tiny |x| returns x (keeps -0.0); sign restored from x.
 * ====================================================================== */
static inline double pyad_vm_tanh_f64(double x)
{
    /* e = expm1(2a) >= 0 as a hi+lo pair, tanh(a) = e/(e + 2): the errors of
     * e move numerator and denominator the same way; the quotient of the
     * pairs is q + ((eh - q dh) + (el - q dl))/dh for any q near eh/dh:
     * here q = eh * (1/dh), and the residual eh - q dh (exact where FMA
     * contracts it) corrects q's two roundings (0.99 ulp measured, against
     * 1.41 for q = eh/dh with the first residual left out). */
    double a = pyad_vm__min64(pyad_vm__abs64(x), 20.0);
    double kd, rlo, lo;
    uint64_t kb;
    double r = pyad_vm__exp_reduce_d(2.0 * a, &kd, &kb, &rlo);
    double h = pyad_vm__expm1_parts_d(r, rlo, kd, &lo);
    double sc = pyad_vm__f64((kb - 2048 + 1023) << 52); /* 2^k, k in [0, 58] */
    double eh = h * sc, el = lo * sc;
    double dh = eh + 2.0;                              /* TwoSum(eh, 2) */
    double bb = dh - eh;
    double dl = ((eh - (dh - bb)) + (2.0 - bb)) + el;
    double rcp = 1.0 / dh;
    double q = eh * rcp;
    double z = q + ((eh - q * dh) + (el - q * dl)) * rcp;
    z = pyad_vm__signof64(z, x);
    return pyad_vm__sel64(a < 0x1p-28, x, z); /* NaN: z is NaN */
}

/* float tanh, evaluated in double (measured faster here than the float
 * version of the f64 algorithm, and 0.5 ulp): e = expm1(2|x|) =
 * 2^k expm1(r) + (2^k - 1) without cancellation, tanh = e/(e + 2), one
 * final rounding. */
static inline float pyad_vm_tanh_f32(float x)
{
    double a = pyad_vm__min64(pyad_vm__abs64((double)x), 10.0);
    double sc;
    double pm = pyad_vm__expm1_df(2.0 * a, &sc);
    double e = pm * sc + (sc - 1.0);
    float z = (float)(e / (e + 2.0));
    return pyad_vm__signof32(z, x); /* keeps -0.0; NaN stays NaN */
}

/* ======================================================================
 * sigmoid = 1/(1+e^-x).  E = e^-|x| <= 1 (no overflow, subnormal results for
 * x < -708 come out right): x >= 0: 1/(1+E); x < 0: E/(1+E).
 * ====================================================================== */
static inline double pyad_vm_sigmoid_f64(double x)
{
    /* -x = k ln2 + r; 1 + e^-x = 2^k (2^-k + 1 + pm), pm = expm1(r);
     * sigmoid = 2^-k / d, d = 2^-k + 1 + pm kept as dh + dl (exact sums),
     * 1/d = rcp - rcp^2 dl; the final scaling by 2^-k also yields the
     * subnormal results for x < -708 with one rounding. */
    double xm = pyad_vm__max64(pyad_vm__min64(-x, 750.0), -40.0);
    double kd, rlo;
    uint64_t kb;
    double r = pyad_vm__exp_reduce_d(xm, &kd, &kb, &rlo);
    double pm = r + (pyad_vm__exp_tail_d(r) + rlo);
    double s1 = 1.0 + pm;
    double e1 = (1.0 - s1) + pm;               /* Fast2Sum */
    uint64_t nkb = 4096 - kb;                  /* -k + 2048 */
    double tk = pyad_vm__scale64(1.0, nkb);    /* 2^-k */
    double dh = tk + s1;                       /* TwoSum(tk, s1) */
    double bb = dh - tk;
    double dl = ((tk - (dh - bb)) + (s1 - bb)) + e1;
    double rcp = 1.0 / dh;
    double q = rcp - (rcp * rcp) * dl;
    return pyad_vm__scale64(q, nkb);
}

static inline float pyad_vm_sigmoid_f32(float x)
{
    float xm = pyad_vm__max32(pyad_vm__min32(-x, 104.0f), -18.0f);
    float kd, rlo;
    uint32_t kb;
    float r = pyad_vm__exp_reduce_f(xm, &kd, &kb, &rlo);
    float pm = r + ((r * r) * pyad_vm__exp_tailp_f(r) + rlo);
    float s1 = 1.0f + pm;
    float e1 = (1.0f - s1) + pm;
    uint32_t nkb = 512 - kb;
    float tk = pyad_vm__scale32(1.0f, nkb);
    float dh = tk + s1;
    float bb = dh - tk;
    float dl = ((tk - (dh - bb)) + (s1 - bb)) + e1;
    float rcp = 1.0f / dh;
    float q = rcp - (rcp * rcp) * dl;
    return pyad_vm__scale32(q, nkb);
}

/* ======================================================================
 * sin/cos, float64.  q = nearest integer to x*2/pi, r = x - q pi/2 as a
 * double-double (rh, rl): x - q*P1 exact, then two TwoSums with q*P2 (exact)
 * and q*P3. fdlibm-style kernels on [-pi/4, pi/4] with the rl correction:
 *   sin(rh+rl) ~ rh + rh^3 S(z) + rl (1 - z/2),  cos(rh+rl) ~ 1 - z/2 + z^2 C(z) - rh rl
 * quadrant q mod 4 picks sin/cos and sign by bit operations.
 * ====================================================================== */
static inline double pyad_vm__sincos_d(double x, uint64_t qadd)
{
    double t = x * PYAD_VM__2OPI_D + PYAD_VM__SHIFT64;
    uint64_t n = pyad_vm__u64(t) + qadd; /* low 2 bits = (q + qadd) mod 4 */
    double q = t - PYAD_VM__SHIFT64;
    double a = x - q * PYAD_VM__PIO2_1;        /* exact (Sterbenz) */
    double b = -(q * PYAD_VM__PIO2_2);         /* exact */
    double s1 = a + b;                         /* TwoSum(a, b) */
    double bb = s1 - a;
    double e1 = (a - (s1 - bb)) + (b - bb);
    double c = -(q * PYAD_VM__PIO2_3);         /* exact */
    double s2 = s1 + c;                        /* TwoSum(s1, c) */
    double cc = s2 - s1;
    double e2 = (s1 - (s2 - cc)) + (c - cc);
    double d = -(q * PYAD_VM__PIO2_4);
    double s3 = s2 + d;                        /* TwoSum(s2, d) */
    double dd = s3 - s2;
    double e3 = (s2 - (s3 - dd)) + (d - dd);
    double lo = (e1 + e2) + e3;
    double rh = s3 + lo;                       /* Fast2Sum */
    double rl = lo - (rh - s3);

    double z = rh * rh;
    double v = z * rh;
    double ps = PYAD_VM__SIN_D5;
    ps = PYAD_VM__SIN_D4 + z * ps;
    ps = PYAD_VM__SIN_D3 + z * ps;
    ps = PYAD_VM__SIN_D2 + z * ps;
    ps = PYAD_VM__SIN_D1 + z * ps;
    double sn = rh - ((z * (0.5 * rl - v * ps) - rl) - v * PYAD_VM__SIN_D0);

    double pc = PYAD_VM__COS_D5;
    pc = PYAD_VM__COS_D4 + z * pc;
    pc = PYAD_VM__COS_D3 + z * pc;
    pc = PYAD_VM__COS_D2 + z * pc;
    pc = PYAD_VM__COS_D1 + z * pc;
    pc = PYAD_VM__COS_D0 + z * pc;
    double hz = 0.5 * z;
    double w = 1.0 - hz;
    double cs = w + (((1.0 - w) - hz) + (z * (z * pc) - rh * rl));

    double y = pyad_vm__sel64((int)(n & 1), cs, sn);
    return pyad_vm__f64(pyad_vm__u64(y) ^ ((n & 2) << 62));
}

static inline double pyad_vm_sin_f64(double x)
{
    double y = pyad_vm__sincos_d(x, 0);
    return pyad_vm__sel64(pyad_vm__abs64(x) < 0x1p-26, x, y); /* sin(x) rounds to x; keeps -0.0 */
}

static inline double pyad_vm_cos_f64(double x)
{
    return pyad_vm__sincos_d(x, 1); /* cos(x) = sin(x + pi/2) */
}

/* sin/cos, float32: evaluated in double (x - q*P1 exact, q*P2 rounded once,
 * relative error of r < 2^-36 for |x| < 2^20), result rounded once to float. */
static inline float pyad_vm__sincos_f(float xf, uint64_t qadd)
{
    double x = (double)xf;
    double t = x * PYAD_VM__2OPI_D + PYAD_VM__SHIFT64;
    uint64_t n = pyad_vm__u64(t) + qadd;
    double q = t - PYAD_VM__SHIFT64;
    double r = (x - q * PYAD_VM__PIO2F_1) - q * PYAD_VM__PIO2F_2;
    double z = r * r;
    double ps = PYAD_VM__SIN_DF3;
    ps = PYAD_VM__SIN_DF2 + z * ps;
    ps = PYAD_VM__SIN_DF1 + z * ps;
    ps = PYAD_VM__SIN_DF0 + z * ps;
    double sn = r + (z * r) * ps;
    double pc = PYAD_VM__COS_DF3;
    pc = PYAD_VM__COS_DF2 + z * pc;
    pc = PYAD_VM__COS_DF1 + z * pc;
    pc = PYAD_VM__COS_DF0 + z * pc;
    double cs = (1.0 - 0.5 * z) + (z * z) * pc;
    double y = pyad_vm__sel64((int)(n & 1), cs, sn);
    y = pyad_vm__f64(pyad_vm__u64(y) ^ ((n & 2) << 62));
    return (float)y;
}

static inline float pyad_vm_sin_f32(float x)
{
    float y = pyad_vm__sincos_f(x, 0);
    return pyad_vm__sel32(pyad_vm__abs32(x) < 0x1p-12f, x, y);
}

static inline float pyad_vm_cos_f32(float x)
{
    return pyad_vm__sincos_f(x, 1);
}

/* ======================================================================
 * Binary functions, as numpy's ufuncs of the same names (same special values).
 *  logaddexp   log(e^x + e^y) = max(x, y) + log1p(e^-|x - y|), numpy's formula
 *              (so where the sum cancels, max < 0 near -log1p(...), both carry
 *              the same absolute error, a few ulp of the larger term);
 *              x == y gives x + ln2 (also inf + inf = inf, -inf + -inf = -inf),
 *              NaN gives NaN.
 *  logaddexp2  log2(2^x + 2^y) = max(x, y) + log2(e) log1p(2^-|x - y|), x == y
 *              gives x + 1. 2^t (t <= 0) as 2^k e^(f ln2), t = k + f with f in
 *              [-1/2, 1/2] exact: e^(t ln2) would carry t ln2's rounding, up to
 *              700 ulp for t near -1000.
 *  hypot       sqrt(x^2 + y^2) on x, y scaled by 2^-600 or 2^600 (exact) when the
 *              larger magnitude is beyond 2^510 or below 2^-450, so the squares
 *              neither overflow nor lose bits to underflow; inf with anything
 *              (NaN included) gives inf.
 * float32: evaluated in double (the float32 hypot's squares are exact there),
 * one final rounding.
 * ====================================================================== */
#define PYAD_VM__LN2_D 0x1.62e42fefa39efp-1
#define PYAD_VM__LOG2E_D 0x1.71547652b82fep+0

/* 2^t for t <= 0 (NaN gives NaN): 2^k e^(f ln2), the exp kernel on |f ln2| <= ln2/2. */
PYAD_VM_INLINE double pyad_vm__exp2neg_d(double t)
{
    double tc = pyad_vm__max64(t, -1100.0); /* 2^-1100 underflows to 0 */
    double s = tc + PYAD_VM__SHIFT64;
    uint64_t kb = pyad_vm__u64(s) - PYAD_VM__SHIFT64_BITS + 2048;
    double r = (tc - (s - PYAD_VM__SHIFT64)) * PYAD_VM__LN2_D;
    return pyad_vm__scale64(1.0 + (r + pyad_vm__exp_tail_d(r)), kb);
}

PYAD_VM_INLINE double pyad_vm_logaddexp_f64(double x, double y)
{
    double d = x - y;
    double m = pyad_vm__sel64(x > y, x, y);
    double z = m + pyad_vm_log1p_f64(pyad_vm_exp_f64(-pyad_vm__abs64(d)));
    z = pyad_vm__sel64(d != d, d, z);               /* NaN, or inf - inf (then x == y) */
    return pyad_vm__sel64(x == y, x + PYAD_VM__LN2_D, z);
}

PYAD_VM_INLINE double pyad_vm_logaddexp2_f64(double x, double y)
{
    double d = x - y;
    double m = pyad_vm__sel64(x > y, x, y);
    double z = m + PYAD_VM__LOG2E_D * pyad_vm_log1p_f64(pyad_vm__exp2neg_d(-pyad_vm__abs64(d)));
    z = pyad_vm__sel64(d != d, d, z);
    return pyad_vm__sel64(x == y, x + 1.0, z);
}

PYAD_VM_INLINE double pyad_vm_hypot_f64(double x, double y)
{
    double ax = pyad_vm__abs64(x), ay = pyad_vm__abs64(y);
    double big = pyad_vm__sel64(ax > ay, ax, ay);
    int huge = big >= 0x1p511, small = big < 0x1p-450;
    double sc = pyad_vm__sel64(huge, 0x1p-600, pyad_vm__sel64(small, 0x1p600, 1.0));
    double un = pyad_vm__sel64(huge, 0x1p600, pyad_vm__sel64(small, 0x1p-600, 1.0));
    double a = ax * sc, b = ay * sc;
    double h = __builtin_sqrt(a * a + b * b) * un;
    return pyad_vm__sel64((ax == PYAD_VM__INF64) | (ay == PYAD_VM__INF64), PYAD_VM__INF64, h);
}

PYAD_VM_INLINE float pyad_vm_logaddexp_f32(float x, float y)
{
    return (float)pyad_vm_logaddexp_f64(x, y);
}

PYAD_VM_INLINE float pyad_vm_logaddexp2_f32(float x, float y)
{
    return (float)pyad_vm_logaddexp2_f64(x, y);
}

PYAD_VM_INLINE float pyad_vm_hypot_f32(float x, float y)
{
    double a = x, b = y;
    float h = (float)__builtin_sqrt(a * a + b * b);
    return pyad_vm__sel32((pyad_vm__abs32(x) == PYAD_VM__INF32) |
                          (pyad_vm__abs32(y) == PYAD_VM__INF32), PYAD_VM__INF32, h);
}

#endif /* PYAD_VMATH_H */
