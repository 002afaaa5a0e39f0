"""Print the CDNOW holdout scorecard of every candidate model against the published figures.

Usage: .venv/bin/python scripts/cdnow_scorecard.py [--method METHOD] [--cdnow PATH] [--no-covariates] [--markdown PATH]

Lands the CDNOW 1/10 sample in a temporary landing folder, DuckDB file and Dagster
instance, materialises models/evaluation with calibration weeks 1-39 (to 1997-09-30) and
holdout weeks 40-78 (to 1998-06-30), and prints models.evaluation, models.model_choice,
the published BG/NBD figures (Fader, Hardie & Lee 2005) beside ours, and
models.evaluation_segments. Each purchase model runs beside its covariate model (the
first order's value: CDNOW has no channel), whose effects (models.evaluation_effects)
are printed too; ``--no-covariates`` runs the models without covariates only.
``--markdown PATH`` also writes them as a page headed by the command, commit, date and
machine (the project's page: docs/measurements/cdnow_scorecard.md).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report_page import Page, add_markdown_option, fmt, markdown_table, method_label  # noqa: E402

from clv_assets.lib.run_config import FIT_METHODS  # noqa: E402
from clv_assets.stats.registry import COVARIATE_PURCHASE_MODELS, PURCHASE_MODELS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT = "cdnow-sample"
# figure -> (label on the page, format)
FIGURES = {
    "method": ("method", "s"),
    "actual_repeat_orders": ("actual holdout repeat transactions", ",.0f"),
    "predicted_repeat_orders": ("predicted holdout repeat transactions", ",.1f"),
    "aggregate_error_pct": ("`aggregate_error_pct`", "+.2f"),
    "tracking_error_pct": ("`tracking_error_pct` (week 78 cumulative)", "+.2f"),
    "mae_orders": ("`mae_orders`", ".4f"),
    "rmse_orders": ("`rmse_orders`", ".4f"),
    "brier_p_order": ("`brier_p_order`", ".4f"),
    "auc_top_decile_spend": ("`auc_top_decile_spend`", ".4f"),
    "auc_one_time_repeat": ("`auc_one_time_repeat` (one-time buyers: who repeats)", ".4f"),
    "gini_spend": ("`gini_spend`", ".4f"),
    "interval_coverage": ("`interval_coverage`", ".4f"),
    "interval_expected_coverage": ("`interval_expected_coverage`", ".4f"),
    "mean_interval_width": ("mean interval width (transactions)", ".2f"),
    "parameters": ("posterior means (days)", "s"),
    "max_r_hat": ("largest r-hat (NUTS only)", ".3f"),
    "fit_seconds": ("fit seconds (building included)", ".1f"),
}
# every backtest candidate by name, with or without covariates
CANDIDATE_MODELS = {**PURCHASE_MODELS, **COVARIATE_PURCHASE_MODELS}
# the effects of the first order's value shown (models.evaluation_effects.coefficient):
# what exp(coefficient) multiplies, per model family
EFFECTS = {
    "purchase_coefficient_alpha": "purchase rate",
    "purchase_coefficient": "purchase rate",
    "dropout_coefficient_a": "dropout a (a higher a: more dropout)",
    "dropout_coefficient_b": "dropout b (a higher b: less dropout)",
    "dropout_coefficient": "dropout rate",
}
VALUE_COVARIATE = "value_z"
CHANNEL_COVARIATES = ("channel_2", "channel_3", "channel_other")
# Fader, Hardie & Lee (2005), "Counting your customers the easy way": BG/NBD MLE on this
# sample (alpha in weeks there, x 7 here), and its forecast of cumulative repeat
# transactions at week 78: about 4% under what happened.
PUBLISHED_MODEL = "bgnbd"
PUBLISHED_MLE = {"r": 0.243, "alpha": 4.414 * 7, "a": 0.793, "b": 2.426}
PUBLISHED_TRACKING_ERROR_PCT = -4.0


def calibration_histories(path: Path):
    """(frequency, recency, T) in days of every customer as of the cutoff, from the orders
    with pandas (independent of the SQL)."""
    import pandas as pd

    from clv_assets.cdnow import CUTOFF, cdnow_orders

    orders = cdnow_orders(path)
    orders["day"] = pd.to_datetime(orders.ordered_at).dt.normalize()
    daily = orders.groupby(["customer_id", "day"]).amount.sum().reset_index()
    cut = pd.Timestamp(CUTOFF)
    calibration = daily[daily.day <= cut].groupby("customer_id").day
    return pd.DataFrame({
        "frequency": calibration.count() - 1.0,
        "recency": (calibration.max() - calibration.min()).dt.days * 1.0,
        "T": (cut - calibration.min()).dt.days * 1.0,
    })


def published_forecast(path: Path, holdout_days: float) -> float:
    """The holdout repeat transactions the published MLE implies: the sum of the customers'
    conditional expectations."""
    from clv_assets.stats.registry import PURCHASE_MODELS

    rfm = calibration_histories(path)
    model = PURCHASE_MODELS[PUBLISHED_MODEL]
    expected = model.expected_purchases(**PUBLISHED_MLE, x=rfm.frequency.to_numpy(), t_x=rfm.recency.to_numpy(),
                                        T=rfm["T"].to_numpy(), t=holdout_days)
    return float(expected.sum())


def lift_cell(row, figure: str) -> str:
    """``1.43 (1.12-1.81)``: a lift and its 90% interval, or ``-`` where there is none."""
    if row[figure] != row[figure]:
        return "-"
    return f"{row[figure]:.2f} ({fmt(row[f'{figure}_p05'], '.2f', 'n/a')}-{fmt(row[f'{figure}_p95'], '.2f', 'n/a')})"


def candidates(covariates: bool) -> list[str]:
    """The backtest's candidates in the page's column order: each purchase model, then its
    covariate model (``covariates``)."""
    return [
        name for base in PURCHASE_MODELS
        for name in [base, *(c for c, spec in COVARIATE_PURCHASE_MODELS.items() if covariates and spec.base == base)]
    ]


def _cell(figure: str, value) -> str:
    label, spec = FIGURES[figure]
    if figure == "parameters":  # a coefficient vector (a list) is in the effects table
        return ", ".join(f"{k} {v:.3f}" if v < 10 else f"{k} {v:.2f}" for k, v in json.loads(value).items()
                         if not isinstance(v, list))
    if figure == "method":
        return method_label(value)
    return fmt(value, spec)


def interval(row, prefix: str = "ratio") -> str:
    """``1.40 (1.28 to 1.51)``: an effect's posterior mean and 90% interval."""
    return f"{row[prefix]:.2f} ({row[f'{prefix}_p05']:.2f} to {row[f'{prefix}_p95']:.2f})"


