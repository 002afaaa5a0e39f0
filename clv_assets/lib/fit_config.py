"""Run config shared by the fits (``models/purchase_model``, ``models/gamma_gamma``) and
the holdout backtest (``models/evaluation``)."""

import dagster as dg

from clv_assets.stats.specs import FitSettings, Method


class SamplerConfig(dg.Config):
    """How to fit, and when an account has too little data to try."""

    method: Method = "auto"
    draws: int = 1000
    tune: int = 1000
    chains: int = 2
    random_seed: int = 42
    max_mcmc_rows: int = 20_000  # auto: NUTS up to this many distinct rows, Laplace above
    min_customers: int = 100
    min_repeat_buyers: int = 30

    def settings(self) -> FitSettings:
        return FitSettings(
            method=self.method,
            draws=self.draws,
            tune=self.tune,
            chains=self.chains,
            random_seed=self.random_seed,
            max_mcmc_rows=self.max_mcmc_rows,
        )
