"""Score daily, refit weekly: whether a fit run samples anew or reuses the account's stored fit.

A run reuses the stored fit of the model (its draws in ``models.posterior_draws``, its
summary in ``models.fits``) when that fit is younger than ``refit_every_days`` (the
account's ``_account.json``, else the run config: 7), was made with the same model, fit
settings and prior, and passed its diagnostics (still, under today's thresholds). Age is
the run's as_of minus the fit's as_of in days; a fit on a later as_of than the run's
(as_of went backwards) saw orders the run must not see, so it is refitted. Everything
downstream (features, predictions, bands, marts) is recomputed for the new as_of either way.
"""

import json
from dataclasses import dataclass
from datetime import date

import pandas as pd

from clv_assets.lib.warehouse import read_query, run_sql, table_exists
from clv_assets.stats.specs import CLVModel, FitSettings

SETTINGS_COMPARED = ("method", "draws", "tune", "chains", "random_seed", "max_mcmc_rows")


def fit_settings_identity(model: str, settings: FitSettings, pooled: pd.DataFrame | None) -> str:
    """What must be equal for a stored fit to be reused, as JSON (``models.fits.fit_settings``):
    the model, the requested fit settings and the prior (a pooled prior by its fit time)."""
    prior = "default" if pooled is None else f"pooled prior of {pd.Timestamp(pooled['fitted_at'].max()).isoformat()}"
    values = {"model": model, **{name: getattr(settings, name) for name in SETTINGS_COMPARED}, "prior": prior}
    return json.dumps(values, sort_keys=True)


def stored_fits(conn, account: str, models: list[str]) -> pd.DataFrame | None:
    """The account's stored fit rows of ``models`` (``sql/queries/stored_fit_of_account.sql``),
    None when nothing was ever fitted."""
    if not (table_exists(conn, "models.fits") and table_exists(conn, "models.posterior_draws")):
        return None
    return run_sql(conn, read_query("stored_fit_of_account"), {"account": account, "models": models}).df()


@dataclass(frozen=True)
class FitChoice:
    """A fit run's choice: ``reuse`` the stored fit (``stored``: its rows) or refit; ``text``
    is what ``models.fit_status.fit_choice`` records."""

    reuse: bool
    text: str
    fitted_as_of: date | None = None
    age_days: int | None = None
    stored: pd.DataFrame | None = None


def choose(
    stored: pd.DataFrame | None,
    spec: CLVModel,
    identity: str,
    settings: FitSettings,
    n_rows: int,
    as_of: date,
    refit_every_days: int,
    refit: bool,
    max_r_hat: float,
    min_ess: float,
) -> FitChoice:
    """Refit or reuse (see the module's text); ``stored`` holds the rows of every model the
    asset may have stored (the purchase model's candidates, or gamma_gamma)."""
    if refit:
        return FitChoice(False, "refit: requested (refit in the run config, clv-assets materialize --refit)")
    if refit_every_days == 0:
        return FitChoice(False, "refit: refit_every_days is 0")
    if stored is None or stored.empty:
        return FitChoice(False, "refit: no stored fit")
    rows = stored[stored["model"] == spec.name]
    if rows.empty:
        return FitChoice(False, f"refit: model changed ({', '.join(sorted(set(stored['model'])))} stored, {spec.name} now)")
    first = rows.iloc[0]
    if "fit_settings" not in rows or pd.isna(first["fit_settings"]):
        return FitChoice(False, "refit: the stored fit has no recorded fit settings (fitted before refit_every_days)")
    if not bool(first["diagnostics_passed"]):
        return FitChoice(False, "refit: the stored fit failed its diagnostics")
    if pd.isna(first["draws_fitted_at"]) or pd.Timestamp(first["draws_fitted_at"]) != pd.Timestamp(first["fitted_at"]):
        return FitChoice(False, "refit: the stored draws are not of the stored fit")
    if first["fit_settings"] != identity:
        was, now = json.loads(first["fit_settings"]), json.loads(identity)
        changed = [f"{k} {was.get(k)} -> {now.get(k)}" for k in sorted(set(was) | set(now)) if was.get(k) != now.get(k)]
        return FitChoice(False, f"refit: fit settings changed ({', '.join(changed)})")
    resolved = settings.resolve(n_rows, spec)
    if resolved != first["method"]:
        return FitChoice(False, f"refit: method {settings.method} now means {resolved} (stored fit: {first['method']})")
    fitted_as_of = pd.Timestamp(first["as_of"]).date()
    age = (as_of - fitted_as_of).days
    if age < 0:
        return FitChoice(False, f"refit: the stored fit is of a later as_of ({fitted_as_of}) than this run's ({as_of})")
    if age >= refit_every_days:
        return FitChoice(False, f"refit: the stored fit of {fitted_as_of} is {age} days old (refit_every_days {refit_every_days})")
    sampled = resolved in ("mcmc", "laplace")  # a MAP fit has no r_hat or ESS to judge
    failing = [
        name
        for name, bad in (
            ("converged", sampled and (rows["r_hat"] > max_r_hat).any()),
            ("enough_effective_draws", sampled and (rows["ess_bulk"] < min_ess).any()),
            ("no_divergences", int(first["divergences"]) != 0),
        )
        if bad
    ]
    if failing:
        return FitChoice(False, f"refit: the stored fit fails today's diagnostics ({', '.join(failing)})")
    return FitChoice(True, f"reused fit of {fitted_as_of}, {age} days old", fitted_as_of, age, rows)
