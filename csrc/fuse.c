/* Fused programs: the elementwise formulas of a pass run together,
 * one block of PYAD_FUSE_BLOCK elements at a time, so only the inputs and the
 * final gradients cross memory (see pyad.h). The Python side (backends/fused.py)
 * builds and checks each program; this file only runs it. */
#include "pyad_defs.h"

/* Elements per block: registers of 64 doubles (16 of them: 8 KiB) stay in L1
 * beside the input streams. Measured on the backward pass of the elementwise
 * benchmark at 10^6: 32 and 64 fastest, 128 1.3x and 256-1024 1.6x slower. */
#define PYAD_FUSE_BLOCK 64

typedef struct {
    const pyad_ins *prog;
    size_t nins;
    void *const *arrays;
    const double *scalars;
} pyad_fuse_args;

/* An op of the binary kernels' list, on registers: the same expression, so the
 * same rounding as the kernel. */
#define FUSE_CASE(name, expr)                                                   \
    case PYAD_FUSE_##name:                                                      \
        for (size_t i = 0; i < m; i++) {                                        \
            const T x = xs[i], y = ys[i];                                       \
            d[i] = (expr);                                                      \
        }                                                                       \
        break;
/* A unary op runs its kernel's own loop on the block: the same code, so the
 * same bits (its polynomials may use FMA, which this file's binary ops may not). */
#define FUSE_UNARY_CASE(name, expr, par)                                        \
    case PYAD_FUSE_##name:                                                      \
        LOOP(name)(m, d, xs);                                                   \
        break;

#define FUSE                                                                    \
    /* Registers hold pointers: a LOAD points into the array, an op writes    \
     * into the register's own buffer. */                                       \
    PYAD_CLONES static void LOOP(fuse_part)(const pyad_fuse_args *f, size_t start, \
                                            size_t len, double *sums) {         \
        T buf[PYAD_FUSE_REGS][PYAD_FUSE_BLOCK] __attribute__((aligned(64)));    \
        const T *reg[PYAD_FUSE_REGS];                                           \
        for (size_t r = 0; r < PYAD_FUSE_REGS; r++)                             \
            reg[r] = buf[r];                                                    \
        for (size_t b = 0; b < len; b += PYAD_FUSE_BLOCK) {                    \
            const size_t at = start + b;                                        \
            const size_t m = len - b < PYAD_FUSE_BLOCK ? len - b : PYAD_FUSE_BLOCK; \
            for (size_t k = 0; k < f->nins; k++) {                              \
                const pyad_ins in = f->prog[k];                                 \
                /* Each field is read as the index the op promises (pyad.h):  \
                 * a LOAD's a and a STORE's dst are arrays, a FILL's a a       \
                 * scalar, a SUM's dst a sum; only the rest are registers. */  \
                switch (in.op) {                                                \
                case PYAD_FUSE_LOAD:                                            \
                    reg[in.dst] = (const T *)f->arrays[in.a] + at;              \
                    continue;                                                   \
                case PYAD_FUSE_FILL: {                                          \
                    const T s = (T)f->scalars[in.a];                            \
                    for (size_t i = 0; i < m; i++)                              \
                        buf[in.dst][i] = s;                                     \
                    reg[in.dst] = buf[in.dst];                                  \
                    continue;                                                   \
                }                                                               \
                case PYAD_FUSE_STORE: {                                         \
                    T *restrict out = (T *)f->arrays[in.dst] + at;              \
                    const T *restrict xs = reg[in.a];                           \
                    for (size_t i = 0; i < m; i++)                              \
                        out[i] = xs[i];                                         \
                    continue;                                                   \
                }                                                               \
                case PYAD_FUSE_SUM: {                                           \
                    /* lanes, as the sum kernel's blocks */                     \
                    const T *restrict xs = reg[in.a];                           \
                    T lane[16] = {0};                                           \
                    size_t i = 0;                                               \
                    for (; i + 16 <= m; i += 16)                                \
                        for (size_t j = 0; j < 16; j++)                         \
                            lane[j] += xs[i + j];                               \
                    T s = 0;                                                    \
                    for (size_t j = 0; j < 16; j++)                             \
                        s += lane[j];                                           \
                    for (; i < m; i++)                                          \
                        s += xs[i];                                             \
                    sums[in.dst] += (double)s;                                  \
                    continue;                                                   \
                }                                                               \
                default:                                                        \
                    break;                                                      \
                }                                                               \
                T *restrict d = buf[in.dst];                                    \
                const T *restrict xs = reg[in.a];                               \
                const T *restrict ys = reg[in.b];                               \
                switch (in.op) {                                                \
                PYAD_UNARY_OPS(FUSE_UNARY_CASE)                                 \
                PYAD_BINARY_OPS(FUSE_CASE)                                      \
                default:                                                        \
                    continue;                                                   \
                }                                                               \
                reg[in.dst] = d;                                                \
            }                                                                   \
        }                                                                       \
    }                                                                           \
    static void TASK(fuse)(const pyad_ctx *c, size_t part, size_t start, size_t len) { \
        LOOP(fuse_part)((const pyad_fuse_args *)c->args, start, len,           \
                        c->partials + part * PYAD_FUSE_SUMS);                   \
    }                                                                           \
    void K(fuse)(size_t n, const pyad_ins *prog, size_t nins, void *const *arrays, \
                 const double *scalars, double *sums) {                         \
        double partials[PYAD_MAX_PARTS * PYAD_FUSE_SUMS] = {0};                 \
        const pyad_fuse_args f = {prog, nins, arrays, scalars};                 \
        const pyad_ctx c = {.partials = partials, .args = &f};                  \
        pyad_run(n, PYAD_GRAIN(PYAD_PAR_MIN_HEAVY), n >= PYAD_PAR_MIN_HEAVY, TASK(fuse), &c); \
        for (size_t j = 0; j < PYAD_FUSE_SUMS; j++) {                           \
            double total = 0;                                                   \
            for (size_t p = 0; p < PYAD_MAX_PARTS; p++)                         \
                total += partials[p * PYAD_FUSE_SUMS + j];                      \
            sums[j] = total;                                                    \
        }                                                                       \
    }

#define T float
#define S f32
FUSE
#undef T
#undef S

#define T double
#define S f64
FUSE
#undef T
#undef S
