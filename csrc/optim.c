/* Optimizer updates (see pyad.h): each parameter's SGD or Adam(W) step in one
 * pass, in place, for float32 and float64.
 *
 * Every loop computes the operations of the numpy formula in pyautodiff/optim.py
 * (itself PyTorch's single-tensor formula), in the same order and in the
 * parameter's dtype, so the two paths agree to the bit: each * / + - rounds on
 * its own (no FMA contraction, pinned off below whatever the flags say), sqrt
 * and / are IEEE's correctly rounded operations, nothing is reassociated (no
 * -ffast-math), and the scalars arrive already computed by Python, as numpy
 * receives them. */
#include "pyad_defs.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/* Elements from which a kernel splits its range across threads. SGD only moves
 * memory (3 to 5 streams), like the binary kernels. Adam also divides twice and
 * takes a square root per element, about 1.2 ns per float64 element on one thread,
 * which is what a transcendental costs: measured on two cores, a second thread
 * breaks even at 16384 elements and is 1.4x faster at 32768, nearly 2x at 10^6. */
#define PYAD_SGD_PAR_MIN PYAD_PAR_MIN
#define PYAD_ADAM_PAR_MIN PYAD_PAR_MIN_HEAVY

/* One kernel call's arguments, handed to the parts run on other threads. */
typedef struct {
    void *p;       /* the parameter */
    void *m;       /* SGD's momentum buffer, or Adam's exp_avg */
    void *v;       /* Adam's exp_avg_sq */
    const void *g; /* the gradient */
    double s[8];   /* the scalars, in each kernel's order below */
    int flags;
} pyad_optim_args;

/* always_inline with constant flags: each variant below is its own loop, with no
 * branch left inside it. */
#define PYAD_INLINE static inline __attribute__((always_inline))

/* SGD, as torch.optim.SGD: g = g + wd * p; buf = buf * momentum + keep * g (buf = g
 * on the first step); d = g + momentum * buf with Nesterov, else buf; p = p - lr * d. */
#define SGD_BODY                                                                \
    PYAD_INLINE void LOOP(sgd_body)(size_t n, T *restrict p, T *restrict buf,   \
                                    const T *restrict g, T lr, T wd, T mom, T keep, \
                                    const int decay, const int momentum,        \
                                    const int first, const int nesterov) {      \
        for (size_t i = 0; i < n; i++) {                                        \
            const T pi = p[i];                                                  \
            T gi = g[i];                                                        \
            if (decay)                                                          \
                gi = gi + wd * pi;                                              \
            T d = gi;                                                           \
            if (momentum) {                                                     \
                const T b = first ? gi : buf[i] * mom + keep * gi;              \
                buf[i] = b;                                                     \
                d = nesterov ? gi + mom * b : b;                                \
            }                                                                   \
            p[i] = pi - lr * d;                                                 \
        }                                                                       \
    }

/* One cloned loop per combination of flags (decay x {no momentum, first, later,
 * first Nesterov, later Nesterov}). */
#define SGD_VARIANT(tag, decay, momentum, first, nesterov)                      \
    PYAD_CLONES static void LOOP(sgd_##tag)(size_t n, T *restrict p, T *restrict buf, \
                                            const T *restrict g, T lr, T wd, T mom, \
                                            T keep) {                           \
        LOOP(sgd_body)(n, p, buf, g, lr, wd, mom, keep, decay, momentum, first, nesterov); \
    }

#define SGD                                                                     \
    SGD_BODY                                                                    \
    SGD_VARIANT(plain, 0, 0, 0, 0)                                              \
    SGD_VARIANT(first, 0, 1, 1, 0)                                              \
    SGD_VARIANT(later, 0, 1, 0, 0)                                              \
    SGD_VARIANT(first_nesterov, 0, 1, 1, 1)                                     \
    SGD_VARIANT(later_nesterov, 0, 1, 0, 1)                                     \
    SGD_VARIANT(plain_wd, 1, 0, 0, 0)                                           \
    SGD_VARIANT(first_wd, 1, 1, 1, 0)                                           \
    SGD_VARIANT(later_wd, 1, 1, 0, 0)                                           \
    SGD_VARIANT(first_nesterov_wd, 1, 1, 1, 1)                                  \
    SGD_VARIANT(later_nesterov_wd, 1, 1, 0, 1)                                  \
    static void TASK(sgd)(const pyad_ctx *c, size_t part, size_t start, size_t len) { \
        (void)part;                                                             \
        const pyad_optim_args *a = c->args;                                     \
        T *p = (T *)a->p + start;                                               \
        /* no momentum: no buffer (possibly NULL), never read nor written */    \
        T *buf = a->m ? (T *)a->m + start : NULL;                               \
        const T *g = (const T *)a->g + start;                                   \
        const T lr = (T)a->s[0], wd = (T)a->s[1], mom = (T)a->s[2], keep = (T)a->s[3]; \
        const int f = a->flags;                                                 \
        const int decay = (f & PYAD_SGD_DECAY) != 0;                            \
        void (*loop)(size_t, T *restrict, T *restrict, const T *restrict, T, T, T, T); \
        if (!(f & PYAD_SGD_MOMENTUM))                                           \
            loop = decay ? LOOP(sgd_plain_wd) : LOOP(sgd_plain);                \
        else if (f & PYAD_SGD_NESTEROV)                                         \
            loop = (f & PYAD_SGD_FIRST)                                         \
                       ? (decay ? LOOP(sgd_first_nesterov_wd) : LOOP(sgd_first_nesterov)) \
                       : (decay ? LOOP(sgd_later_nesterov_wd) : LOOP(sgd_later_nesterov)); \
        else                                                                    \
            loop = (f & PYAD_SGD_FIRST) ? (decay ? LOOP(sgd_first_wd) : LOOP(sgd_first)) \
                                        : (decay ? LOOP(sgd_later_wd) : LOOP(sgd_later)); \
        loop(len, p, buf, g, lr, wd, mom, keep);                                \
    }                                                                           \
    void K(sgd)(size_t n, T *restrict p, T *restrict buf, const T *restrict g, T lr, \
                T weight_decay, T momentum, T keep, int flags) {                \
        const pyad_optim_args a = {.p = p, .m = buf, .g = g, .flags = flags,    \
                                   .s = {lr, weight_decay, momentum, keep}};    \
        const pyad_ctx c = {.args = &a};                                        \
        pyad_run(n, PYAD_GRAIN(PYAD_SGD_PAR_MIN), n >= PYAD_SGD_PAR_MIN, TASK(sgd), &c); \
    }

