/* pyad.h: the C API of pyautodiff's core. This file is also cffi's cdef, so it
 * holds prototypes only: no preprocessor directives.
 *
 * Contract, for every function below:
 * - <dt> is f32 (float) or f64 (double); every array argument has that type.
 * - Arrays are contiguous, hold at least the stated number of elements, and the
 *   output (or dst) never overlaps an input (so pointers are restrict): the Python side
 *   checks all of this before calling, and kernels check nothing.
 * - Kernels allocate nothing, keep no state, do no I/O and cannot fail. They
 *   may run on several threads (threads.c); cffi releases the GIL around each call.
 * - Results match numpy's elementwise ufuncs: NaN, inf and -0.0 propagate as
 *   numpy's do; transcendentals are within 2 ulp of the correctly rounded value.
 *
 * Families:
 *   pyad_<op>_<dt>(n, out, x)               out[i] = op(x[i])
 *   pyad_<op>_<dt>(n, out, x, y)            out[i] = x[i] op y[i]
 *   pyad_<op>_scalar_<dt>(n, out, x, s)     out[i] = x[i] op s
 *   pyad_<op>_rscalar_<dt>(n, out, s, y)    out[i] = s op y[i]
 *   pyad_<op>_row_<dt>(rows, cols, out, x, y)   x is (rows, cols), y is (cols,)
 *   pyad_<op>_rrow_<dt>(rows, cols, out, x, y)  x is (cols,), y is (rows, cols)
 *   pyad_<op>_acc_<dt>(n, dst, x, y)        dst[i] += x[i] op y[i]
 *   pyad_<op>_acc_scalar_<dt>(n, dst, x, s) dst[i] += x[i] op s
 *   pyad_acc_<dt>(n, dst, src)              dst[i] += src[i]
 *   pyad_acc_rows_<dt>(rows, cols, dst, src)    dst[j] += sum_i src[i, j]
 *   pyad_sum_<dt>(n, x)                     the sum of x (pairwise within blocks)
 *   pyad_vdot_<dt>(n, x, y)                 the sum of x[i] * y[i], likewise
 *   pyad_triad_<dt>(n, a, b, c, s)          a[i] = b[i] + s * c[i] (bandwidth probe)
 * The binary <op>s include tanh_grad (x * (1 - y*y)), sigmoid_grad
 * (x * (y * (1 - y))), square_grad (x * (y + y)) and relu_grad (x * (y > 0)):
 * fused backward formulas; and logaddexp, logaddexp2 and hypot (numpy's ufuncs,
 * within a few ulp: see vmath.h), which have no _acc forms.
 */

