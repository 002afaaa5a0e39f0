"""The Dagster UI's server (what `make ui` runs) serves the asset graph, the account
partitions, the checks, the freshness policies and the fit plots over GraphQL."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

POOLED_PRIOR = "models/pooled_prior"
ASSET_KEYS = {
    "raw/orders",
    "raw/rejected_orders",
    "raw/landing_files",
    "staging/customer_transactions",
    "features/rfm",
    "models/purchase_model",
    "models/gamma_gamma",
    "models/evaluation",
    "predictions/customers",
    "predictions/account_channels",
    "predictions/customer_channels",
    "bands/thresholds",
    "bands/customers",
    "marts/customer_profile",
    "marts/customer_segments",
    "marts/segment_sizes",
    "marts/band_distribution",
    "marts/account_summary",
    "marts/segment_changes",
    "marts/segment_members",
    "models/prediction_snapshots",
    "marts/prediction_audit",
    "features/customer_covariates",
}
EDGES = {  # (upstream, downstream)
    ("raw/orders", "staging/customer_transactions"),
    ("staging/customer_transactions", "features/rfm"),
    ("features/rfm", "models/purchase_model"),
    ("features/rfm", "models/gamma_gamma"),
    ("predictions/customers", "bands/thresholds"),
    ("bands/customers", "marts/customer_profile"),
    ("marts/customer_profile", "marts/customer_segments"),
    ("models/purchase_model", "predictions/customers"),
    ("models/gamma_gamma", "predictions/customers"),
}
STARTUP_SECONDS = 240  # the code server imports the definitions; the machine is shared

ASSET_GRAPH = """
{
  assetNodes {
    assetKey { path }
    dependencyKeys { path }
    isPartitioned
    partitionDefinition { type name }
    internalFreshnessPolicy { ... on TimeWindowFreshnessPolicy { failWindowSeconds } }
  }
}
"""
PARTITIONS = """
query ($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    __typename
    ... on AssetNode { partitionKeys }
  }
}
"""
CHECKS = """
query ($path: [String!]!) {
  assetNodeOrError(assetKey: {path: $path}) {
    ... on AssetNode {
      assetChecksOrError { ... on AssetChecks { checks { name } } }
    }
  }
}
"""
LATEST_METADATA = """
query ($path: [String!]!, $partition: String!) {
  assetOrError(assetKey: {path: $path}) {
    ... on Asset {
      assetMaterializations(partitions: [$partition], limit: 20) {
        partition
        metadataEntries { __typename label ... on MarkdownMetadataEntry { mdStr } }
      }
    }
  }
}
"""
LOCATIONS = """
{
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message } }
      }
    }
  }
}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Webserver:
    def __init__(self, port: int, log: Path):
        self.url = f"http://127.0.0.1:{port}"
        self.log = log

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return json.load(response)

    def graphql(self, query: str, **variables) -> dict:
        body = json.dumps({"query": query, "variables": variables}).encode()
        request = urllib.request.Request(
            self.url + "/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            payload = json.load(response)
        assert "errors" not in payload, payload["errors"]
        return payload["data"]

    def wait_until_loaded(self, process: subprocess.Popen) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            assert process.poll() is None, f"webserver exited:\n{self.log.read_text()[-3000:]}"
            try:
                self.get("/server_info")
                (entry,) = self.graphql(LOCATIONS)["workspaceOrError"]["locationEntries"]
                if entry["loadStatus"] == "LOADED":
                    loaded = entry["locationOrLoadError"]
                    assert loaded["__typename"] == "RepositoryLocation", loaded
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(1)
        pytest.fail(f"webserver not ready within {STARTUP_SECONDS} s:\n{self.log.read_text()[-3000:]}")


@contextlib.contextmanager
def ui_server(command: list[str], env: dict, log: Path, cwd: Path | None = None) -> Iterator[Webserver]:
    """``command`` (``dagster-webserver``, ``dg dev``) serving on a free local port, from when
    its code location has loaded until the block ends; its process group is stopped then."""
    port = _free_port()
    with log.open("w") as output:
        process = subprocess.Popen(
            [*command, "-h", "127.0.0.1", "-p", str(port)],
            cwd=cwd,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the code server (and daemon) go with it
        )
    try:
        server = Webserver(port, log)
        server.wait_until_loaded(process)
        yield server
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


@pytest.fixture
def webserver(workspace, tmp_path):
    """`dagster-webserver` on 127.0.0.1 over the workspace's instance and warehouse."""
    env = {
        **os.environ,
        "DAGSTER_HOME": str(workspace.dagster_home),
        "CLV_WAREHOUSE": str(workspace.warehouse),
        "CLV_LANDING_DIR": str(workspace.landing),
    }
    executable = Path(sys.executable).with_name("dagster-webserver")
    with ui_server([str(executable), "-m", "clv_assets.definitions"], env, tmp_path / "webserver.log") as server:
        yield server


def test_webserver_serves_graph_partitions_checks_freshness_and_plots(webserver, workspace):
    assert "dagster_webserver_version" in webserver.get("/server_info")

    nodes = {"/".join(n["assetKey"]["path"]): n for n in webserver.graphql(ASSET_GRAPH)["assetNodes"]}
    assert set(nodes) == ASSET_KEYS | {POOLED_PRIOR}
    edges = {("/".join(d["path"]), key) for key, node in nodes.items() for d in node["dependencyKeys"]}
    assert EDGES <= edges
    for key, node in nodes.items():
        if key == POOLED_PRIOR:  # learnt across accounts, refreshed when enough have new fits
            assert not node["isPartitioned"]
            assert node["internalFreshnessPolicy"] == {"failWindowSeconds": 7 * 24 * 3600}
            continue
        assert node["isPartitioned"], key
        assert node["partitionDefinition"] == {"type": "DYNAMIC", "name": "accounts"}, key
        assert node["internalFreshnessPolicy"] == {"failWindowSeconds": 36 * 3600}, key

    # the registered accounts: the demo ones and those other tests of the session added
    registered = dg.DagsterInstance.get().get_dynamic_partitions("accounts")
    accounts = sorted(t["account"] for t in workspace.truths)
    assert set(accounts) <= set(registered)
    for key in ("raw/orders", "predictions/customers"):
        partitions = webserver.graphql(PARTITIONS, path=key.split("/"))["assetNodeOrError"]
        assert sorted(partitions["partitionKeys"]) == sorted(registered)

    checks = webserver.graphql(CHECKS, path=["raw", "orders"])["assetNodeOrError"]
    names = {c["name"] for c in checks["assetChecksOrError"]["checks"]}
    assert {"rows_conserved", "accounts_loaded_recently"} <= names

    latest = webserver.graphql(LATEST_METADATA, path=["models", "purchase_model"], partition=accounts[0])
    # the latest fit that sampled: a later same-day run of the account (another test's)
    # reuses the stored fit and records the reuse, not the plots
    materialization = next(
        m for m in latest["assetOrError"]["assetMaterializations"]
        if any(e["label"] == "posterior_plot" for e in m["metadataEntries"])
    )
    assert materialization["partition"] == accounts[0]
    images = {
        e["label"]: e["mdStr"] for e in materialization["metadataEntries"] if e["__typename"] == "MarkdownMetadataEntry"
    }
    for label in ("posterior_plot", "p_alive_matrix", "repeat_orders_plot"):
        assert images[label].startswith("![") and "(data:image/png;base64,iVBORw0KGgo" in images[label]
