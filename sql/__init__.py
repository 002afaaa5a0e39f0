"""The SQL files, installed as the package ``clv_assets.sql`` (pyproject.toml's package-dir).

``sql/<schema>/<table>.sql`` builds that table; ``sql/queries/<name>.sql`` is a lookup
query. Read them with ``clv_assets.lib.warehouse.read_sql`` and ``read_query``.
"""