def effects_table(effects) -> str:
    """The first order's value per covariate model: each coefficient's ratio per +1 sd
    (purchase before dropout; ``effects`` in the models' order)."""
    value = effects[effects.covariate == VALUE_COVARIATE]
    value = value.assign(_order=value.coefficient.map(list(EFFECTS).index)).sort_values("_order", kind="stable")
    value = value.assign(_model=value.model.map(list(dict.fromkeys(effects.model)).index)).sort_values("_model", kind="stable")
    return markdown_table(
        ["model", "ratio of", "per +1 sd of the first order's value (90%)", "coefficient (90%)"],
        [[CANDIDATE_MODELS[r.model].label, EFFECTS.get(r.coefficient, r.coefficient), interval(r), interval(r, "mean")]
         for _, r in value.iterrows()],
    )


def dropout_sentence(effects, scores) -> str:
    """For BG/NBD-family covariate models (dropout through a and b): the mean dropout
    probability after a purchase, a / (a + b), at the posterior means, at an average first
    order and one 1 sd more valuable (a point figure: the table gives each ratio alone)."""
    parts = []
    for model, row in scores.iterrows():
        params = json.loads(row.parameters)
        if "a_scale" not in params:
            continue
        value = effects[(effects.model == model) & (effects.covariate == VALUE_COVARIATE)].set_index("coefficient")["mean"]
        a, b = params["a_scale"], params["b_scale"]
        a1, b1 = a * math.exp(value["dropout_coefficient_a"]), b * math.exp(value["dropout_coefficient_b"])
        before, after = a / (a + b), a1 / (a1 + b1)
        parts.append(f"{CANDIDATE_MODELS[model].label} {before:.3f} at an average first order, {after:.3f} at +1 sd "
                     f"(x{after / before:.2f})")
    if not parts:
        return ""
    return ("In the BG/NBD family a and b move together; what they mean for dropout, at the posterior means: the mean "
            "probability of dropping out after a purchase, a / (a + b), is " + "; ".join(parts) + ".")


