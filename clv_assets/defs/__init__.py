"""Dagster definitions, one package per domain: assets, checks and sensors side by side."""

import warnings

import dagster as dg

# Partitioned asset checks (one evaluation per account) are a preview feature in
# Dagster 1.13; we depend on them knowingly.
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
