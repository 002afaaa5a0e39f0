"""Synthetic order files for demo merchant accounts.

Completed orders follow the BG/NBD purchase process and the Gamma-Gamma spend model
exactly (time unit: days), so a fitted model can be checked against the true parameters
written to each account's ``_truth.json``. The files also carry what real exports carry:
cancelled and refunded orders, mixed timestamp formats and a fixed set of invalid rows at
the end of the CSV file.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import functools
import json
import pathlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

ACCOUNT_NAMES = ("acme-outdoor", "bluebird-books", "cedar-coffee", "dune-apparel",
                 "elm-garden", "fjord-fitness")
CURRENCIES = ("USD", "EUR", "GBP", "CAD", "AUD", "NZD", "CHF", "SEK")
CHANNELS = ("email", "sms", "search", "social", "direct")
STATUSES = ("completed", "cancelled", "refunded")
COLUMNS = ("order_id", "customer_id", "ordered_at", "amount", "currency", "channel", "status")
HISTORY_FILE, RECENT_FILE, TRUTH_FILE = "orders_history.csv", "orders_recent.parquet", "_truth.json"
WINDOW_DAYS, ACQUISITION_DAYS, RECENT_DAYS = 730, 365, 180
CANCEL_RATE, REFUND_RATE = 0.04, 0.02
FORMAT_WEIGHTS = (0.8, 0.1, 0.1)  # naive UTC, "Z", explicit offset
OFFSET_MINUTES = (120, 60, -300, -240, 330, 540, -180, 600)
# Customers are simulated in fixed-size chunks so memory does not grow with n_customers;
# the chunk size is part of the seed-to-output mapping, so do not change it lightly.
CHUNK_CUSTOMERS = 100_000
DAY = 86_400



@dataclasses.dataclass(frozen=True)
class Shape:
    """How a generated account's orders spread over time: first orders uniform over the
    first ``acquisition_days`` of a ``window_days`` window; BG/NBD and Gamma-Gamma
    parameters drawn per account unless given (``bgnbd``: r, alpha, a, b; ``gamma_gamma``:
    p, q, gamma). The default is the demo's; other shapes serve the benchmarks."""

    window_days: int = WINDOW_DAYS
    acquisition_days: int = ACQUISITION_DAYS
    bgnbd: dict | None = None
    gamma_gamma: dict | None = None


DEMO_SHAPE = Shape()

_PARQUET_SCHEMA = pa.schema([(c, pa.float64() if c == "amount" else pa.string()) for c in COLUMNS])
_CSV_SCHEMA = pa.schema([(c, pa.string()) for c in COLUMNS])


def account_name(index: int) -> str:
    """Slug of the ``index``-th demo account (``shop-07``, ``shop-08``... after the named ones)."""
    return ACCOUNT_NAMES[index] if index < len(ACCOUNT_NAMES) else f"shop-{index + 1:02d}"


def _order_prefix(account: str) -> str:
    return "".join(p if p.isdigit() else p[0] for p in account.split("-")).upper()


def _draw_params(rng: np.random.Generator) -> tuple[dict, dict]:
    def u(lo: float, hi: float) -> float:
        return round(float(rng.uniform(lo, hi)), 3)

    bgnbd = {"r": u(0.3, 1.2), "alpha": u(20, 80), "a": u(0.5, 1.5), "b": u(2, 6)}
    gamma_gamma = {"p": u(4, 8), "q": u(3, 6), "gamma": u(10, 40)}
    return bgnbd, gamma_gamma


