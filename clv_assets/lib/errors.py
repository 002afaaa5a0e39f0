"""Errors shared by the warehouse's access paths (a DuckDB file or a DuckLake)."""


class WarehouseBusy(Exception):
    """The warehouse stayed locked by other processes for longer than the lock timeout."""
