"""Grid wing: accuracy under shift against latency, over models, precisions and seeds.

``bench`` (train, export, score and time every cell) -> ``report`` and ``figures`` (HTML,
markdown, plots) ; ``demo`` runs the whole job on synthetic data.
"""
