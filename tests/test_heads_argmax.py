"""The softmax head's accuracy reads `heads.first_max`, two plain reductions in place of
argmax's one two-operand reduction (faster on XLA:CPU); it must be argmax exactly."""

import jax.numpy as jnp
import numpy as np

from statecarry.core import heads

NAN, INF = np.nan, np.inf


def test_first_max_is_argmax_on_ties_nans_signed_zeros_and_infinities():
    rows = np.array(
        [
            [0.0, 0.0, 0.0, 0.0],  # all tied: the first
            [1.0, 3.0, 3.0, 2.0],  # a tie past the first place
            [-0.0, 0.0, -1.0, -0.0],  # signed zeros are equal
            [NAN, 5.0, NAN, 1.0],  # a NaN wins, the first one
            [1.0, 2.0, NAN, 9.0],
            [-INF, -INF, -INF, -INF],
            [INF, 1.0, INF, NAN],
            [-3.0, -2.0, -1.0, -7.0],
        ],
        np.float32,
    )
    rng = np.random.default_rng(0)
    drawn = rng.integers(-2, 3, size=(64, 4)).astype(np.float32)  # many ties
    for x in (rows, drawn, rng.standard_normal((3, 5, 11)).astype(np.float32)):
        np.testing.assert_array_equal(np.asarray(heads.first_max(jnp.asarray(x))), np.asarray(jnp.argmax(x, axis=-1)))
