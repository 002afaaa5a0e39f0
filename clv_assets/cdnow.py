"""The CDNOW 1/10 sample (Fader, Hardie & Lee 2005) as landing orders, and its backtest.

Calibration weeks 1-39 end on 1997-09-30; the holdout, weeks 40-78, ends on 1998-06-30.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

CUTOFF = "1997-09-30"
HOLDOUT_END = "1998-06-30"
HOLDOUT_REPEAT_TRANSACTIONS = 1882  # published; also what the data gives


def cdnow_orders(path: Path) -> pd.DataFrame:
    """The sample as landing orders: one row per purchase record, naive UTC dates."""
    raw = pd.read_csv(path, sep=r"\s+", header=None, names=["master_id", "customer", "date", "cds", "dollars"])
    return pd.DataFrame(
        {
            "order_id": [f"r{i}" for i in range(1, len(raw) + 1)],
            "customer_id": raw.customer.map("c{:04d}".format),
            "ordered_at": pd.to_datetime(raw.date.astype(str), format="%Y%m%d").dt.strftime("%Y-%m-%dT12:00:00"),
            "amount": raw.dollars,
            "currency": "USD",
        }
    )


def evaluation_run_config(**config) -> dict:
    """Run config of models/evaluation for the CDNOW backtest (overrides in ``config``)."""
    return {"ops": {"models__evaluation": {"config": {"cutoff": CUTOFF, "holdout_end": HOLDOUT_END, **config}}}}


def materialize_backtest(account: str, landing_dir: Path, warehouse: Path, instance, run_config: dict):
    """Load ``account`` from ``landing_dir`` and materialise staging and models/evaluation.

    A real Dagster run on ``instance`` (raw orders -> staging.customer_transactions ->
    models/evaluation); the fits and predictions are not needed for a backtest.
    """
    import dagster as dg

    from clv_assets.definitions import build_defs
    from clv_assets.lib.accounts import accounts_partitions
    from clv_assets.lib.keys import CUSTOMER_TRANSACTIONS, EVALUATION

    if account not in instance.get_dynamic_partitions(accounts_partitions.name):
        instance.add_dynamic_partitions(accounts_partitions.name, [account])
    defs = build_defs(warehouse=warehouse, landing_dir=landing_dir)
    selection = (
        dg.AssetSelection.assets(CUSTOMER_TRANSACTIONS).upstream().required_multi_asset_neighbors()
        | dg.AssetSelection.assets(EVALUATION)
    )
    job = dg.define_asset_job("cdnow_backtest", selection=selection, partitions_def=accounts_partitions)
    job_def = dg.Definitions(assets=defs.assets, resources=defs.resources, jobs=[job]).resolve_job_def("cdnow_backtest")
    return job_def.execute_in_process(instance=instance, partition_key=account, run_config=run_config, raise_on_error=False)
