"""Purchase (buy-till-you-die) models, one module each; :mod:`clv_assets.stats.registry` lists them."""
