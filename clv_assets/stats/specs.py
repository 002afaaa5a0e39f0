"""What a model is and what a fit produces: light, no PyMC import.

A model is one frozen object (:class:`PurchaseModel` or :class:`SpendModel`) defined in
its own module (``stats/purchase/*.py``, ``stats/gamma_gamma.py``) and listed in
:mod:`clv_assets.stats.registry`: everything the graph does per model it reads from that
object, so a new model is its module and a line of the registry. Its ``priors`` and
``build`` import PyMC when called, so definitions import the models without it;
:mod:`clv_assets.stats.fitting` fits them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

Method = Literal["auto", "mcmc", "laplace", "map"]


@dataclass(frozen=True, kw_only=True)
class CLVModel:
    """A Bayesian model of one account: what it reads, samples and reports.

    ``priors()`` gives the prior of each sampled variable (pymc-extras ``Prior``; time
    scales stated per week and restated per day, the storage unit) and
    ``build(rows, priors=None)`` the ``pm.Model`` on distinct ``rows`` (``columns`` plus
    their count ``n``), ``priors`` overriding the defaults by name. Both import PyMC when
    called.
    """

    name: str
    label: str
    columns: tuple[str, ...]
    parameters: tuple[str, ...]
    priors: Callable[[], dict]
    build: Callable
    # the sampled variables, ``priors()``'s keys in the order ``build`` creates them, each
    # with the scale models/pooled_prior pools it on across accounts: "log" (a positive
    # quantity) or "logit" (a probability)
    pooled_variables: Mapping[str, str]
    # the pymc-marketing class (in ``pymc_marketing.clv``) this model reproduces: its
    # likelihood equals the class's (test_model_likelihood.py); a purchase model also has its
    # default priors (time scales per day)
    reference: str
    # values of ``parameters`` typical of a real account (time scales in days; near the
    # posterior means on CDNOW): benchmarks and the registry's tests draw posteriors around them
    typical_parameters: Mapping[str, float]
    latent: tuple[str, ...] = ()  # sampled reparametrisations kept with the draws
    # False: ``method: auto`` uses Laplace at any size. NUTS through Pareto/NBD's
    # hypergeometric-function gradients takes minutes where Laplace takes seconds
    # (CDNOW: ~200 s vs ~7 s).
    nuts_by_default: bool = True
    # the lookup query (sql/queries/<name>.sql) of the distinct rows the likelihood reads, with counts n
    training_rows: str = "purchase_model_training_rows"
    # the arrays the likelihood reads, from the columns and n as float arrays (default: those)
    likelihood_data: Callable[[dict], dict] | None = None

    @property
    def stored_parameters(self) -> tuple[str, ...]:
        """``parameters`` as ``models.fits`` and ``models.posterior_draws`` name them: one
        scalar each (a covariate model names each coefficient's components, see
        :meth:`scalar_draws`)."""
        return self.parameters

    def scalar_draws(self, draws: dict) -> dict[str, np.ndarray]:
        """``draws`` with one scalar variable per stored name (:attr:`stored_parameters`);
        :meth:`vector_draws` is its inverse. The models without vectors store them as they are."""
        return draws

    def vector_draws(self, draws: dict) -> dict[str, np.ndarray]:
        """The draws the model's quantities take, from stored scalar ``draws``."""
        return draws

    def data(self, rows) -> dict[str, np.ndarray]:
        """The model's data on distinct ``rows``: ``likelihood_data`` of its columns and the
        count ``n`` as float arrays (those arrays themselves by default). ``build`` makes
        each a ``pm.Data`` of that name, so a compiled model fits other rows by swapping
        these values."""
        values = {name: np.asarray(rows[name], dtype=float) for name in (*self.columns, "n")}
        return values if self.likelihood_data is None else self.likelihood_data(values)


@dataclass(frozen=True, kw_only=True)
class PurchaseModel(CLVModel):
    """A purchase (buy-till-you-die) model and its posterior quantities over draws x rows.

    Each quantity takes the parameters (1-D posterior draws) by name and histories
    (frequency ``x``, recency ``t_x``, age ``T``, 1-D rows) and returns (draws, rows):
    ``p_alive(**params, x, t_x, T)``, ``expected_purchases(..., t)``,
    ``prob_n_purchases(..., t, n)``. ``future_if_alive(**params, x, T, t)`` (``expected``,
    ``p_none``, ``p_one``), ``expected_if_alive(*params, x=, T=, t=)`` (its ``expected``
    alone) and ``p_none_if_alive(**params, x, T)`` (a ``NoOrderCurve``) describe a customer
    alive at T; everything per customer is P(alive) times them (the predictions compute
    them once per distinct (frequency, T), see ``predict``).
    """

    p_alive: Callable
    expected_purchases: Callable
    prob_n_purchases: Callable
    future_if_alive: Callable
    expected_if_alive: Callable
    p_none_if_alive: Callable
    # optional ``prob_n_range(..., t, n_start, n_stop)``: ``prob_n_purchases`` for every n in
    # [n_start, n_stop) at once, (n, draws, rows), where that shares work between the n
    prob_n_range: Callable | None = None

    def pmf_range(self, params: dict, x, t_x, T, t, n_start: int, n_stop: int) -> np.ndarray:
        """P(X(T, T + t) = n | x, t_x, T) for n in [n_start, n_stop), shape (n, draws, rows):
        ``prob_n_range`` where the model shares work between the n, else n by n."""
        if self.prob_n_range is not None:
            return self.prob_n_range(**params, x=x, t_x=t_x, T=T, t=t, n_start=n_start, n_stop=n_stop)
        return np.stack([self.prob_n_purchases(**params, x=x, t_x=t_x, T=T, t=t, n=n) for n in range(n_start, n_stop)])


@dataclass(frozen=True, kw_only=True)
class SpendModel(CLVModel):
    """A spend model: ``expected_spend(**params, x, m)``, the expected order value of a
    customer with ``x`` repeat orders of mean value ``m``, shape (draws, rows)."""

    expected_spend: Callable


@dataclass
class FitSettings:
    """How to fit: ``auto`` uses NUTS up to ``max_mcmc_rows`` distinct rows, else Laplace
    (always Laplace for a model that is not ``nuts_by_default``)."""

    method: Method = "auto"
    draws: int = 1000
    tune: int = 1000
    chains: int = 2
    random_seed: int = 42
    max_mcmc_rows: int = 20_000

    def resolve(self, n_rows: int, model: CLVModel) -> str:
        if self.method != "auto":
            return self.method
        return "mcmc" if model.nuts_by_default and n_rows <= self.max_mcmc_rows else "laplace"


@dataclass
class Posterior:
    """Posterior draws of one fit, shape (chains, draws) per parameter, and run facts."""

    model: str
    method: str
    draws: dict[str, np.ndarray]
    divergences: int
    seconds: float
    n_rows: int
    n_customers: int
