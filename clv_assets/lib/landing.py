"""Landing folders: ``<landing>/<account>/*.csv|*.parquet``, read as text for validation.

Files whose names start with ``.`` or ``_`` are ignored (the Hadoop convention for
markers and side files such as ``_account.json``); any other file that is not CSV or
Parquet, or a file without the required columns, is a :class:`MalformedLandingFile`.
"""

from __future__ import annotations

import codecs
import glob as globbing
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import yaml
from pydantic import BaseModel

from clv_assets.lib.account_settings import AccountSettings, InvalidAccountSettings
from clv_assets.lib.accounts import is_valid_account
from clv_assets.lib.shopify import read_shopify_export
from clv_assets.lib.sources import ShopifyExportSource, poll_update_value, read_source, watermark_text

REQUIRED_COLUMNS = ("order_id", "customer_id", "ordered_at", "amount", "currency")
OPTIONAL_COLUMNS = ("channel", "status")
FORMATS = {".csv": "csv", ".parquet": "parquet"}
ACCOUNT_SETTINGS_FILE = "_account.json"
ACCOUNTS_FILE = "accounts.yaml"


class MalformedLandingFile(ValueError):
    """A landed file that cannot be read as orders. The message names the file."""


@dataclass(frozen=True)
class LandingFile:
    path: Path
    format: str
    size: int
    modified_ns: int


def accounts_file(landing_dir: Path) -> Path:
    """The project-level settings of accounts (``CLV_ACCOUNTS_FILE``, default beside the landing folder)."""
    return Path(os.environ.get("CLV_ACCOUNTS_FILE") or landing_dir.parent / ACCOUNTS_FILE).absolute()


def project_accounts(landing_dir: Path) -> dict[str, dict]:
    """``accounts.yaml``'s ``accounts:`` mapping (account -> settings), {} without the file;
    a malformed file or an invalid account name is a :class:`MalformedLandingFile`."""
    path = accounts_file(landing_dir)
    if not path.is_file():
        return {}
    try:
        parsed = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise MalformedLandingFile(f"{path}: not valid YAML ({_first_line(exc)})") from None
    accounts = parsed.get("accounts") if isinstance(parsed, dict) else None
    if not isinstance(accounts, dict) or set(parsed) != {"accounts"}:
        raise MalformedLandingFile(f"{path}: expected one key 'accounts' mapping account names to settings")
    for name, settings in accounts.items():
        if not isinstance(name, str) or not is_valid_account(name):
            raise MalformedLandingFile(f"{path}: invalid account name {name!r} (a lowercase slug [a-z0-9][a-z0-9_-]*)")
        if not isinstance(settings, dict):
            raise MalformedLandingFile(f"{path}: accounts.{name}: expected a mapping of settings")
    return accounts


def discover_accounts(landing_dir: Path) -> tuple[list[str], list[str]]:
    """Accounts of the landing folder and of ``accounts.yaml``, and refused folder names."""
    valid, refused = account_folders(landing_dir)
    return sorted(set(valid) | set(project_accounts(landing_dir))), refused