def _simulate_chunk(ss: np.random.SeedSequence, n: int, bg: dict, gg: dict, shape: Shape = DEMO_SHAPE) -> dict:
    """Orders of ``n`` customers: local customer index, time in days since window start, etc.

    Completed orders, spend, cosmetics (channel, timestamp format) and the extra
    cancelled/refunded rows use separate streams, so the extras never shift the model draws.
    """
    proc, spend, cosm, extra = (np.random.default_rng(s) for s in ss.spawn(4))
    t0 = proc.uniform(0.0, shape.acquisition_days, n)
    lam = proc.gamma(bg["r"], 1.0 / bg["alpha"], n)
    drop = np.clip(proc.beta(bg["a"], bg["b"], n), 1e-12, 1.0)
    remaining = shape.window_days - t0
    n_events = proc.poisson(lam * remaining)
    # The customer drops out right after the N-th repeat purchase, N ~ Geometric(p) on 1, 2...
    n_repeat = np.minimum(n_events, proc.geometric(drop))
    # Given n Poisson events in (t0, end), their times are uniform order statistics. The
    # first k of them are S_j / (S_k + G), S_j cumulative Exp(1) sums and G ~ Gamma(n-k+1)
    # standing in for the n-k+1 unused spacings, so only purchases that happen are drawn.
    owner = np.repeat(np.arange(n), n_repeat)
    cum = np.concatenate([[0.0], np.cumsum(proc.exponential(size=int(n_repeat.sum())))])
    stops = np.cumsum(n_repeat)
    starts = stops - n_repeat
    total = cum[stops] - cum[starts] + proc.gamma(n_events - n_repeat + 1.0)
    t_repeat = t0[owner] + remaining[owner] * (cum[1:] - cum[starts][owner]) / total[owner]

    cust = np.concatenate([np.arange(n), owner])
    t = np.concatenate([t0, t_repeat])
    nu = spend.gamma(gg["q"], 1.0 / gg["gamma"], n)
    amount = spend.gamma(gg["p"], 1.0 / nu[cust])
    status = np.zeros(len(t), dtype=np.int8)

    n_cancel, n_refund = extra.binomial(len(t), CANCEL_RATE), extra.binomial(len(t), REFUND_RATE)
    # Picking a random completed order weights customers by how often they buy.
    e_cust = cust[extra.integers(0, len(t), n_cancel + n_refund)]
    last = t0.copy()
    has_repeat = n_repeat > 0
    last[has_repeat] = t_repeat[stops[has_repeat] - 1]
    span = np.maximum(last - t0, 1.0)[e_cust]
    e_t = np.minimum(t0[e_cust] + extra.random(len(e_cust)) * span, shape.window_days - 1.0 / DAY)
    e_amount = extra.gamma(gg["p"], 1.0 / nu[e_cust])
    cust = np.concatenate([cust, e_cust])
    t = np.concatenate([t, e_t])
    amount = np.maximum(np.round(np.concatenate([amount, e_amount]), 2), 0.01)
    status = np.concatenate([status, np.repeat(np.int8([1, 2]), [n_cancel, n_refund])])

    favourite = cosm.integers(0, len(CHANNELS), n)
    loyalty = cosm.uniform(0.6, 0.7, n)
    other = (favourite[cust] + cosm.integers(1, len(CHANNELS), len(t))) % len(CHANNELS)
    channel = np.where(cosm.random(len(t)) < loyalty[cust], favourite[cust], other)
    fmt = cosm.choice(3, len(t), p=FORMAT_WEIGHTS)
    offset = cosm.integers(0, len(OFFSET_MINUTES), len(t))
    return {"cust": cust, "t": t, "amount": amount, "status": status, "channel": channel,
            "fmt": fmt, "offset": offset}


