"""CropNet as the PyTorch reference implementation builds and trains it, for speed comparisons.

Written after the reference code (github x-ytong/CropNet, MIT: ``models/CropNet.py``,
``trainers/torch_trainer.py``, ``run_CropNet_AUGM.py``): channels-first input
[N, 1, bands, T], four conv blocks of 128 channels, Kaiming-normal init, Adam, class-weighted
cross-entropy, a ``DataLoader`` over an in-memory ``TensorDataset`` (the reference augments
once before training, so its loader only shuffles and batches). Only the benchmark imports
torch; it is never a cropedge dependency.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # annotations only: torch is imported where it is used, never by cropedge
    import torch
    from torch import nn


def build_cropnet(num_classes: int = 7, width: int = 128, depth: int = 4) -> nn.Sequential:
    """The reference CropNet (``width`` 128, ``depth`` 4) as a ``torch.nn.Module``."""
    from torch import nn

    def block(c_in: int, c_out: int, stride: int, dropout: float) -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.Dropout2d(dropout),
        )

    rates = (0.2,) + (0.3,) * (depth - 2) + (0.4,) if depth > 1 else (0.2,)
    blocks = [block(1 if i == 0 else width, width, 2 if i == 0 else 1, r) for i, r in enumerate(rates)]
    model = nn.Sequential(
        *blocks,
        nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten(),
        nn.Linear(width, num_classes),
    )
    for m in model.modules():  # the reference's kaiming_init
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return model


def count_params(model: nn.Module) -> int:
    """Trainable parameters (BatchNorm running statistics excluded, as in Keras)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def train_throughput(
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    threads: int,
    batch_size: int = 256,
    warmup_steps: int = 3,
    steps: int = 15,
    channels_last: bool = False,
    seed: int = 0,
    width: int = 128,
    depth: int = 4,
) -> dict:
    """Samples per second of the reference training loop (loader + forward + backward + Adam).

    Args:
        x: windowed samples [N, bands, T] float32 (the reference feeds [N, 1, bands, T]).
        y: labels [N].
        num_classes: classifier outputs.
        threads: torch intra-op threads (``torch.set_num_threads``).
        batch_size: samples per step (reference: 256).
        warmup_steps: untimed steps first (allocator and oneDNN primitive caches).
        steps: timed steps.
        channels_last: NHWC memory format for model and batches (not what the reference does).
        seed: torch seed for init and shuffling.
        width: CropNet width (the reference: 128).
        depth: CropNet depth (the reference: 4).
    """
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = build_cropnet(num_classes, width, depth)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    counts = np.bincount(y, minlength=num_classes).astype(np.float64)
    weights = len(y) / (num_classes * np.maximum(counts, 1))  # sklearn's "balanced"
    criterion = torch.nn.CrossEntropyLoss(weight=torch.tensor(weights, dtype=torch.float32))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    data = TensorDataset(torch.tensor(x, dtype=torch.float32).unsqueeze(1), torch.tensor(y, dtype=torch.long))
    loader = DataLoader(data, batch_size=batch_size, shuffle=True, drop_last=True)

    def batches() -> Iterator[list[torch.Tensor]]:
        while True:
            yield from loader

    model.train()
    it = batches()

    def step() -> None:
        feat, true = next(it)
        feat = feat.contiguous(memory_format=fmt)
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(model(feat), true)
        loss.backward()
        optimizer.step()
        loss.item()  # the reference reads the loss every step, which also synchronises

    for _ in range(warmup_steps):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = time.perf_counter() - t0
    return {
        "samples_per_s": steps * batch_size / seconds,
        "steps": steps,
        "warmup_steps": warmup_steps,
        "batch_size": batch_size,
        "threads": threads,
        "channels_last": channels_last,
        "params": count_params(model),
        "torch": torch.__version__,
        "onednn": bool(torch.backends.mkldnn.is_available()),
    }
