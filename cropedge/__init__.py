"""cropedge: crop-type classification of Sentinel-2 pixel time series, from training to the field.

Pipeline, one stage per module: ``data`` -> ``augment`` -> ``models`` -> ``train`` ->
``quantize`` -> ``export`` -> ``runtime`` -> ``bench`` / ``report``.
"""

__version__ = "0.1.0"
