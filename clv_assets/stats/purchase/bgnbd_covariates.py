"""BG/NBD and MBG/NBD with time-invariant purchase and dropout covariates (Fader & Hardie,
"Incorporating time-invariant covariates into the Pareto/NBD and BG/NBD models", note 019),
in pymc-marketing 1.3's parameterisation (``BetaGeoModel`` and ``ModifiedBetaGeoModel``
with ``purchase_covariate_cols`` and ``dropout_covariate_cols``)::

    alpha_i = alpha_scale * exp(-z_i' purchase_coefficient_alpha)   (a higher coefficient: a higher rate)
    a_i     = a_scale * exp(z_i' dropout_coefficient_a)
    b_i     = b_scale * exp(z_i' dropout_coefficient_b)
    a_scale = phi_dropout * kappa_dropout, b_scale = (1 - phi_dropout) * kappa_dropout

``r`` has no covariates. Customer i is a BG/NBD (MBG/NBD) customer with (r, alpha_i, a_i,
b_i), so every per-customer quantity is its base model's
(:mod:`~clv_assets.stats.purchase.bgnbd`, :mod:`~clv_assets.stats.purchase.mbgnbd`) at
those parameters: ``per_covariates`` evaluates it once per distinct covariate vector.

Covariates (a fixed layout, so one compiled model serves every account): from
``features.customer_covariates``, indicators of the first order's channel rank 2, rank 3
and 'other' (rank 1, the account's most common first-order channel, is the reference)
and the standardised log first-order value rounded to a grid (:data:`VALUE_STEP`), which
keeps distinct (frequency, recency, T, covariates) rows few. An account with fewer
channels has an all-zero column, whose coefficient stays at its prior.

In ``COVARIATE_PURCHASE_MODELS``, not ``PURCHASE_MODELS``: its rows carry covariate
columns (``lib/model_rows.py`` reads them), and every consumer scores its draws through
``stats.predict.base_model_groups``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from clv_assets.stats.purchase import bgnbd, mbgnbd, pareto_nbd
from clv_assets.stats.specs import CLVModel

if TYPE_CHECKING:
    import pandas as pd

COVARIATES = ("channel_2", "channel_3", "channel_other", "value_z")
HISTORY = ("frequency", "recency", "T")
VALUE_STEP = 0.25  # grid of the standardised log first-order value
VALUE_LIMIT = 3.0  # clipped to +/- this many standard deviations
COEFFICIENTS = ("purchase_coefficient_alpha", "dropout_coefficient_a", "dropout_coefficient_b")
# the SQL parameters of features.customer_covariates' first_order_value_level (the grid)
GRID_PARAMETERS = {"value_step": VALUE_STEP, "value_limit": VALUE_LIMIT}
# the columns of features.customer_covariates that give a customer's covariate vector: rows
# equal on them are one covariate level (the predictions join their rows back on them)
LEVEL_KEYS = ("first_channel_rank", "first_order_value_level")


def covariate_columns(covariates: pd.DataFrame) -> pd.DataFrame:
    """The model's covariate columns from ``features.customer_covariates`` rows
    (``first_channel_rank``, ``first_order_value_level``; ``top_channels`` = 3)."""
    import pandas as pd

    rank = covariates["first_channel_rank"].to_numpy()
    return pd.DataFrame(
        {
            "channel_2": (rank == 2).astype(float),
            "channel_3": (rank == 3).astype(float),
            "channel_other": (rank >= 4).astype(float),
            "value_z": covariates["first_order_value_level"].to_numpy(float),
        },
        index=covariates.index,
    )


def covariate_levels(channel_names: Mapping[int, str]) -> dict[str, str | None]:
    """Each covariate in words for an account whose first-order channels by rank are
    ``channel_names`` (``features.customer_covariates``: first_channel_rank -> first_channel);
    None for a rank the account does not have."""
    return {
        "channel_2": channel_names.get(2), "channel_3": channel_names.get(3),
        "channel_other": "other channels" if 4 in channel_names else None, "value_z": "first order value, +1 sd",
    }


def no_effects() -> pd.DataFrame:
    """:meth:`CovariatePurchaseModel.effects` with its ``level`` in words and no rows, typed
    (a table written from it has the columns' types)."""
    import pandas as pd

    return pd.DataFrame({
        **{c: pd.Series(dtype="object") for c in ("coefficient", "covariate", "level")},
        **{c: pd.Series(dtype="float64") for c in ("mean", "low", "high", "ratio", "ratio_low", "ratio_high")},
    })


def with_covariates(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (with :data:`LEVEL_KEYS`) and their model covariate columns beside."""
    import pandas as pd

    return pd.concat([rows, covariate_columns(rows)], axis=1)


def distinct_rows(customers: pd.DataFrame) -> pd.DataFrame:
    """Distinct (frequency, recency, T, covariates) rows of ``customers`` with their count n."""
    return customers.groupby([*HISTORY, *COVARIATES]).size().rename("n").reset_index().astype(float)


def priors(reference: str = "BetaGeoModel") -> dict:
    """The ``reference`` class's default priors (``alpha`` per day, as the models without
    covariates), in the order pymc-marketing creates the variables."""
    import pymc_marketing.clv

    from clv_assets.stats.fitting import in_days

    config = getattr(pymc_marketing.clv, reference)().default_model_config
    purchase = config["purchase_coefficient"].deepcopy()
    purchase.dims = "purchase_covariate"
    dropout = config["dropout_coefficient"].deepcopy()
    dropout.dims = "dropout_covariate"
    return {
        "purchase_coefficient_alpha": purchase,
        "alpha_scale": in_days(config["alpha"]),
        "dropout_coefficient_a": dropout,
        "dropout_coefficient_b": dropout.deepcopy(),
        "phi_dropout": config["phi_dropout"],
        "kappa_dropout": config["kappa_dropout"],
        "r": config["r"],
    }


def likelihood_data(values: dict) -> dict:
    """The histories, counts and the covariate matrix ``Z`` (rows x covariates)."""
    x, t_x, T = values["frequency"], values["recency"], values["T"]
    bad = (x < 0) | (t_x < 0) | (t_x > T)
    if bad.any():
        raise ValueError(f"purchase model: {int(bad.sum())} row(s) are not histories (frequency >= 0, 0 <= recency <= T)")
    return {
        "frequency": x, "recency": t_x, "T": T, "n": values["n"],
        "Z": np.column_stack([values[c] for c in COVARIATES]),
    }


def level_data(values: dict) -> dict:
    """:func:`likelihood_data` regrouped for :func:`weighted_loglik`: the distinct covariate
    vectors ``Z_level`` (levels x covariates) and each row's level ``row_level``; the
    distinct (level, frequency) pairs (``pair_level``, ``pair_x``) with their counts
    ``n_pair``; and the rows' histories and counts."""
    data = likelihood_data(values)
    Z_level, row_level = np.unique(data["Z"], axis=0, return_inverse=True)
    row_level = row_level.reshape(-1)
    pairs, pair = np.unique(np.column_stack([row_level, data["frequency"]]), axis=0, return_inverse=True)
    return {
        "Z_level": Z_level, "row_level": row_level.astype(np.int64),
        "pair_level": pairs[:, 0].astype(np.int64), "pair_x": pairs[:, 1],
        "n_pair": np.bincount(pair.reshape(-1), weights=data["n"], minlength=len(pairs)),
        "frequency": data["frequency"], "recency": data["recency"], "T": data["T"], "n": data["n"],
    }


def weighted_loglik(data: dict, r, alpha, a, b, *, modified: bool = False):
    """sum over rows of count x BG/NBD log-likelihood, ``alpha``, ``a``, ``b`` per covariate
    level (:func:`level_data`), pymc-marketing's ``BetaGeoNBD`` logp in log space::

        ll = log G(r + x) - log G(r) + log B(a, b + x) - log B(a, b) + r log alpha
             + logaddexp(-(r + x) log(alpha + T), 1{x>0} [log a - log(b + x - 1) - (r + x) log(alpha + t_x)])

    The gamma-function terms depend on a row only through its level and frequency, so they
    are evaluated once per distinct (level, frequency) pair, as the models without
    covariates do per frequency (``bgnbd_family.beta_geo_weighted_loglik``): a gradient
    at 536k rows (1M customers) took 0.21 s per row-wise evaluation.

    ``modified``: MBG/NBD (``ModifiedBetaGeoNBD``): b + x becomes b + x + 1 in the beta
    function and the "died" term, which every customer has (one-time buyers too).
    """
    import pytensor.tensor as pt

    shift = 1.0 if modified else 0.0
    level, xp = data["pair_level"], data["pair_x"]
    ap, bp, alphap = a[level], b[level], alpha[level]
    per_pair = pt.dot(
        data["n_pair"],
        pt.gammaln(r + xp) - pt.gammaln(r) + pt.gammaln(ap + bp) + pt.gammaln(bp + xp + shift) - pt.gammaln(bp)
        - pt.gammaln(ap + bp + xp + shift) + r * pt.log(alphap),
    )
    x, t_x, T = data["frequency"], data["recency"], data["T"]
    row = data["row_level"]
    alpha_i, log_a, log_b_term = alpha[row], pt.log(a)[row], b[row]
    alive = -(r + x) * pt.log(alpha_i + T)
    if modified:
        died = log_a - pt.log(log_b_term + x) - (r + x) * pt.log(alpha_i + t_x)
        return per_pair + pt.dot(data["n"], pt.logaddexp(alive, died))
    xs = pt.maximum(x, 1.0)  # the died term exists for x > 0 only
    died = log_a - pt.log(log_b_term + xs - 1.0) - (r + x) * pt.log(alpha_i + t_x)
    return per_pair + pt.dot(data["n"], pt.switch(x > 0, pt.logaddexp(alive, died), alive))


def pareto_priors() -> dict:
    """``ParetoNBDModel``'s default priors (``alpha`` and ``beta`` per day, as Pareto/NBD
    without covariates), in the order pymc-marketing creates the variables."""
    import pymc_marketing.clv

    from clv_assets.stats.fitting import in_days

    config = pymc_marketing.clv.ParetoNBDModel().default_model_config
    purchase = config["purchase_coefficient"].deepcopy()
    purchase.dims = "purchase_covariate"
    dropout = config["dropout_coefficient"].deepcopy()
    dropout.dims = "dropout_covariate"
    return {
        "purchase_coefficient": purchase, "alpha_scale": in_days(config["alpha"]),
        "dropout_coefficient": dropout, "beta_scale": in_days(config["beta"]), "r": config["r"], "s": config["s"],
    }


def build_pareto(rows: pd.DataFrame, priors_: dict | None = None):
    """Pareto/NBD with covariates (``ParetoNBDModel``'s: alpha_i = alpha_scale exp(-z'c_p),
    beta_i = beta_scale exp(-z'c_d)) on distinct (history, covariates) rows with counts n:
    pymc-marketing's ``ParetoNBD`` logp per row, weighted."""
    import pymc as pm
    import pytensor.tensor as pt
    from pymc_marketing.clv.distributions import ParetoNBD

    from clv_assets.stats.fitting import data_variables, weighted_logp

    p = {**pareto_priors(), **(priors_ or {})}
    coords = {"purchase_covariate": list(COVARIATES), "dropout_covariate": list(COVARIATES)}
    with pm.Model(coords=coords) as model:
        data = data_variables(PARETO_NBD_COVARIATES.data(rows))
        v = {name: p[name].create_variable(name) for name in p}
        alpha = v["alpha_scale"] * pt.exp(-pt.dot(data["Z"], v["purchase_coefficient"]))
        beta = v["beta_scale"] * pt.exp(-pt.dot(data["Z"], v["dropout_coefficient"]))
        pm.Potential("likelihood", weighted_logp(data, ParetoNBD.dist(r=v["r"], alpha=alpha, s=v["s"], beta=beta, T=data["T"])))
    return model


def build(rows: pd.DataFrame, priors_: dict | None = None, *, spec: CovariatePurchaseModel | None = None):
    """The weighted model on distinct (frequency, recency, T, covariates) rows with counts n
    (``spec``: which of the family; BG/NBD by default)."""
    import pymc as pm
    import pytensor.tensor as pt

    from clv_assets.stats.fitting import data_variables

    spec = spec or BGNBD_COVARIATES
    p = {**spec.priors(), **(priors_ or {})}
    coords = {"purchase_covariate": list(COVARIATES), "dropout_covariate": list(COVARIATES)}
    with pm.Model(coords=coords) as model:
        data = data_variables(spec.data(rows))
        gamma = p["purchase_coefficient_alpha"].create_variable("purchase_coefficient_alpha")
        alpha_scale = p["alpha_scale"].create_variable("alpha_scale")
        gamma_a = p["dropout_coefficient_a"].create_variable("dropout_coefficient_a")
        gamma_b = p["dropout_coefficient_b"].create_variable("dropout_coefficient_b")
        phi = p["phi_dropout"].create_variable("phi_dropout")
        kappa = p["kappa_dropout"].create_variable("kappa_dropout")
        a_scale = pm.Deterministic("a_scale", phi * kappa)
        b_scale = pm.Deterministic("b_scale", (1.0 - phi) * kappa)
        r = p["r"].create_variable("r")
        Z = data["Z_level"]  # per covariate level: the rows index them
        alpha = alpha_scale * pt.exp(-pt.dot(Z, gamma))
        a = a_scale * pt.exp(pt.dot(Z, gamma_a))
        b = b_scale * pt.exp(pt.dot(Z, gamma_b))
        pm.Potential("likelihood", weighted_loglik(data, r=r, alpha=alpha, a=a, b=b, modified=spec.base == "mbgnbd"))
    return model


@dataclass(frozen=True, kw_only=True)
class CovariatePurchaseModel(CLVModel):
    """A purchase model whose rows carry covariates: ``per_customer`` turns the posterior
    draws and a covariate vector into the base model's parameters."""

    covariates: tuple[str, ...]
    coefficients: tuple[str, ...]
    base: str  # the registered model it extends (the model choice compares them)
    base_expected_purchases: Callable  # that model's conditional expectation

    @property
    def stored_parameters(self) -> tuple[str, ...]:
        """Each coefficient stored per covariate, as ``purchase_coefficient_alpha[channel_2]``."""
        return tuple(
            name for p in self.parameters
            for name in ([component(p, c) for c in self.covariates] if p in self.coefficients else [p])
        )

    def scalar_draws(self, draws: dict) -> dict[str, np.ndarray]:
        """Each coefficient vector (last axis: :attr:`covariates`) split into its components."""
        out = {}
        for name, values in draws.items():
            if name in self.coefficients:
                values = np.asarray(values, dtype=float)
                out |= {component(name, c): values[..., j] for j, c in enumerate(self.covariates)}
            else:
                out[name] = values
        return out

    def vector_draws(self, draws: dict) -> dict[str, np.ndarray]:
        """The coefficient vectors (draws, covariates) back from their stored components."""
        out = {name: values for name, values in draws.items() if "[" not in name}
        for name in self.coefficients:
            out[name] = np.stack([np.asarray(draws[component(name, c)], dtype=float) for c in self.covariates], axis=-1)
        return out

    def customer_parameters(self, draws: dict, z: np.ndarray) -> dict[str, np.ndarray]:
        """The base model's parameter draws of a customer with covariate vector ``z``: BG/NBD's
        and MBG/NBD's (r, alpha, a, b), Pareto/NBD's (r, alpha, s, beta) (1-D draws out)."""
        flat = {k: _flat(v, k in self.coefficients) for k, v in draws.items()}
        z = np.asarray(z, dtype=float)
        if self.base == "pareto_nbd":
            return {
                "r": flat["r"], "alpha": flat["alpha_scale"] * np.exp(-flat["purchase_coefficient"] @ z),
                "s": flat["s"], "beta": flat["beta_scale"] * np.exp(-flat["dropout_coefficient"] @ z),
            }
        return {
            "r": flat["r"],
            "alpha": flat["alpha_scale"] * np.exp(-flat["purchase_coefficient_alpha"] @ z),
            "a": flat["a_scale"] * np.exp(flat["dropout_coefficient_a"] @ z),
            "b": flat["b_scale"] * np.exp(flat["dropout_coefficient_b"] @ z),
        }

    def per_covariates(self, quantity, draws: dict, rows: pd.DataFrame, **kwargs) -> np.ndarray:
        """``quantity(*base parameters, x=, t_x=, T=, **kwargs)`` (a base-model function,
        (draws, rows)) for every row of ``rows`` (history and covariate columns), evaluated
        once per distinct covariate vector."""
        Z = rows[list(self.covariates)].to_numpy(float)
        levels, inverse = np.unique(Z, axis=0, return_inverse=True)
        out = None
        for k, z in enumerate(levels):
            mask = inverse.reshape(-1) == k
            p = self.customer_parameters(draws, z)
            part = quantity(
                *p.values(),
                x=rows["frequency"].to_numpy(float)[mask], t_x=rows["recency"].to_numpy(float)[mask],
                T=rows["T"].to_numpy(float)[mask], **kwargs,
            )
            if out is None:
                out = np.empty((part.shape[0], len(rows)))
            out[:, mask] = part
        return out

    def thin(self, draws: dict, n: int) -> dict[str, np.ndarray]:
        """At most ``n`` evenly spaced draws of each kept variable, chains flattened (a
        coefficient keeps its covariate axis last)."""
        flat = {k: np.asarray(v, float).reshape(-1, *np.shape(v)[2:]) for k, v in draws.items()}
        size = len(next(iter(flat.values())))
        index = np.unique(np.linspace(0, size - 1, min(n, size)).round().astype(int))
        return {k: v[index] for k, v in flat.items()}

    def expected_purchases(self, draws: dict, rows: pd.DataFrame, t: float) -> np.ndarray:
        """E[X(T, T + t) | history, covariates], (draws, rows)."""
        return self.per_covariates(self.base_expected_purchases, draws, rows, t=t)

    def effects(self, draws: dict, prob: float = 0.9) -> pd.DataFrame:
        """Each coefficient per covariate as a ratio (exp of it: the purchase-rate ratio for
        ``purchase_coefficient_alpha``, the a and b ratios for the dropout ones), posterior
        mean and equal-tailed ``prob`` interval of the coefficient and of its exp."""
        import pandas as pd

        tail = (1.0 - prob) / 2.0
        records = []
        for name in self.coefficients:
            values = np.asarray(draws[name], dtype=float).reshape(-1, len(self.covariates))
            for j, covariate in enumerate(self.covariates):
                v = values[:, j]
                low, high = np.quantile(v, [tail, 1.0 - tail])
                records.append({
                    "coefficient": name, "covariate": covariate, "mean": float(v.mean()),
                    "low": float(low), "high": float(high),
                    "ratio": float(np.exp(v).mean()), "ratio_low": float(np.exp(low)), "ratio_high": float(np.exp(high)),
                })
        return pd.DataFrame.from_records(records)


def component(coefficient: str, covariate: str) -> str:
    """The stored name of one covariate's coefficient (``models.fits.parameter``)."""
    return f"{coefficient}[{covariate}]"


def _flat(values, vector: bool) -> np.ndarray:
    """Draws as (draws,) or, for a coefficient, (draws, covariates), from (chains, draws[, k])
    or already flat draws."""
    values = np.asarray(values, dtype=float)
    return values.reshape(-1, values.shape[-1]) if vector else values.reshape(-1)


def _model(name: str, label: str, base: str, reference: str, expected_purchases: Callable) -> CovariatePurchaseModel:
    spec = CovariatePurchaseModel(
        name=name,
        label=label,
        columns=(*HISTORY, *COVARIATES),
        parameters=("r", "alpha_scale", "a_scale", "b_scale", *COEFFICIENTS),
        latent=("phi_dropout", "kappa_dropout"),
        priors=partial(priors, reference),
        build=build,
        pooled_variables={
            "purchase_coefficient_alpha": "none", "alpha_scale": "log", "dropout_coefficient_a": "none",
            "dropout_coefficient_b": "none", "phi_dropout": "logit", "kappa_dropout": "log", "r": "log",
        },
        reference=reference,
        typical_parameters={"r": 0.245, "alpha_scale": 31.5, "a_scale": 0.78, "b_scale": 2.41,
                            "purchase_coefficient_alpha": 0.0, "dropout_coefficient_a": 0.0, "dropout_coefficient_b": 0.0},
        likelihood_data=level_data,
        training_rows="covariate_purchase_training_rows",
        covariates=COVARIATES,
        coefficients=COEFFICIENTS,
        base=base,
        base_expected_purchases=expected_purchases,
    )
    object.__setattr__(spec, "build", partial(build, spec=spec))  # frozen: the builder knows its model
    return spec


BGNBD_COVARIATES = _model("bgnbd_covariates", "BG/NBD with covariates", "bgnbd", "BetaGeoModel", bgnbd.bgnbd_expected_purchases)
MBGNBD_COVARIATES = _model(
    "mbgnbd_covariates", "MBG/NBD with covariates", "mbgnbd", "ModifiedBetaGeoModel", mbgnbd.mbgnbd_expected_purchases
)
PARETO_NBD_COVARIATES = CovariatePurchaseModel(
    name="pareto_nbd_covariates",
    label="Pareto/NBD with covariates",
    columns=(*HISTORY, *COVARIATES),
    parameters=("r", "alpha_scale", "s", "beta_scale", "purchase_coefficient", "dropout_coefficient"),
    priors=pareto_priors,
    build=build_pareto,
    pooled_variables={
        "purchase_coefficient": "none", "alpha_scale": "log", "dropout_coefficient": "none", "beta_scale": "log",
        "r": "log", "s": "log",
    },
    reference="ParetoNBDModel",
    typical_parameters={"r": 0.56, "alpha_scale": 74.1, "s": 0.557, "beta_scale": 71.8, "purchase_coefficient": 0.0, "dropout_coefficient": 0.0},
    nuts_by_default=False,
    likelihood_data=likelihood_data,
    training_rows="covariate_purchase_training_rows",
    covariates=COVARIATES,
    coefficients=("purchase_coefficient", "dropout_coefficient"),
    base="pareto_nbd",
    base_expected_purchases=pareto_nbd.pareto_nbd_expected_purchases,
)