def pairs_sentence(scores) -> str:
    """Each covariate model against its base model by the choice's own test (``model: auto``
    applies it to the best base model's pair only)."""
    from clv_assets.stats.evaluation.choice import covariates_win

    verdicts = []
    for model, spec in COVARIATE_PURCHASE_MODELS.items():
        if model in scores.index and spec.base in scores.index:
            wins, why = covariates_win(scores.loc[model], scores.loc[spec.base])
            verdicts.append(f"{spec.label} {'would be taken' if wins else 'would not be taken'}: {why}")
    return ("Each covariate model against its own base model by the same test (the choice applies it to the best "
            "base model only): " + "; ".join(verdicts) + ".") if verdicts else ""


def channel_sentence(effects, scores) -> str:
    """What the channel coefficients show on a one-channel account (``scores``: the
    covariate models' scorecard rows): their prior, if nothing broke; and the fits' largest
    r-hat against the served fit's convergence check."""
    from clv_assets.defs.evaluation.assets import EvaluationConfig
    from clv_assets.defs.models.assets import FitConfig

    channels = effects[effects.covariate.isin(CHANNEL_COVARIATES)]
    if not len(channels):
        return ""
    r_hat, served, backtest = scores.max_r_hat.max(), FitConfig(), EvaluationConfig()
    if r_hat == r_hat:
        within = "within" if r_hat <= served.max_r_hat else "above"
        r_hat_text = (
            f"The largest r-hat of the covariate fits by NUTS, these coefficients included, is {r_hat:.3f} with the "
            f"backtest's {backtest.draws} draws a chain, {within} the {served.max_r_hat} a served fit's `converged` "
            f"check allows (a served fit draws {served.draws} a chain)."
        )
    else:
        r_hat_text = "No covariate fit was by NUTS, so there is no r-hat."
    return (
        f"CDNOW has one channel (every first order's channel is `unknown`, rank 1), so the channel indicators "
        f"({', '.join(f'`{c}`' for c in CHANNEL_COVARIATES)}) are 0 for every customer and the likelihood does not "
        f"depend on their {len(channels)} coefficients: they should stay at their Normal(0, 1) prior (mean 0, 90% "
        f"interval -1.64 to 1.64), and they do: posterior means {channels['mean'].min():+.3f} to "
        f"{channels['mean'].max():+.3f}, lower 90% bounds {channels.mean_p05.min():.2f} to {channels.mean_p05.max():.2f}, "
        f"upper {channels.mean_p95.min():.2f} to {channels.mean_p95.max():.2f}. They break neither the fits (each "
        f"fitted and was scored) nor the effects table: their rows are in `models.evaluation_effects` with no level "
        f"(the account has no such channel) and are left out above. {r_hat_text}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="auto", choices=FIT_METHODS)
    parser.add_argument("--cdnow", type=Path, default=ROOT / "clv_assets_tests" / "fixtures" / "cdnow" / "CDNOW_sample.txt")
    parser.add_argument("--covariates", action=argparse.BooleanOptionalAction, default=True,
                        help="each purchase model beside its covariate model (the first order's value; default: on)")
    add_markdown_option(parser, "cdnow_scorecard.md")
    args = parser.parse_args()
    page = Page("CDNOW holdout scorecard", "scripts/cdnow_scorecard.py")
    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["DAGSTER_HOME"] = str(root / "dagster_home")
        (root / "dagster_home").mkdir()
        import dagster as dg

        from clv_assets.cdnow import cdnow_orders, evaluation_run_config, materialize_backtest
        from clv_assets.lib.resources import warehouse_resource
        from clv_assets.lib.segments import load_segments

        (root / "landing" / ACCOUNT).mkdir(parents=True)
        cdnow_orders(args.cdnow).to_csv(root / "landing" / ACCOUNT / "cdnow.csv", index=False)
        warehouse = root / "warehouse.duckdb"
        started = time.perf_counter()
        result = materialize_backtest(
            ACCOUNT, root / "landing", warehouse, dg.DagsterInstance.get(),
            # Dagster's own console log stays quiet, as in clv-assets; every event is in the instance
            {**evaluation_run_config(method=args.method, candidates=candidates(args.covariates)), "loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        )
        run_seconds = time.perf_counter() - started
        if not result.success:
            print("backtest run failed", file=sys.stderr)
            return 1
        with warehouse_resource(warehouse).get_connection() as conn:
            scores = conn.execute("SELECT * FROM models.evaluation WHERE account = $a ORDER BY model", {"a": ACCOUNT}).df()
            choice = conn.execute("SELECT * FROM models.model_choice WHERE account = $a", {"a": ACCOUNT}).df()
            lift = conn.execute("SELECT * FROM models.evaluation_segments WHERE account = $a ORDER BY segment", {"a": ACCOUNT}).df()
            effects = conn.execute("SELECT * FROM models.evaluation_effects WHERE account = $a", {"a": ACCOUNT}).df()
    window = scores.iloc[0]
    scores = scores.set_index("model")
    # each model beside its covariate model, whichever candidates ran
    models = [name for name in candidates(True) if name in scores.index]
    labels = [CANDIDATE_MODELS[name].label for name in models]

    summary = (f"CDNOW 1/10 sample: {int(window.n_customers):,} customers, calibration weeks 1-39 to "
               f"{window.cutoff.date()}, holdout weeks 40-78 {window.holdout_start.date()} .. "
               f"{window.holdout_end.date()} ({window.holdout_days} days); the backtest run took {run_seconds:.0f} s.")
    scorecard = markdown_table(["figure", *labels], [
        [FIGURES[f][0], *(_cell(f, scores.loc[m, f]) for m in models)] for f in FIGURES if f in scores.columns
    ])
    chosen = choice.iloc[0]
    chosen_line = (f"`model: auto` would serve **{CANDIDATE_MODELS[chosen.chosen_model].label}** "
                   f"({chosen.score_name} {chosen.score:.4f}): {chosen.reason}")
    covariate_models = [m for m in models if m in COVARIATE_PURCHASE_MODELS]
    effects = effects.set_index("model").loc[covariate_models].reset_index()  # the scorecard's order
    value_effects = effects_table(effects) if covariate_models else ""
    channels = channel_sentence(effects, scores.loc[covariate_models]) if covariate_models else ""
    dropout = dropout_sentence(effects, scores.loc[covariate_models]) if covariate_models else ""
    pairs = pairs_sentence(scores)

    published_rows = []
    if PUBLISHED_MODEL in scores.index:
        ours = scores.loc[PUBLISHED_MODEL]
        label = PURCHASE_MODELS[PUBLISHED_MODEL].label
        from_mle = published_forecast(args.cdnow, float(window.holdout_days))
        actual = float(ours.actual_repeat_orders)
        params = json.loads(ours.parameters)
        published_rows = [
            [f"{label}: cumulative repeat transactions at week 78, error", f"about {PUBLISHED_TRACKING_ERROR_PCT:+.0f}%",
             f"{ours.tracking_error_pct:+.1f}% (`tracking_error_pct`)"],
            ["holdout repeat transactions that happened", "1,882", f"{actual:,.0f}"],
            [f"{label}: holdout repeat transactions forecast (sum of conditional expectations)",
             f"{from_mle:,.0f} ({100 * (from_mle / actual - 1):+.1f}%) at the published MLE",
             f"{ours.predicted_repeat_orders:,.1f} ({ours.aggregate_error_pct:+.1f}%) at our posterior"],
            *([f"{label}: {name}" + (" (days)" if name == "alpha" else ""), f"{value:.3f} (MLE)",
               f"{params[name]:.3f} (posterior mean)"] for name, value in PUBLISHED_MLE.items()),
        ]
    published = markdown_table(["figure", "published (Fader, Hardie & Lee 2005)", "ours"], published_rows)

    lift_rows = []
    order = [s.name for s in load_segments()]
    lift = lift.assign(_order=[order.index(s) if s in order else len(order) for s in lift.segment]).sort_values("_order")
    for _, row in lift.iterrows():
        lift_rows.append([
            f"`{row.segment}`", f"{row.members:,}", f"{row.comparison_customers:,}",
            f"{100 * row.member_share_ordered:.1f}% / {100 * row.comparison_share_ordered:.1f}%"
            if row.members and row.comparison_customers else "-",
            lift_cell(row, "order_rate_lift"),
            f"{fmt(row.member_mean_spend, '.2f')} / {fmt(row.comparison_mean_spend, '.2f')}"
            if row.members and row.comparison_customers else "-",
            lift_cell(row, "spend_lift"),
        ])
    lift_table = markdown_table(
        ["segment", "members", "comparison group", "share ordered: members / comparison", "order-rate lift (90%)",
         "mean holdout spend: members / comparison", "spend lift (90%)"], lift_rows)
    lift_model = CANDIDATE_MODELS[lift.purchase_model.iloc[0]].label if len(lift) else "-"

    print(summary + "\n")
    print(scorecard)
    print(f"\n{chosen_line}\n")
    if pairs:
        print(f"{pairs}\n")
    if covariate_models:
        print("effects of the first order's value (models.evaluation_effects):")
        print(value_effects)
        print(f"\n{dropout}\n\n{channels}\n")
    print(published)
    print(f"\nsegment lift (models.evaluation_segments; segments as of the cutoff, {lift_model}):")
    print(lift_table)

    page.how_to_read(
        "Each candidate is fitted on the calibration weeks only and scored on what the calibration cohort did in "
        "the holdout (the figures are defined in the README, \"How good are the predictions\"). The published "
        "BG/NBD forecast error is of the cumulative repeat transactions at week 78, calibration included, which "
        "is our `tracking_error_pct`; the holdout-only `aggregate_error_pct` is larger for every model, and at "
        "the published MLE too, so that gap is the model's, not the code's. Observed interval coverage should "
        "match the expected coverage (counts are discrete, so a 90% interval holds more). The segment lift is "
        "members / comparison group on the holdout, with 90% Poisson-bootstrap intervals."
        + (" Each purchase model stands beside its covariate model, fitted on the same calibration customers with "
           "the first order's value (log, standardised within the account, on a 0.25 sd grid) as a purchase and "
           "dropout covariate; `auc_one_time_repeat` is where such a covariate can help, since without it a "
           "one-time buyer's prediction depends on their age alone. `model: auto` takes a covariate model only where "
           "it beats its own base model on both the MAE (beyond the 0.5% tie tolerance) and the one-time-buyer AUC."
           if covariate_models else "")
    )
    page.text(summary)
    page.section("Scorecard")
    page.blocks.append(scorecard)
    page.text(chosen_line)
    if pairs:
        page.text(pairs)
    if covariate_models:
        page.section("With and without the first order's value")
        page.text("The first order's value is CDNOW's only covariate. Its effects in each covariate model "
                  "(`models.evaluation_effects`): exp(coefficient), the factor a first order one standard deviation "
                  "more valuable multiplies the parameter by, with its 90% posterior interval; an interval that "
                  "covers 1 is no evidence of an effect.")
        page.blocks.append(value_effects)
        if dropout:
            page.text(dropout)
        page.text(channels)
    page.section("Against the published figures")
    page.blocks.append(published)
    page.section(f"Segment lift on the holdout (segments as of the cutoff under {lift_model})")
    page.blocks.append(lift_table)
    page.write(args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
