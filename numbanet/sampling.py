"""``numbanet.multinomial``: drawing category indices from rows of weights."""

from __future__ import annotations

import numpy as np

from numbanet import creation
from numbanet.errors import op_error
from numbanet.random import numpy_generator
from numbanet.tensor import Tensor


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *,  # noqa: A002
                generator=None) -> Tensor:
    """Indices drawn from each row of ``input``, category i with probability
    input[i] / sum(input) (the weights need not sum to 1): ``num_samples`` per row, each
    category at most once unless ``replacement``. int64, shape ``(num_samples,)`` for a
    vector, ``(rows, num_samples)`` for a matrix.

    The draws come from numbanet's generator, so ``numbanet.manual_seed(s)`` makes them
    reproducible; they cannot be PyTorch's own sequence for the same seed (a different
    random number generator), only the same distribution.

    Gradient: none (indices are integers).
    """
    if input.dim() not in (1, 2):
        raise op_error(RuntimeError, "multinomial", "prob_dist must be 1 or 2 dim")
    if not input.is_floating_point():
        raise op_error(RuntimeError, "multinomial", "multinomial only supports floating-point "
                       "dtypes for input")
    if num_samples <= 0:
        raise op_error(RuntimeError, "multinomial", "cannot sample n_sample <= 0 samples")
    categories = input.shape[-1]
    if not replacement and num_samples > categories:
        raise op_error(RuntimeError, "multinomial", "cannot sample n_sample > "
                       "prob_dist.size(-1) samples without replacement")
    weights = np.atleast_2d(creation.host_array(input).astype(np.float64))
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise op_error(RuntimeError, "multinomial", "probability tensor contains either "
                       "`inf`, `nan` or element < 0")
    totals = weights.sum(axis=1)
    if (totals <= 0).any():
        raise op_error(RuntimeError, "multinomial", "invalid multinomial distribution (sum of "
                       "probabilities <= 0)")
    if not replacement and ((weights > 0).sum(axis=1) < num_samples).any():
        raise op_error(RuntimeError, "multinomial", "invalid multinomial distribution (with "
                       "replacement=False, not enough non-negative category to sample)")
    rng = numpy_generator(generator)
    rows = [rng.choice(categories, size=num_samples, replace=replacement, p=row / total)
            for row, total in zip(weights, totals, strict=True)]
    drawn = np.array(rows, dtype=np.int64).reshape(weights.shape[0], num_samples)
    if input.dim() == 1:
        drawn = drawn[0]
    return creation.tensor(drawn, device=input.device)