def account_folders(landing_dir: Path) -> tuple[list[str], list[str]]:
    """Valid account folder names, and the names refused because they are not slugs."""
    if not landing_dir.is_dir():
        return [], []
    names = sorted(p.name for p in landing_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    return [n for n in names if is_valid_account(n)], [n for n in names if not is_valid_account(n)]


def landing_files(account_dir: Path) -> list[LandingFile]:
    """The account's order files, sorted by name; raises on a file of unknown type."""
    files = []
    for path in sorted(account_dir.iterdir()):
        if path.name.startswith((".", "_")) or path.is_dir():
            continue
        fmt = FORMATS.get(path.suffix.lower())
        if fmt is None:
            raise MalformedLandingFile(
                f"{path}: not a CSV or Parquet file (expected *.csv or *.parquet)"
            )
        stat = path.stat()
        files.append(LandingFile(path, fmt, stat.st_size, stat.st_mtime_ns))
    return files


def fingerprint(account_dir: Path) -> str:
    """Changes whenever a file of the account is added, removed or rewritten."""
    entries = [
        (p.name, s.st_size, s.st_mtime_ns)
        for p in sorted(account_dir.iterdir())
        if p.is_file() and not p.name.startswith(".")
        for s in [p.stat()]
    ]
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()[:16]


def account_settings(account_dir: Path) -> dict:
    """Optional per-account settings (for example ``{"currency": "EUR"}``), every key
    checked (``lib/account_settings.py``): an invalid file is a :class:`MalformedLandingFile`.

    From ``<account>/_account.json``, else from the account's entry in ``accounts.yaml``
    (not both); relative source paths are read against the file's folder.
    """
    path = account_dir / ACCOUNT_SETTINGS_FILE
    declared = project_accounts(account_dir.parent).get(account_dir.name)
    if declared is not None and path.exists():
        raise MalformedLandingFile(
            f"{path}: account {account_dir.name!r} also has settings in {accounts_file(account_dir.parent)}; keep one"
        )
    if declared is not None:
        where = accounts_file(account_dir.parent)
        return _checked(declared, f"{where}: accounts.{account_dir.name}", where.parent)
    if not path.exists():
        return {}
    try:
        settings = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise MalformedLandingFile(f"{path}: not valid JSON ({exc.msg})") from exc
    if not isinstance(settings, dict):
        raise MalformedLandingFile(f"{path}: expected a JSON object")
    return _checked(settings, str(path), account_dir)


def _checked(values: dict, where: str, base: Path) -> dict:
    try:
        settings = AccountSettings.checked(values, where).as_dict()
    except InvalidAccountSettings as exc:
        raise MalformedLandingFile(str(exc)) from None
    if "source" in settings:
        settings["source"] = settings["source"].resolved(base)
    return settings


def source_fingerprint(account_dir: Path) -> str:
    """Changes when the account's folder, its settings or its source's files change
    (a database source's rows are polled by the sensor, not fingerprinted here)."""
    settings = account_settings(account_dir)
    source = settings.get("source")
    parts = [fingerprint(account_dir) if account_dir.is_dir() else "", repr(source)]
    for key in ("database", "parquet", "path"):
        pattern = getattr(source, key, None)
        if pattern:
            parts += [(p, os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in sorted(globbing.glob(pattern))]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def stage_files(conn: duckdb.DuckDBPyConnection, files: list[LandingFile]) -> None:
    """Load every file as text into the temp table ``landing_rows``.

    Columns: source_file, source_row (1-based data row), and every contract column as
    VARCHAR (missing optional columns are NULL), so validation sees the values as sent.
    """
    columns = ", ".join(f"{c} VARCHAR" for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
    conn.execute(
        f"CREATE OR REPLACE TEMP TABLE landing_rows "
        f"(source_file VARCHAR, source_row BIGINT, {columns})"
    )
    for file in files:
        reader = (
            # the dialect is fixed (RFC 4180): sniffing only samples the first rows and
            # can miss a quoted value further down
            "read_csv($path, all_varchar = true, header = true, delim = ',', quote = '\"', escape = '\"', comment = '')"
            if file.format == "csv"
            else "read_parquet($path)"
        )
        path = {"path": str(file.path)}
        try:
            present = [row[0] for row in conn.execute(f"DESCRIBE SELECT * FROM {reader}", path).fetchall()]
        except duckdb.Error as exc:
            raise _unreadable(file, exc) from exc
        missing = [c for c in REQUIRED_COLUMNS if c not in present]
        if missing:
            raise MalformedLandingFile(
                f"{file.path}: missing required column(s) {', '.join(missing)}; "
                f"found {', '.join(present) or 'none'}"
            )
        selected = ", ".join(
            f"CAST({c} AS VARCHAR)" if c in present else "NULL" for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS
        )
        try:
            conn.execute(
                f"INSERT INTO landing_rows SELECT $name, row_number() OVER (), {selected} FROM {reader}",
                {"name": file.path.name, **path},
            )
        except duckdb.Error as exc:
            raise _unreadable(file, exc) from exc


def loaded_state(files_fingerprint: str, source, watermark) -> str:
    """What a load read, as the sensor compares it: the files' and settings' fingerprint, and
    for a source with an update column its largest update value."""
    if getattr(source, "update_column", None) is None:
        return files_fingerprint
    return f"{files_fingerprint}@{watermark_text(watermark)}"


def source_state(account_dir: Path) -> str:
    """The account's :func:`loaded_state` now: one ``max`` query polls a source with an
    update column (raises :class:`SourceError` when the source cannot be reached)."""
    source = account_settings(account_dir).get("source")
    polled = poll_update_value(source) if getattr(source, "update_column", None) else None
    return loaded_state(source_fingerprint(account_dir), source, polled)


def stage_source(conn: duckdb.DuckDBPyConnection, source: BaseModel, since=None) -> tuple[list[str], object]:
    """Read ``source`` (not ``landing``) into ``landing_rows``, with ``since`` only the rows
    its update column puts after it; what was read and the largest update value."""
    if isinstance(source, ShopifyExportSource):
        table, names = read_shopify_export(source)
    else:
        table, names = read_source(source, since)
    conn.register("source_rows", table)
    try:
        conn.execute("INSERT INTO landing_rows SELECT * EXCLUDE (update_value) FROM source_rows")
        (watermark,) = conn.execute("SELECT max(update_value) FROM source_rows").fetchone()
    finally:
        conn.unregister("source_rows")
    return names, watermark


def _unreadable(file: LandingFile, exc: duckdb.Error) -> MalformedLandingFile:
    """The one-line reason a file failed to load, naming the file and, where it can tell,
    the cause: DuckDB reports an undecodable byte only as a CSV error on some line."""
    if file.format == "csv":
        problem = utf8_problem(file.path)
        if problem:
            return MalformedLandingFile(f"{file.path}: not UTF-8 ({problem}); re-export the file as UTF-8")
    return MalformedLandingFile(f"{file.path}: cannot be read as {file.format} ({_first_line(exc)})")


def utf8_problem(path: Path, chunk_bytes: int = 1 << 20) -> str | None:
    """Where ``path`` first fails to decode as UTF-8 (byte, offset, line), or None if it decodes."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, lines = 0, 1
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                # the decoder may hold back up to 3 bytes of an incomplete character
                # from the previous chunk, so locate the bad byte in the joined bytes
                start = max(exc.start, 0)
                bad = exc.object[start : start + 1]
                position = offset - (len(exc.object) - len(chunk)) + start
                lines += exc.object[:start].count(b"\n")
                return f"byte 0x{bad.hex()} at offset {position:,}, line {lines:,}"
            offset += len(chunk)
            lines += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return f"truncated character at the end of the file (offset {offset:,})"
    return None


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]