/* ---- float ---- */
void pyad_neg_f32(size_t n, float *out, const float *x);
void pyad_abs_f32(size_t n, float *out, const float *x);
void pyad_exp_f32(size_t n, float *out, const float *x);
void pyad_log_f32(size_t n, float *out, const float *x);
void pyad_log1p_f32(size_t n, float *out, const float *x);
void pyad_expm1_f32(size_t n, float *out, const float *x);
void pyad_sqrt_f32(size_t n, float *out, const float *x);
void pyad_square_f32(size_t n, float *out, const float *x);
void pyad_sin_f32(size_t n, float *out, const float *x);
void pyad_cos_f32(size_t n, float *out, const float *x);
void pyad_tanh_f32(size_t n, float *out, const float *x);
void pyad_sigmoid_f32(size_t n, float *out, const float *x);
void pyad_relu_f32(size_t n, float *out, const float *x);
void pyad_softplus_f32(size_t n, float *out, const float *x);
void pyad_add_f32(size_t n, float *out, const float *x, const float *y);
void pyad_add_scalar_f32(size_t n, float *out, const float *x, float s);
void pyad_add_rscalar_f32(size_t n, float *out, float s, const float *y);
void pyad_add_row_f32(size_t rows, size_t cols, float *out, const float *x, const float *y);
void pyad_add_rrow_f32(size_t rows, size_t cols, float *out, const float *x, const float *y);
void pyad_add_acc_f32(size_t n, float *dst, const float *x, const float *y);
void pyad_add_acc_scalar_f32(size_t n, float *dst, const float *x, float s);
void pyad_sub_f32(size_t n, float *out, const float *x, const float *y);
void pyad_sub_scalar_f32(size_t n, float *out, const float *x, float s);
void pyad_sub_rscalar_f32(size_t n, float *out, float s, const float *y);
void pyad_sub_row_f32(size_t rows, size_t cols, float *out, const float *x, const float *y);
void pyad_sub_rrow_f32(size_t rows, size_t cols, float *out, const float *x, const float *y);
void pyad_sub_acc_f32(size_t n, float *dst, const float *x, const float *y);
void pyad_sub_acc_scalar_f32(size_t n, float *dst, const float *x, float s);
void pyad_mul_f32(size_t n, float *out, const float *x, const float *y);
void pyad_mul_scalar_f32(size_t n, float *out, const float *x, float s);
void pyad_mul_rscalar_f32(size_t n, float *out, float s, const float *y);
void pyad_mul_row_f32(size_t rows, size_t cols, float *out, const float *x, const float *y);
void pyad_mul_rrow_f32(size_t rows, size_t cols, float *out, const float *x, const float *y);
void pyad_mul_acc_f32(size_t n, float *dst, const float *x, const float *y);
void pyad_mul_acc_scalar_f32(size_t n, float *dst, const float *x, float s);
void pyad_div_f32(size_t n, float *out, const float *x, const float *y);
void pyad_div_scalar_f32(size_t n, float *out, const float *x, float s);
void pyad_div_rscalar_f32(size_t n, float *out, float s, const float *y);
void pyad_div_row_f32(size_t rows, size_t cols, float *out, const float *x, const float *y);
void pyad_div_rrow_f32(size_t rows, size_t cols, float *out, const float *x, const float *y);
void pyad_div_acc_f32(size_t n, float *dst, const float *x, const float *y);
void pyad_div_acc_scalar_f32(size_t n, float *dst, const float *x, float s);
void pyad_maximum_f32(size_t n, float *out, const float *x, const float *y);
void pyad_maximum_scalar_f32(size_t n, float *out, const float *x, float s);
void pyad_maximum_rscalar_f32(size_t n, float *out, float s, const float *y);
void pyad_maximum_row_f32(size_t rows, size_t cols, float *out, const float *x, const float *y);
void pyad_maximum_rrow_f32(size_t rows, size_t cols, float *out, const float *x, const float *y);
void pyad_maximum_acc_f32(size_t n, float *dst, const float *x, const float *y);
void pyad_maximum_acc_scalar_f32(size_t n, float *dst, const float *x, float s);
void pyad_minimum_f32(size_t n, float *out, const float *x, const float *y);
void pyad_minimum_scalar_f32(size_t n, float *out, const float *x, float s);
void pyad_minimum_rscalar_f32(size_t n, float *out, float s, const float *y);
void pyad_minimum_row_f32(size_t rows, size_t cols, float *out, const float *x, const float *y);
void pyad_minimum_rrow_f32(size_t rows, size_t cols, float *out, const float *x, const float *y);
void pyad_minimum_acc_f32(size_t n, float *dst, const float *x, const float *y);
void pyad_minimum_acc_scalar_f32(size_t n, float *dst, const float *x, float s);
void pyad_tanh_grad_f32(size_t n, float *out, const float *x, const float *y);
void pyad_tanh_grad_scalar_f32(size_t n, float *out, const float *x, float s);
void pyad_tanh_grad_rscalar_f32(size_t n, float *out, float s, const float *y);
void pyad_tanh_grad_row_f32(size_t rows, size_t cols, float *out, const float *x, const float *y);
void pyad_tanh_grad_rrow_f32(size_t rows, size_t cols, float *out, const float *x, const float *y);
void pyad_tanh_grad_acc_f32(size_t n, float *dst, const float *x, const float *y);
void pyad_tanh_grad_acc_scalar_f32(size_t n, float *dst, const float *x, float s);
void pyad_sigmoid_grad_f32(size_t n, float *out, const float *x, const float *y);
void pyad_sigmoid_grad_scalar_f32(size_t n, float *out, const float *x, float s);
void pyad_sigmoid_grad_rscalar_f32(size_t n, float *out, float s, const float *y);
void pyad_sigmoid_grad_row_f32(size_t rows, size_t cols, float *out, const float *x, const float *y);
void pyad_sigmoid_grad_rrow_f32(size_t rows, size_t cols, float *out, const float *x, const float *y);
void pyad_sigmoid_grad_acc_f32(size_t n, float *dst, const float *x, const float *y);
void pyad_sigmoid_grad_acc_scalar_f32(size_t n, float *dst, const float *x, float s);
void pyad_square_grad_f32(size_t n, float *out, const float *x, const float *y);
void pyad_square_grad_scalar_f32(size_t n, float *out, const float *x, float s);
void pyad_square_grad_rscalar_f32(size_t n, float *out, float s, const float *y);
void pyad_square_grad_row_f32(size_t rows, size_t cols, float *out, const float *x, const float *y);
void pyad_square_grad_rrow_f32(size_t rows, size_t cols, float *out, const float *x, const float *y);
void pyad_square_grad_acc_f32(size_t n, float *dst, const float *x, const float *y);
void pyad_square_grad_acc_scalar_f32(size_t n, float *dst, const float *x, float s);
void pyad_relu_grad_f32(size_t n, float *out, const float *x, const float *y);
void pyad_relu_grad_scalar_f32(size_t n, float *out, const float *x, float s);
void pyad_relu_grad_rscalar_f32(size_t n, float *out, float s, const float *y);
void pyad_relu_grad_row_f32(size_t rows, size_t cols, float *out, const float *x, const float *y);
void pyad_relu_grad_rrow_f32(size_t rows, size_t cols, float *out, const float *x, const float *y);
void pyad_relu_grad_acc_f32(size_t n, float *dst, const float *x, const float *y);
void pyad_relu_grad_acc_scalar_f32(size_t n, float *dst, const float *x, float s);
void pyad_logaddexp_f32(size_t n, float *out, const float *x, const float *y);
void pyad_logaddexp_scalar_f32(size_t n, float *out, const float *x, float s);
void pyad_logaddexp_rscalar_f32(size_t n, float *out, float s, const float *y);
void pyad_logaddexp_row_f32(size_t rows, size_t cols, float *out, const float *x, const float *y);
void pyad_logaddexp_rrow_f32(size_t rows, size_t cols, float *out, const float *x, const float *y);
void pyad_logaddexp2_f32(size_t n, float *out, const float *x, const float *y);
void pyad_logaddexp2_scalar_f32(size_t n, float *out, const float *x, float s);
void pyad_logaddexp2_rscalar_f32(size_t n, float *out, float s, const float *y);
void pyad_logaddexp2_row_f32(size_t rows, size_t cols, float *out, const float *x, const float *y);
void pyad_logaddexp2_rrow_f32(size_t rows, size_t cols, float *out, const float *x, const float *y);
void pyad_hypot_f32(size_t n, float *out, const float *x, const float *y);
void pyad_hypot_scalar_f32(size_t n, float *out, const float *x, float s);
void pyad_hypot_rscalar_f32(size_t n, float *out, float s, const float *y);
void pyad_hypot_row_f32(size_t rows, size_t cols, float *out, const float *x, const float *y);
void pyad_hypot_rrow_f32(size_t rows, size_t cols, float *out, const float *x, const float *y);
void pyad_acc_f32(size_t n, float *dst, const float *src);
void pyad_acc_rows_f32(size_t rows, size_t cols, float *dst, const float *src);
double pyad_sum_f32(size_t n, const float *x);
double pyad_vdot_f32(size_t n, const float *x, const float *y);
void pyad_triad_f32(size_t n, float *a, const float *b, const float *c, float s);

