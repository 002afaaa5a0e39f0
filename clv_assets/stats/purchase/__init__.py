"""Purchase (buy-till-you-die) models, one module each (``bgnbd_family.py``: what BG/NBD and
MBG/NBD share); :mod:`clv_assets.stats.registry` lists them."""
