"""The benchmark to run on the device itself (a Raspberry Pi with 64-bit OS, any Linux box).

It needs only ``pip install "cropedge[device]"`` (numpy and LiteRT, never TensorFlow)::

    python -m firmware_bench BUNDLE [BUNDLE ...] --threads 1,4 --batch 1,256 [--data FILE] [--json pi4.json]

For each bundle, thread count and batch size it prints latency (median and p95 per call and
per pixel) of the interpreter alone, pixels per second alone and end to end (preprocessing,
quantization and the interpreter, as ``cropedge predict`` runs them), the speed-up over the
float32 bundle of the same model, model size and peak memory; with ``--data`` also accuracy
and macro-F1. ``--json`` also writes everything (``cropedge.device.latency.DeviceBench``:
the machine, each bundle's flatbuffer sha256, model, precision and MACs, every timing) for
``cropedge report GRID --device-latency FILE``.
"""