/* Adam, as torch.optim.Adam / AdamW (single-tensor path):
 *   p = p * decay                        (AdamW: decay = 1 - lr * weight_decay)
 *   g = g + wd * p                       (Adam with L2 weight decay)
 *   m = m.lerp(g, w)                     base + c * (g - m): base m and c = w when
 *                                        w < 0.5, else base g and c = -(1 - w)
 *   v = v * beta2 + ((1 - beta2) * g) * g
 *   p = p - (step_size * m) / (sqrt(v) / bc2_sqrt + eps) */
#define ADAM_BODY                                                               \
    PYAD_INLINE void LOOP(adam_body)(size_t n, T *restrict p, T *restrict m,    \
                                     T *restrict v, const T *restrict g,        \
                                     const T *s, const int mode, const int small) { \
        const T step_size = s[0], decay = s[1], c = s[2], beta2 = s[3];         \
        const T omb2 = s[4], bc2_sqrt = s[5], eps = s[6];                       \
        for (size_t i = 0; i < n; i++) {                                        \
            T pi = p[i], gi = g[i];                                             \
            const T mi = m[i];                                                  \
            if (mode == PYAD_ADAM_DECOUPLED)                                    \
                pi = pi * decay;                                                \
            else if (mode == PYAD_ADAM_L2)                                      \
                gi = gi + decay * pi;                                           \
            const T mn = (small ? mi : gi) + c * (gi - mi);                     \
            const T vn = v[i] * beta2 + (omb2 * gi) * gi;                       \
            m[i] = mn;                                                          \
            v[i] = vn;                                                          \
            p[i] = pi - (step_size * mn) / (M(sqrt)(vn) / bc2_sqrt + eps);      \
        }                                                                       \
    }

#define ADAM_VARIANT(tag, mode, small)                                          \
    PYAD_CLONES static void LOOP(adam_##tag)(size_t n, T *restrict p, T *restrict m, \
                                             T *restrict v, const T *restrict g, \
                                             const T *s) {                      \
        LOOP(adam_body)(n, p, m, v, g, s, mode, small);                         \
    }

#define ADAM                                                                    \
    ADAM_BODY                                                                   \
    ADAM_VARIANT(small, 0, 1)                                                   \
    ADAM_VARIANT(large, 0, 0)                                                   \
    ADAM_VARIANT(l2_small, PYAD_ADAM_L2, 1)                                     \
    ADAM_VARIANT(l2_large, PYAD_ADAM_L2, 0)                                     \
    ADAM_VARIANT(decoupled_small, PYAD_ADAM_DECOUPLED, 1)                       \
    ADAM_VARIANT(decoupled_large, PYAD_ADAM_DECOUPLED, 0)                       \
    static void TASK(adam)(const pyad_ctx *c, size_t part, size_t start, size_t len) { \
        (void)part;                                                             \
        const pyad_optim_args *a = c->args;                                     \
        T s[7];                                                                 \
        for (int k = 0; k < 7; k++)                                             \
            s[k] = (T)a->s[k];                                                  \
        T *p = (T *)a->p + start, *m = (T *)a->m + start, *v = (T *)a->v + start; \
        const T *g = (const T *)a->g + start;                                   \
        const int small = (a->flags & PYAD_ADAM_LERP_SMALL) != 0;               \
        if (a->flags & PYAD_ADAM_DECOUPLED)                                     \
            (small ? LOOP(adam_decoupled_small) : LOOP(adam_decoupled_large))(len, p, m, v, g, s); \
        else if (a->flags & PYAD_ADAM_L2)                                       \
            (small ? LOOP(adam_l2_small) : LOOP(adam_l2_large))(len, p, m, v, g, s); \
        else                                                                    \
            (small ? LOOP(adam_small) : LOOP(adam_large))(len, p, m, v, g, s);  \
    }                                                                           \
    void K(adam)(size_t n, T *restrict p, T *restrict exp_avg, T *restrict exp_avg_sq, \
                 const T *restrict g, T step_size, T decay, T lerp_coef, T beta2, \
                 T one_minus_beta2, T bias_correction2_sqrt, T eps, int flags) { \
        const pyad_optim_args a = {                                             \
            .p = p, .m = exp_avg, .v = exp_avg_sq, .g = g, .flags = flags,      \
            .s = {step_size, decay, lerp_coef, beta2, one_minus_beta2,          \
                  bias_correction2_sqrt, eps}};                                 \
        const pyad_ctx c = {.args = &a};                                        \
        pyad_run(n, PYAD_GRAIN(PYAD_ADAM_PAR_MIN), n >= PYAD_ADAM_PAR_MIN, TASK(adam), &c); \
    }

#define T float
#define S f32
SGD
ADAM
#undef T
#undef S

#define T double
#define S f64
SGD
ADAM
#undef T
#undef S
