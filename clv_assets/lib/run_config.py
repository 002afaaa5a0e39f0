"""Run configuration of :data:`~clv_assets.lib.keys.ACCOUNT_JOB` that every trigger (CLI,
sensor, schedule) shares."""

from __future__ import annotations

from datetime import date
from typing import get_args

from clv_assets.stats.specs import Method

FIT_METHODS: tuple[str, ...] = get_args(Method)
FIT_OPS = ("purchase_model_fit", "gamma_gamma_fit")


def account_run_config(
    as_of: date | None = None,
    fit_method: Method | None = None,
    purchase_model: str | None = None,
    full_reload: bool = False,
    refit: bool = False,
) -> dict:
    """Run config of the account job; ``as_of`` None means today (UTC).

    ``full_reload`` reads every row of the account's source even where an incremental
    load (a watermark) would read only the changed ones.

    ``fit_method`` (one of :data:`FIT_METHODS`) sets both fits' method and ``purchase_model``
    (a name of ``PURCHASE_MODELS``, or auto) the purchase model; None keeps their default.
    ``refit`` fits both models anew even where a stored fit is young enough to be reused
    (``refit_every_days``).
    """
    as_of_config = {"as_of": as_of.isoformat()} if as_of else {}
    ops = {"features__rfm": {"config": as_of_config}}
    fit_config = {op: {} for op in FIT_OPS}
    if fit_method:
        for config in fit_config.values():
            config["method"] = fit_method
    if purchase_model:
        fit_config["purchase_model_fit"]["model"] = purchase_model
    if refit:
        for config in fit_config.values():
            config["refit"] = True
    ops.update({op: {"config": config} for op, config in fit_config.items() if config})
    if full_reload:
        ops["raw_orders"] = {"config": {"full_reload": True}}
    return {"ops": ops}
