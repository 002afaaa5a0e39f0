"""Run config shared by the fits (``models/purchase_model``, ``models/gamma_gamma``) and
the holdout backtest (``models/evaluation``)."""

import dagster as dg

from clv_assets.stats.specs import FitSettings, Method


class SamplerConfig(dg.Config):
    """How to fit, and when an account has too little data to try."""

    method: Method = "auto"
    """'mcmc' (NUTS, by nutpie), 'laplace' (a normal approximation at the posterior mode with
    the exact Hessian), 'map' (the mode alone, no uncertainty); 'auto' picks per model and size."""
    draws: int = 1000
    """Posterior draws kept per chain."""
    tune: int = 1000
    """NUTS warm-up steps per chain (discarded)."""
    chains: int = 2
    """Independent NUTS chains (r_hat compares them)."""
    random_seed: int = 42
    """Seed of the sampler: the same data and seed give the same draws."""
    max_mcmc_rows: int = 20_000
    """auto: NUTS up to this many distinct (frequency, recency, T) rows, Laplace above."""
    min_customers: int = 100
    """An account with fewer customers is not fitted with its own priors (see the pooled prior)."""
    min_repeat_buyers: int = 30
    """An account with fewer repeat buyers is not fitted with its own priors."""

    def settings(self) -> FitSettings:
        return FitSettings(
            method=self.method,
            draws=self.draws,
            tune=self.tune,
            chains=self.chains,
            random_seed=self.random_seed,
            max_mcmc_rows=self.max_mcmc_rows,
        )