/* ---- double ---- */
void pyad_neg_f64(size_t n, double *out, const double *x);
void pyad_abs_f64(size_t n, double *out, const double *x);
void pyad_exp_f64(size_t n, double *out, const double *x);
void pyad_log_f64(size_t n, double *out, const double *x);
void pyad_log1p_f64(size_t n, double *out, const double *x);
void pyad_expm1_f64(size_t n, double *out, const double *x);
void pyad_sqrt_f64(size_t n, double *out, const double *x);
void pyad_square_f64(size_t n, double *out, const double *x);
void pyad_sin_f64(size_t n, double *out, const double *x);
void pyad_cos_f64(size_t n, double *out, const double *x);
void pyad_tanh_f64(size_t n, double *out, const double *x);
void pyad_sigmoid_f64(size_t n, double *out, const double *x);
void pyad_relu_f64(size_t n, double *out, const double *x);
void pyad_softplus_f64(size_t n, double *out, const double *x);
void pyad_add_f64(size_t n, double *out, const double *x, const double *y);
void pyad_add_scalar_f64(size_t n, double *out, const double *x, double s);
void pyad_add_rscalar_f64(size_t n, double *out, double s, const double *y);
void pyad_add_row_f64(size_t rows, size_t cols, double *out, const double *x, const double *y);
void pyad_add_rrow_f64(size_t rows, size_t cols, double *out, const double *x, const double *y);
void pyad_add_acc_f64(size_t n, double *dst, const double *x, const double *y);
void pyad_add_acc_scalar_f64(size_t n, double *dst, const double *x, double s);
void pyad_sub_f64(size_t n, double *out, const double *x, const double *y);
void pyad_sub_scalar_f64(size_t n, double *out, const double *x, double s);
void pyad_sub_rscalar_f64(size_t n, double *out, double s, const double *y);
void pyad_sub_row_f64(size_t rows, size_t cols, double *out, const double *x, const double *y);
void pyad_sub_rrow_f64(size_t rows, size_t cols, double *out, const double *x, const double *y);
void pyad_sub_acc_f64(size_t n, double *dst, const double *x, const double *y);
void pyad_sub_acc_scalar_f64(size_t n, double *dst, const double *x, double s);
void pyad_mul_f64(size_t n, double *out, const double *x, const double *y);
void pyad_mul_scalar_f64(size_t n, double *out, const double *x, double s);
void pyad_mul_rscalar_f64(size_t n, double *out, double s, const double *y);
void pyad_mul_row_f64(size_t rows, size_t cols, double *out, const double *x, const double *y);
void pyad_mul_rrow_f64(size_t rows, size_t cols, double *out, const double *x, const double *y);
void pyad_mul_acc_f64(size_t n, double *dst, const double *x, const double *y);
void pyad_mul_acc_scalar_f64(size_t n, double *dst, const double *x, double s);
void pyad_div_f64(size_t n, double *out, const double *x, const double *y);
void pyad_div_scalar_f64(size_t n, double *out, const double *x, double s);
void pyad_div_rscalar_f64(size_t n, double *out, double s, const double *y);
void pyad_div_row_f64(size_t rows, size_t cols, double *out, const double *x, const double *y);
void pyad_div_rrow_f64(size_t rows, size_t cols, double *out, const double *x, const double *y);
void pyad_div_acc_f64(size_t n, double *dst, const double *x, const double *y);
void pyad_div_acc_scalar_f64(size_t n, double *dst, const double *x, double s);
void pyad_maximum_f64(size_t n, double *out, const double *x, const double *y);
void pyad_maximum_scalar_f64(size_t n, double *out, const double *x, double s);
void pyad_maximum_rscalar_f64(size_t n, double *out, double s, const double *y);
void pyad_maximum_row_f64(size_t rows, size_t cols, double *out, const double *x, const double *y);
void pyad_maximum_rrow_f64(size_t rows, size_t cols, double *out, const double *x, const double *y);
void pyad_maximum_acc_f64(size_t n, double *dst, const double *x, const double *y);
void pyad_maximum_acc_scalar_f64(size_t n, double *dst, const double *x, double s);
void pyad_minimum_f64(size_t n, double *out, const double *x, const double *y);
void pyad_minimum_scalar_f64(size_t n, double *out, const double *x, double s);
void pyad_minimum_rscalar_f64(size_t n, double *out, double s, const double *y);
void pyad_minimum_row_f64(size_t rows, size_t cols, double *out, const double *x, const double *y);
void pyad_minimum_rrow_f64(size_t rows, size_t cols, double *out, const double *x, const double *y);
void pyad_minimum_acc_f64(size_t n, double *dst, const double *x, const double *y);
void pyad_minimum_acc_scalar_f64(size_t n, double *dst, const double *x, double s);
void pyad_tanh_grad_f64(size_t n, double *out, const double *x, const double *y);
void pyad_tanh_grad_scalar_f64(size_t n, double *out, const double *x, double s);
void pyad_tanh_grad_rscalar_f64(size_t n, double *out, double s, const double *y);
void pyad_tanh_grad_row_f64(size_t rows, size_t cols, double *out, const double *x, const double *y);
void pyad_tanh_grad_rrow_f64(size_t rows, size_t cols, double *out, const double *x, const double *y);
void pyad_tanh_grad_acc_f64(size_t n, double *dst, const double *x, const double *y);
void pyad_tanh_grad_acc_scalar_f64(size_t n, double *dst, const double *x, double s);
void pyad_sigmoid_grad_f64(size_t n, double *out, const double *x, const double *y);
void pyad_sigmoid_grad_scalar_f64(size_t n, double *out, const double *x, double s);
void pyad_sigmoid_grad_rscalar_f64(size_t n, double *out, double s, const double *y);
void pyad_sigmoid_grad_row_f64(size_t rows, size_t cols, double *out, const double *x, const double *y);
void pyad_sigmoid_grad_rrow_f64(size_t rows, size_t cols, double *out, const double *x, const double *y);
void pyad_sigmoid_grad_acc_f64(size_t n, double *dst, const double *x, const double *y);
void pyad_sigmoid_grad_acc_scalar_f64(size_t n, double *dst, const double *x, double s);
void pyad_square_grad_f64(size_t n, double *out, const double *x, const double *y);
void pyad_square_grad_scalar_f64(size_t n, double *out, const double *x, double s);
void pyad_square_grad_rscalar_f64(size_t n, double *out, double s, const double *y);
void pyad_square_grad_row_f64(size_t rows, size_t cols, double *out, const double *x, const double *y);
void pyad_square_grad_rrow_f64(size_t rows, size_t cols, double *out, const double *x, const double *y);
void pyad_square_grad_acc_f64(size_t n, double *dst, const double *x, const double *y);
void pyad_square_grad_acc_scalar_f64(size_t n, double *dst, const double *x, double s);
void pyad_relu_grad_f64(size_t n, double *out, const double *x, const double *y);
void pyad_relu_grad_scalar_f64(size_t n, double *out, const double *x, double s);
void pyad_relu_grad_rscalar_f64(size_t n, double *out, double s, const double *y);
void pyad_relu_grad_row_f64(size_t rows, size_t cols, double *out, const double *x, const double *y);
void pyad_relu_grad_rrow_f64(size_t rows, size_t cols, double *out, const double *x, const double *y);
void pyad_relu_grad_acc_f64(size_t n, double *dst, const double *x, const double *y);
void pyad_relu_grad_acc_scalar_f64(size_t n, double *dst, const double *x, double s);
void pyad_logaddexp_f64(size_t n, double *out, const double *x, const double *y);
void pyad_logaddexp_scalar_f64(size_t n, double *out, const double *x, double s);
void pyad_logaddexp_rscalar_f64(size_t n, double *out, double s, const double *y);
void pyad_logaddexp_row_f64(size_t rows, size_t cols, double *out, const double *x, const double *y);
void pyad_logaddexp_rrow_f64(size_t rows, size_t cols, double *out, const double *x, const double *y);
void pyad_logaddexp2_f64(size_t n, double *out, const double *x, const double *y);
void pyad_logaddexp2_scalar_f64(size_t n, double *out, const double *x, double s);
void pyad_logaddexp2_rscalar_f64(size_t n, double *out, double s, const double *y);
void pyad_logaddexp2_row_f64(size_t rows, size_t cols, double *out, const double *x, const double *y);
void pyad_logaddexp2_rrow_f64(size_t rows, size_t cols, double *out, const double *x, const double *y);
void pyad_hypot_f64(size_t n, double *out, const double *x, const double *y);
void pyad_hypot_scalar_f64(size_t n, double *out, const double *x, double s);
void pyad_hypot_rscalar_f64(size_t n, double *out, double s, const double *y);
void pyad_hypot_row_f64(size_t rows, size_t cols, double *out, const double *x, const double *y);
void pyad_hypot_rrow_f64(size_t rows, size_t cols, double *out, const double *x, const double *y);
void pyad_acc_f64(size_t n, double *dst, const double *src);
void pyad_acc_rows_f64(size_t rows, size_t cols, double *dst, const double *src);
double pyad_sum_f64(size_t n, const double *x);
double pyad_vdot_f64(size_t n, const double *x, const double *y);
void pyad_triad_f64(size_t n, double *a, const double *b, const double *c, double s);

