"""The distinct rows a purchase model is fitted and scored on, read from the warehouse.

A model without covariates reads histories alone; a covariate model
(``COVARIATE_PURCHASE_MODELS``) reads them with each customer's covariate level
(``features.customer_covariates``) and gets its covariate columns beside: the one place
the graph's assets decide which rows a model takes.
"""

from __future__ import annotations

import dagster as dg
import pandas as pd

from clv_assets.lib.warehouse import read_query, run_sql
from clv_assets.stats.purchase.bgnbd_covariates import COVARIATES, LEVEL_KEYS, with_covariates
from clv_assets.stats.registry import COVARIATE_PURCHASE_MODELS
from clv_assets.stats.specs import CLVModel


def training_rows(conn, account: str, spec: CLVModel) -> pd.DataFrame:
    """The distinct rows ``spec``'s likelihood reads, with counts n."""
    rows = run_sql(conn, read_query(spec.training_rows), {"account": account}).df()
    return _with_covariates(rows, account, spec.name)


def scoring_rows(conn, account: str, model: str) -> pd.DataFrame:
    """The distinct rows the predictions of ``model`` are computed on, with counts n:
    (frequency, recency, T, monetary_value), and for a covariate model its level keys
    (:data:`LEVEL_KEYS`) and covariate columns."""
    query = "customer_covariate_histories" if model in COVARIATE_PURCHASE_MODELS else "customer_histories"
    return _with_covariates(run_sql(conn, read_query(query), {"account": account}).df(), account, model)


def _with_covariates(rows: pd.DataFrame, account: str, model: str) -> pd.DataFrame:
    if model not in COVARIATE_PURCHASE_MODELS:
        return rows
    missing = rows[list(LEVEL_KEYS)].isna().any(axis=1)
    if missing.any():
        raise dg.Failure(
            f"{model}: {int(rows.loc[missing, 'n'].sum())} customer(s) of account {account!r} have no covariates "
            "in features.customer_covariates for features.rfm's as_of (materialise features/customer_covariates)"
        )
    return with_covariates(rows)


def register_levels(conn, account: str, model: str) -> None:
    """The temp table ``customer_levels`` (customer_id and :data:`LEVEL_KEYS`) that the
    predictions' and bands' SQL join distinct rows back to customers with: each customer's
    covariate level for a covariate model, no rows otherwise (every key NULL, as in the
    rows :func:`scoring_rows` gives a model without covariates)."""
    if model in COVARIATE_PURCHASE_MODELS:
        run_sql(conn, f"CREATE OR REPLACE TEMP TABLE customer_levels AS {read_query('customer_covariate_levels')}", {"account": account})
    else:
        conn.execute(
            "CREATE OR REPLACE TEMP TABLE customer_levels "
            "(customer_id VARCHAR, first_channel_rank INTEGER, first_order_value_level DOUBLE)"
        )


def with_level_keys(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with the :data:`LEVEL_KEYS` columns the SQL joins on (NULL for a model
    without covariates) and without the model's covariate columns."""
    keys = {key: rows[key] if key in rows else float("nan") for key in LEVEL_KEYS}
    return rows.drop(columns=[c for c in COVARIATES if c in rows] + [k for k in LEVEL_KEYS if k in rows]).assign(**keys)


def history_predictions(predictions: pd.DataFrame, drivers: pd.Series | None = None) -> pd.DataFrame:
    """The ``history_predictions`` input of ``sql/predictions/customers.sql``: the rows'
    predictions with their join keys (:func:`with_level_keys`) and ``prediction_drivers``
    (the covariates that move each row's prediction, in words; NULL without covariates)."""
    return with_level_keys(predictions).assign(prediction_drivers=drivers)


def band_count_rows(counts: pd.DataFrame, histories: pd.DataFrame) -> pd.DataFrame:
    """The ``band_draw_counts`` input of ``sql/bands/customers.sql``: ``counts``
    (``band_confidence.with_count_columns`` of ``histories``) with the level keys."""
    return counts.join(with_level_keys(histories)[list(LEVEL_KEYS)])