def _text_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    digits = pc.utf8_lpad(pa.array(numbers).cast(pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


@functools.cache
def _clock_texts() -> pa.Array:
    """"THH:MM:SS" for every second of a day."""
    clocks = np.datetime_as_string(np.arange(DAY).astype("datetime64[s]"))
    return pc.utf8_slice_codeunits(pa.array(clocks), 10)


def _timestamps(utc_seconds: np.ndarray, fmt: np.ndarray, offset: np.ndarray) -> pa.Array:
    """ISO-8601 text: naive (meaning UTC), with "Z", or local time with an explicit offset."""
    local = utc_seconds + np.where(fmt == 2, np.asarray(OFFSET_MINUTES)[offset] * 60, 0)
    day, clock = np.divmod(local, DAY)
    # Joining looked-up date and clock texts is several times faster than pc.strftime.
    first = int(day.min(initial=0))
    dates = np.arange(first, int(day.max(initial=0)) + 1).astype("datetime64[D]")
    suffixes = ["", "Z"] + [f"{'+' if m >= 0 else '-'}{abs(m) // 60:02d}:{abs(m) % 60:02d}"
                            for m in OFFSET_MINUTES]
    return pc.binary_join_element_wise(
        pc.take(pa.array(np.datetime_as_string(dates)), day - first),
        pc.take(_clock_texts(), clock),
        pc.take(pa.array(suffixes), np.where(fmt == 2, 2 + offset, fmt)), "")


def _amount_text(amount: np.ndarray) -> pa.Array:
    cents = np.rint(amount * 100).astype(np.int64)
    frac = pc.utf8_lpad(pa.array(cents % 100).cast(pa.string()), width=2, padding="0")
    return pc.binary_join_element_wise(pa.array(cents // 100).cast(pa.string()), frac, ".")


def _bad_rows(rng, prefix, currency, next_id, dup_ids, cust_width, n_customers, start_s, end, window_days):
    """Two invalid rows per reason code, each otherwise valid, in random order."""
    future = dt.datetime.combine(end, dt.time()) + dt.timedelta(days=400)
    others = [c for c in CURRENCIES if c != currency]
    overrides = {
        "missing_customer_id": [{"customer_id": ""}] * 2,
        "missing_order_id": [{"order_id": ""}] * 2,
        "duplicate_order_id": [{"order_id": d} for d in dup_ids],
        "unparseable_timestamp": [{"ordered_at": "not-a-date"},
                                  {"ordered_at": "2024-13-45T00:00:00"}],
        "future_timestamp": [{"ordered_at": (future + dt.timedelta(hours=9)).isoformat()},
                             {"ordered_at": (future + dt.timedelta(days=3)).isoformat() + "Z"}],
        "negative_amount": [{"amount": "-12.50"}, {"amount": "-3.99"}],
        "non_numeric_amount": [{"amount": "abc"}, {"amount": "12,50€"}],
        "currency_mismatch": [{"currency": c} for c in rng.choice(others, 2, replace=False)],
        "unknown_status": [{"status": "pending"}, {"status": "lost"}],
    }
    rows = []
    for kind, changes in overrides.items():
        for change in changes:
            seconds = start_s + int(rng.integers(0, (window_days - RECENT_DAYS) * DAY))
            row = {"order_id": f"{prefix}{next_id + len(rows):06d}",
                   "customer_id": f"C{int(rng.integers(1, n_customers + 1)):0{cust_width}d}",
                   "ordered_at": str(np.datetime64(seconds, "s")),
                   "amount": f"{rng.uniform(5, 80):.2f}", "currency": currency,
                   "channel": str(rng.choice(CHANNELS)), "status": "completed"}
            rows.append([*(row | change).values()])
    counts = {kind: len(changes) for kind, changes in overrides.items()}
    return [rows[i] for i in rng.permutation(len(rows))], counts


def _write_account(folder: pathlib.Path, index: int, ss: np.random.SeedSequence,
                   n_customers: int, seed: int, end: dt.date, shape: Shape) -> dict:
    account, currency = account_name(index), CURRENCIES[index % len(CURRENCIES)]
    prefix = _order_prefix(account) + "-"
    folder.mkdir(parents=True, exist_ok=True)
    for old in [*folder.glob("*.csv"), *folder.glob("*.parquet"), folder / TRUTH_FILE]:
        old.unlink(missing_ok=True)
    params_ss, chunks_ss, bad_ss = ss.spawn(3)
    bad_rng = np.random.default_rng(bad_ss)
    bg, gg = _draw_params(np.random.default_rng(params_ss))
    bg, gg = shape.bgnbd or bg, shape.gamma_gamma or gg
    window = shape.window_days
    end_s = int(dt.datetime.combine(end, dt.time(), tzinfo=dt.UTC).timestamp())
    start_s, split_s = end_s - window * DAY, end_s - RECENT_DAYS * DAY
    cust_width = max(6, len(str(n_customers)))
    n_chunks = -(-n_customers // CHUNK_CUSTOMERS)
    by_status, rows, next_id, dup_ids = np.zeros(3, np.int64), [0, 0], 1, None

    # Arrow quotes header names whatever the quoting style, so the header is written here.
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    with (open(folder / HISTORY_FILE, "wb") as csv_file,
          pacsv.CSVWriter(csv_file, _CSV_SCHEMA, write_options=options) as hist,
          pq.ParquetWriter(folder / RECENT_FILE, _PARQUET_SCHEMA) as recent):
        csv_file.write((",".join(COLUMNS) + "\n").encode())
        csv_file.flush()
        for c, chunk_ss in enumerate(chunks_ss.spawn(n_chunks)):
            first = c * CHUNK_CUSTOMERS
            sim = _simulate_chunk(chunk_ss, min(CHUNK_CUSTOMERS, n_customers - first), bg, gg, shape)
            order = np.argsort(sim["t"], kind="stable")
            sim = {k: v[order] for k, v in sim.items()}
            # Whole seconds, floored and capped, so every order is strictly before ``end``.
            elapsed = np.floor(sim["t"] * DAY).astype(np.int64)
            seconds = start_s + np.minimum(elapsed, window * DAY - 1)
            ids = np.arange(next_id, next_id + len(seconds))
            next_id += len(seconds)
            by_status += np.bincount(sim["status"], minlength=3)
            table = pa.table({
                "order_id": _text_ids(prefix, ids, 6),
                "customer_id": _text_ids("C", first + sim["cust"] + 1, cust_width),
                "ordered_at": _timestamps(seconds, sim["fmt"], sim["offset"]),
                "amount": sim["amount"],
                "currency": pc.take(pa.array([currency]), np.zeros(len(ids), np.int8)),
                "channel": pc.take(pa.array(CHANNELS), sim["channel"]),
                "status": pc.take(pa.array(STATUSES), sim["status"]),
            })
            is_hist = seconds < split_s
            old = table.filter(is_hist)
            old = old.set_column(3, "amount", _amount_text(sim["amount"][is_hist]))
            hist.write_table(old)
            recent.write_table(table.filter(~is_hist))
            rows[0] += old.num_rows
            rows[1] += table.num_rows - old.num_rows
            if dup_ids is None:
                pool = old.column("order_id").to_numpy(zero_copy_only=False)
                dup_ids = [str(x) for x in bad_rng.choice(pool, 2, replace=len(pool) < 2)]

    bad, bad_counts = _bad_rows(bad_rng, prefix, currency, next_id, dup_ids, cust_width,
                                n_customers, start_s, end, window)
    with open(folder / HISTORY_FILE, "a", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows(bad)
    truth = {
        "account": account, "currency": currency, "seed": seed, "end": end.isoformat(),
        "time_unit": "days", "bgnbd": bg, "gamma_gamma": gg, "n_customers": n_customers,
        "n_completed_orders": int(by_status[0]), "n_cancelled": int(by_status[1]),
        "n_refunded": int(by_status[2]),
        "rows_per_file": {HISTORY_FILE: rows[0] + len(bad), RECENT_FILE: rows[1]},
        "bad_rows": bad_counts,
    }
    (folder / TRUTH_FILE).write_text(json.dumps(truth, indent=2) + "\n")
    return truth


def write_demo_accounts(landing_dir: pathlib.Path, n_accounts: int = 3, n_customers: int = 2000,
                        seed: int = 7, end: dt.date | None = None, shape: Shape = DEMO_SHAPE) -> list[dict]:
    """Write synthetic order files for ``n_accounts`` accounts into ``landing_dir/<account>/``.

    Parameters
    ----------
    landing_dir : pathlib.Path
        Folder that gets one sub-folder per account; existing order files there are replaced.
    n_accounts : int
        Number of accounts (named from :data:`ACCOUNT_NAMES`, then ``shop-07``...).
    n_customers : int
        Customers per account; each makes a first purchase in the first year of the window.
    seed : int
        Root seed; account ``i`` uses the ``i``-th spawned child, whatever ``n_accounts`` is.
    end : datetime.date, optional
        Exclusive end (00:00 UTC) of the window (730 days); defaults to today's UTC date.
    shape : Shape
        The window, acquisition period and parameters (default: the demo's).

    Returns
    -------
    list of dict
        Per account, the content of its ``_truth.json``: true BG/NBD and Gamma-Gamma
        parameters (days), order counts, rows per file and invalid rows per reason code.
    """
    if n_customers < 1:
        raise ValueError(f"n_customers must be at least 1, got {n_customers}")
    end = end or dt.datetime.now(dt.UTC).date()
    children = np.random.SeedSequence(seed).spawn(n_accounts)
    return [_write_account(pathlib.Path(landing_dir) / account_name(i), i, ss, n_customers,
                           seed, end, shape) for i, ss in enumerate(children)]


def simulate_bgnbd_histories(n: int, seed: int, r=0.3, alpha=26.4, a=0.9, b=4.0):
    """Distinct (frequency, recency, T) rows, with their counts ``n``, of ``n`` customers
    simulated purchase by purchase from a BG/NBD process (ages uniform in 30-999 days,
    recencies in whole days): the fit benchmarks' and tests' synthetic accounts."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    lam, p = rng.gamma(r, 1 / alpha, n), rng.beta(a, b, n)
    T = rng.integers(30, 1000, n).astype(float)
    x, t_x, t = np.zeros(n), np.zeros(n), np.zeros(n)
    alive = np.ones(n, bool)
    while alive.any():
        idx = np.flatnonzero(alive)
        t[idx] += rng.exponential(1 / lam[idx])
        bought = t[idx] <= T[idx]
        alive[idx[~bought]] = False
        go = idx[bought]
        x[go] += 1
        t_x[go] = np.floor(t[go])
        alive[go[rng.random(len(go)) < p[go]]] = False
    frame = pd.DataFrame({"frequency": x, "recency": t_x, "T": T})
    return frame.groupby(["frequency", "recency", "T"]).size().rename("n").reset_index()