/* Fused programs (fuse.c): one pass over n elements runs several elementwise
 * formulas, block by block in registers that stay in L1, so the intermediate
 * arrays of a backward pass are never written to memory.
 *   pyad_fuse_<dt>(n, prog, nins, arrays, scalars, sums)
 * runs the nins instructions of prog on each block and writes the
 * PYAD_FUSE_SUMS totals to sums. Each field of an instruction is an index of the
 * kind its op names, and in range: the Python side checks every program before it
 * is run (fused._compile), and the C side reads a field only as that kind.
 *   LOAD   register dst <- array a          FILL  register dst <- (T)scalars[a]
 *   STORE  array dst <- register a          SUM   sums[dst] += the sum of register a
 *   any other op: register dst <- op(register a) or op(register a, register b)
 * Registers are 0 <= r < PYAD_FUSE_REGS, sums 0 <= s < PYAD_FUSE_SUMS; arrays
 * and scalars are indices into `arrays` (each n elements of T) and `scalars`.
 * The b of LOAD, FILL, STORE and SUM is not read; a unary op's b is a register
 * all the same (Python passes its a).
 * The unary ops and the binary ops are those of the unary and binary kernels,
 * with the same rounding. An op's dst is neither its a nor its b; a STORE's
 * array is not read by any later LOAD. */
