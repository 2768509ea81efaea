"""The closed list of kernels a backend owes.

Ops do their numerical work only through these names, so a backend is one table:
the numpy backend fills in every one, the C backend overrides some of them.
Every kernel takes and returns numpy arrays (or numpy scalars) and never writes
into its inputs, except ``acc`` whose first argument is an engine-owned buffer.
"""

UNARY = (
    "neg", "abs", "exp", "log", "log1p", "expm1", "sqrt", "square",
    "sin", "cos", "tanh", "sigmoid", "relu", "softplus",
)
BINARY = ("add", "sub", "mul", "div", "pow", "maximum", "minimum")
# numpy's ufuncs of the same names; the C kernels are within a few ulp of them, not bitwise.
BINARY_MATH = ("logaddexp", "logaddexp2", "hypot")
# Fused backward formulas: one pass instead of a chain of temporaries.
GRAD = ("tanh_grad", "sigmoid_grad", "square_grad", "relu_grad")
REDUCE = ("sum", "vdot", "max", "min")
OTHER = ("matmul", "where", "clip", "acc", "acc_op")

KERNELS = UNARY + BINARY + BINARY_MATH + GRAD + REDUCE + OTHER
