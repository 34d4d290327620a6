"""Export wing: a trained run to device bundles.

``quantize`` (float16, dynamic, int8 PTQ, TFMOT QAT) -> ``exporter`` (the precision table,
conversion, self-check, bundle) -> ``c_array`` and ``mcu`` (microcontroller sources and the
TFLite Micro check).
"""