typedef struct { int op; int dst; int a; int b; } pyad_ins;
enum {
    PYAD_FUSE_REGS = 16, PYAD_FUSE_SUMS = 8,
    PYAD_FUSE_LOAD = 0, PYAD_FUSE_FILL = 1, PYAD_FUSE_STORE = 2, PYAD_FUSE_SUM = 3,
    PYAD_FUSE_neg = 4, PYAD_FUSE_add = 5, PYAD_FUSE_sub = 6, PYAD_FUSE_mul = 7,
    PYAD_FUSE_div = 8, PYAD_FUSE_maximum = 9, PYAD_FUSE_minimum = 10,
    PYAD_FUSE_tanh_grad = 11, PYAD_FUSE_sigmoid_grad = 12, PYAD_FUSE_square_grad = 13,
    PYAD_FUSE_relu_grad = 14, PYAD_FUSE_abs = 15, PYAD_FUSE_exp = 16, PYAD_FUSE_log = 17,
    PYAD_FUSE_log1p = 18, PYAD_FUSE_expm1 = 19, PYAD_FUSE_sqrt = 20, PYAD_FUSE_square = 21,
    PYAD_FUSE_tanh = 22, PYAD_FUSE_sigmoid = 23, PYAD_FUSE_relu = 24, PYAD_FUSE_softplus = 25
};
void pyad_fuse_f32(size_t n, const pyad_ins *prog, size_t nins, void *const *arrays,
                   const double *scalars, double *sums);
