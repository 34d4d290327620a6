"""cropedge: crop-type classification of Sentinel-2 pixel time series, from training to the field.

Pipeline, one folder (wing) per stage: ``data`` -> ``models`` -> ``training`` ->
``export`` -> ``device`` -> ``grid``; ``cli`` is the command line over them.
"""

__version__ = "0.1.0"
