"""What the Bayesian models are and what a fit produces: light, no PyMC import.

Definitions import this module; PyMC (slow to import) is loaded only when a fit runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Method = Literal["auto", "mcmc", "laplace", "map"]

BGNBD_PARAMETERS = ("r", "alpha", "a", "b")
GAMMA_GAMMA_PARAMETERS = ("p", "q", "v")


@dataclass(frozen=True)
class CLVModelSpec:
    """A model: its name, the row columns its likelihood reads and what it reports."""

    name: str
    columns: tuple[str, ...]
    parameters: tuple[str, ...]
    latent: tuple[str, ...] = ()  # sampled reparametrisations kept with the draws
    # False: ``method: auto`` uses Laplace at any size. NUTS through Pareto/NBD's
    # hypergeometric-function gradients takes minutes where Laplace takes seconds
    # (CDNOW: ~200 s vs ~7 s).
    nuts_by_default: bool = True
    # the lookup query (sql/queries/<name>.sql) of the distinct rows the likelihood reads, with counts n
    training_rows: str = "purchase_model_training_rows"


BGNBD = CLVModelSpec("bgnbd", ("frequency", "recency", "T"), BGNBD_PARAMETERS, ("phi_dropout", "kappa_dropout"))
GAMMA_GAMMA = CLVModelSpec(
    "gamma_gamma", ("frequency", "monetary_value"), GAMMA_GAMMA_PARAMETERS, training_rows="gamma_gamma_training_rows"
)
# Candidates compared by the holdout evaluation (models.evaluation).
MBGNBD = CLVModelSpec("mbgnbd", ("frequency", "recency", "T"), BGNBD_PARAMETERS, ("phi_dropout", "kappa_dropout"))
PARETO_NBD = CLVModelSpec("pareto_nbd", ("frequency", "recency", "T"), ("r", "alpha", "s", "beta"), nuts_by_default=False)
PURCHASE_MODELS = {spec.name: spec for spec in (BGNBD, MBGNBD, PARETO_NBD)}
DEFAULT_PURCHASE_MODEL = BGNBD.name


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

    def resolve(self, n_rows: int, spec: CLVModelSpec) -> str:
        if self.method != "auto":
            return self.method
        return "mcmc" if spec.nuts_by_default and n_rows <= self.max_mcmc_rows else "laplace"


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