void pyad_fuse_f64(size_t n, const pyad_ins *prog, size_t nins, void *const *arrays,
                   const double *scalars, double *sums);

/* Optimizer steps (optim.c), in place on a parameter p of n elements, its
 * gradient g and its state, all distinct arrays (the Python side checks):
 *   pyad_sgd_<dt>(n, p, buf, g, lr, weight_decay, momentum, keep, flags)
 *     g' = g + weight_decay * p                      if flags & PYAD_SGD_DECAY
 *     buf = g' on the first step (PYAD_SGD_FIRST), else buf * momentum + keep * g'
 *                                                    if flags & PYAD_SGD_MOMENTUM
 *                                                    (keep = 1 - dampening; buf
 *                                                    may be NULL without momentum)
 *     d = g' + momentum * buf with PYAD_SGD_NESTEROV, else buf (or g' alone)
 *     p = p - lr * d
 *   pyad_adam_<dt>(n, p, exp_avg, exp_avg_sq, g, step_size, decay, lerp_coef,
 *                  beta2, one_minus_beta2, bias_correction2_sqrt, eps, flags)
 *     p = p * decay                 if flags & PYAD_ADAM_DECOUPLED (AdamW's 1 - lr * wd)
 *     g' = g + decay * p            if flags & PYAD_ADAM_L2 (Adam's weight_decay)
 *     exp_avg = exp_avg + lerp_coef * (g' - exp_avg)   with PYAD_ADAM_LERP_SMALL,
 *             else g' + lerp_coef * (g' - exp_avg)     (torch's lerp: lerp_coef is
 *                                                      w, or -(1 - w) for w >= 0.5)
 *     exp_avg_sq = exp_avg_sq * beta2 + (one_minus_beta2 * g') * g'
 *     p = p - (step_size * exp_avg) / (sqrt(exp_avg_sq) / bias_correction2_sqrt + eps)
 * Each operation rounds on its own in <dt>, in this order, as numpy's do. */
