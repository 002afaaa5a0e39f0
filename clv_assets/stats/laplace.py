"""Laplace approximation on the Hessian of the log-posterior at its mode.

The posterior is approximated by a normal distribution in the model's unconstrained space
(log of positive parameters, log-odds of probabilities: PyMC's value variables, Jacobians
included), centred at the mode, with covariance the inverse of the negative Hessian
there. Draws are mapped back to the parameters (and deterministics such as BG/NBD's
a and b) by one vectorised call.

Why not ``pymc_extras.fit_laplace``: with its default BFGS optimizer it takes the
covariance from BFGS's running inverse-Hessian approximation, which depends on the
optimizer's path. On a 1M-customer BG/NBD account its sds of a and b were 3x and 17x too
small, and changed when the same rows were shuffled. Here the mode found by L-BFGS-B is
polished by Newton steps, and the Hessian is taken at the polished mode, so neither
depends on the path or the row order.

The Hessian is central differences of the exact (symbolic) gradient, accurate to about
1e-8 relative. PyTensor's symbolic second derivative needs ``trigamma``, which its Numba
backend runs in object mode (20-50 s per evaluation at 100k rows) and its C backend takes
over 200 s to compile; the gradient costs ~0.05 s per evaluation at 100k rows, and
2 x (number of parameters) evaluations give the Hessian.

:class:`LaplaceFunctions` compiles the log-density, its gradient and the map back to the
parameters once; the model's data are shared variables (``pm.Data``), so the same
compiled functions fit another account after ``pm.set_data``.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
from pymc.pytensorf import join_nonshared_inputs
from pytensor.graph.replace import vectorize_graph
from scipy.optimize import minimize

NEWTON_STEPS = 20
# largest Newton step (unconstrained units) at which the mode counts as found: the summed
# gradient's rounding noise (~1e-6 at 100k rows) keeps steps at ~1e-9, far below any sd
NEWTON_TOLERANCE = 1e-7
CHORD_CONTRACTION = 0.25  # a kept Hessian's step must be at most this share of the previous one
RELATIVE_STEP = 1e-5  # finite-difference step of the Hessian, relative to max(1, |x|)


class LaplaceError(RuntimeError):
    """The log-posterior has no proper maximum (its Hessian at the mode is not negative definite)."""


class LaplaceFunctions:
    """The compiled log-posterior, gradient and parameter map of ``model`` on a flat
    vector of its unconstrained values; reads the model's shared data when called.

    ``jacobian=True`` (Laplace): the density of the unconstrained values;
    ``jacobian=False``: of the parameters themselves, whose mode is the MAP estimate
    (as ``pm.find_MAP``).
    """

    def __init__(self, model: pm.Model, keep: list[str], *, jacobian: bool = True):
        self.keep = list(keep)
        point = model.initial_point()
        value_vars = model.value_vars
        logp = model.logp(jacobian=jacobian)
        dlogp = pt.grad(logp, value_vars)
        by_name = {v.name: v for v in model.unobserved_value_vars}
        kept = [by_name[name] for name in self.keep]
        self.ndims = [k.ndim for k in kept]  # 0: a scalar; 1: a vector (a covariate model's coefficients)
        outputs, flat = join_nonshared_inputs(point, [logp, *dlogp, *kept], value_vars)
        logp, dlogp, kept = outputs[0], outputs[1 : 1 + len(value_vars)], outputs[1 + len(value_vars) :]
        gradient = pt.concatenate([pt.atleast_1d(g).ravel() for g in dlogp])
        self.logp_dlogp = pytensor.function([flat], [logp, gradient])
        self.start = np.concatenate([np.ravel(point[v.name]) for v in value_vars]).astype(float)
        # the map back, batched over draws: rows of ``batch`` are unconstrained points
        batch = pt.matrix("batch")
        batched = vectorize_graph([pt.atleast_1d(k).ravel() for k in kept], replace={flat: batch})
        self.parameters = pytensor.function([batch], batched)

    def mode(self) -> np.ndarray:
        """The maximum of the log-density from the model's initial point: L-BFGS-B, then
        Newton steps on the finite-difference Hessian of the exact gradient."""

        def negative(x):
            value, grad = self.logp_dlogp(x)
            return -float(value), -np.asarray(grad, dtype=float)

        result = minimize(negative, self.start, jac=True, method="L-BFGS-B", options={"maxiter": 5000})
        x = result.x
        # A Hessian costs 2 x (number of parameters) gradients: it is kept while the steps it
        # gives shrink fast (near the mode it hardly changes) and taken anew when they do not.
        # A covariate model (17 parameters, 536k rows at 1M customers) took 4 Hessians here.
        hessian, previous = None, np.inf
        for _ in range(NEWTON_STEPS):
            if hessian is None:
                hessian = self.negative_hessian(x)
            step = np.linalg.solve(hessian, self.logp_dlogp(x)[1])
            x = x + step
            size = np.max(np.abs(step))
            if size < NEWTON_TOLERANCE:
                break
            if size > CHORD_CONTRACTION * previous:
                hessian = None
            previous = size
        return x

    def negative_hessian(self, x: np.ndarray) -> np.ndarray:
        """-d2 logp / dx2 by central differences of the exact gradient, symmetrised."""
        k = len(x)
        columns = []
        for i in range(k):
            h = RELATIVE_STEP * max(1.0, abs(x[i]))
            e = np.zeros(k)
            e[i] = h
            up, down = self.logp_dlogp(x + e)[1], self.logp_dlogp(x - e)[1]
            columns.append((np.asarray(up) - np.asarray(down)) / (2 * h))
        hessian = np.column_stack(columns)
        return -(hessian + hessian.T) / 2

    def values(self, unconstrained: np.ndarray) -> dict[str, np.ndarray]:
        """The kept variables at each row of ``unconstrained`` keyed by name: (rows,) for a
        scalar, (rows, k) for a vector."""
        out = self.parameters(np.atleast_2d(unconstrained))
        n = len(np.atleast_2d(unconstrained))
        return {
            name: np.asarray(v, dtype=float).reshape(n, *((-1,) if ndim else ()))
            for name, v, ndim in zip(self.keep, out, self.ndims)
        }

    def draws(self, n_draws: int, random_seed: int) -> dict[str, np.ndarray]:
        """``n_draws`` draws of each kept variable from the Laplace approximation."""
        x = self.mode()
        precision = self.negative_hessian(x)
        try:
            # Cholesky both checks that the mode is a maximum and gives the draws
            chol = np.linalg.cholesky(np.linalg.inv(precision))
        except np.linalg.LinAlgError as exc:
            raise LaplaceError(f"the log-posterior's Hessian at the mode is not negative definite ({exc})") from None
        rng = np.random.default_rng(random_seed)
        return self.values(x + rng.standard_normal((n_draws, len(x))) @ chol.T)

