"""The package list; everything else is in pyproject.toml.

``clv_assets.sql`` is the repository's top-level sql/ folder (``package-dir`` in
pyproject.toml). Setuptools' automatic discovery cannot add a package that lives outside
its parent's folder, so the packages are listed here: every folder of clv_assets/ plus it.
"""

from setuptools import find_namespace_packages, setup

setup(packages=[*find_namespace_packages(include=["clv_assets", "clv_assets.*"]), "clv_assets.sql"])