enum {
    PYAD_SGD_DECAY = 1, PYAD_SGD_MOMENTUM = 2, PYAD_SGD_FIRST = 4, PYAD_SGD_NESTEROV = 8,
    PYAD_ADAM_L2 = 1, PYAD_ADAM_DECOUPLED = 2, PYAD_ADAM_LERP_SMALL = 4
};
void pyad_sgd_f32(size_t n, float *p, float *buf, const float *g, float lr,
                  float weight_decay, float momentum, float keep, int flags);
void pyad_sgd_f64(size_t n, double *p, double *buf, const double *g, double lr,
                  double weight_decay, double momentum, double keep, int flags);
void pyad_adam_f32(size_t n, float *p, float *exp_avg, float *exp_avg_sq, const float *g,
                   float step_size, float decay, float lerp_coef, float beta2,
                   float one_minus_beta2, float bias_correction2_sqrt, float eps, int flags);
void pyad_adam_f64(size_t n, double *p, double *exp_avg, double *exp_avg_sq, const double *g,
                   double step_size, double decay, double lerp_coef, double beta2,
                   double one_minus_beta2, double bias_correction2_sqrt, double eps, int flags);

/* Buffers: 64-byte aligned (page-aligned outside ASan builds) and zero-filled;
 * pyad_alloc returns NULL when out of memory, pyad_free takes the size
 * pyad_alloc was given. The only functions here that allocate. */
void *pyad_alloc(size_t nbytes);
void pyad_free(void *p, size_t nbytes);
