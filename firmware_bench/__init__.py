"""The benchmark to run on the device itself (a Raspberry Pi with 64-bit OS, any Linux box).

It needs only ``pip install "cropedge[device]"`` (numpy and LiteRT, never TensorFlow)::

    python -m firmware_bench BUNDLE [BUNDLE ...] --json results.json --threads 1,4 --batch 1,1024

For each bundle, thread count and batch size it reports latency (mean, median, p5, p95 per
batch and per pixel), pixels per second end to end (preprocessing, quantization and the
interpreter, as ``cropedge predict`` runs them) and for the interpreter alone, model size,
peak memory, runtime and the machine's CPU; with ``--data`` also accuracy and macro-F1.
"""
