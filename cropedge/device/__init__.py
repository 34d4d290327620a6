"""Device wing: what runs in the field, with numpy and LiteRT only (never TensorFlow).

``bundle`` (the format), ``runtime`` (the interpreter), ``predict`` (tables and GeoTIFF
maps), ``latency`` (timing), ``profile`` (device profiles: precision, threads, budget).
"""
