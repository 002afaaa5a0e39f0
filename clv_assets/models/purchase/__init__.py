"""Purchase (buy-till-you-die) models, one module each; :mod:`clv_assets.models.registry` lists them."""
