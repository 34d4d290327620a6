"""The training budget: batch size, learning-rate schedule, optimizer steps and early stopping.

Two protocols decide what a run does with the settings it is not given:

* ``auto`` (the default) sizes the budget to the training set: a batch near twice the square
  root of the number of training samples (32 to 256), Adam with a linear warm-up then cosine decay, at
  least ``STEP_FLOOR`` optimizer steps and ``MIN_EPOCHS`` passes over the data, early stopping
  when the validation macro-F1 has not improved for half of the planned epochs, and the
  window the data cover (the whole year on the 73-step grid). How the rule was measured:
  docs/training.md.
* ``reference`` keeps the CropNet paper's settings: Adam lr 1e-4 constant, batch 256, 50
  epochs, window day 121..334, no early stopping, time augmentation clamped to the year.

Settings given in the config (``epochs``, ``batch_size``, ``lr``, ``patience``, ``window``)
always win over the protocol's. Nothing here imports TensorFlow: the CLI prints the plan and
run.json stores it (``Budget``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np

from cropedge.data.grid import YEAR_DOY, Window
from cropedge.record import Record

if TYPE_CHECKING:
    from cropedge.training.recipe import TrainConfig

PROTOCOLS = ("auto", "reference")
REFERENCE_WINDOW = (121, 334)

# the data-sized rule (docs/training.md, "How the budget was chosen")
BATCH_MIN, BATCH_MAX = 32, 256
LR = 3e-3  # Adam peak learning rate after warm-up
STEP_FLOOR = 2000  # optimizer steps a run gets at least, however small its training set
MIN_EPOCHS = 30  # passes over the data a run gets at least, however large its training set
WARMUP_SHARE = 0.05  # of the planned steps
PATIENCE_SHARE = 0.5  # of the planned epochs without a better validation macro-F1
PATIENCE_MIN = 10  # epochs
CHECK_STEPS = 100  # optimizer steps at least between two validations (small sets: several epochs)

# warnings
FEW_STEPS = STEP_FLOOR // 4  # fewer optimizer steps than this rarely train a model from scratch
HANDFUL = 10  # training samples of a class below which its scores mean little
CHANCE_MARGIN = 0.1  # share of the way from chance to perfect macro-F1 that counts as "near chance"


@dataclass(frozen=True)
class Budget(Record):
    """What a Keras run trains with (run.json ``budget``).

    Attributes:
        protocol: ``auto`` (sized to the data) or ``reference`` (the CropNet paper's).
        n_train: Training samples the budget was sized for.
        num_classes: Classes the model learns.
        batch_size: Global batch size.
        lr: Adam learning rate (the peak, after warm-up).
        schedule: ``warmup-cosine`` (linear warm-up, then cosine decay to 1 % of ``lr`` at the
            last planned step) or ``constant``.
        warmup_steps: Optimizer steps of the linear warm-up (0 for ``constant``).
        steps_per_epoch: Batches per pass over the training split.
        epochs: Passes over the training split planned (the most a run trains).
        patience: Epochs without a better validation macro-F1 before training stops early
            (None: it never does); the best epoch is kept either way.
        check_every: Epochs between two validations (and checkpoints): 1, or enough epochs for
            ``CHECK_STEPS`` steps when the protocol chose the epochs of a small training set,
            where per-epoch validation and checkpoints would cost more than the training.
        chosen: The settings the protocol chose; the others were set in the config.
    """

    VERSION_KEY: ClassVar[str | None] = None
    WHAT: ClassVar[str] = "training budget"

    protocol: Literal["auto", "reference"]
    n_train: int
    num_classes: int
    batch_size: int
    lr: float
    schedule: Literal["warmup-cosine", "constant"]
    warmup_steps: int
    steps_per_epoch: int
    epochs: int
    patience: int | None
    check_every: int = 1
    chosen: tuple[str, ...] = ()

    @property
    def steps(self) -> int:
        """Optimizer steps planned (``epochs`` x ``steps_per_epoch``)."""
        return self.epochs * self.steps_per_epoch

    def describe(self, window: Window | None = None) -> str:
        """One line for the start of training: what was chosen, what was set."""

        def mark(name: str) -> str:
            return "" if name in self.chosen else " (set)"

        if self.schedule == "constant":
            lr = f"Adam lr {self.lr:g}{mark('lr')} constant"
        else:
            lr = f"Adam lr {self.lr:g}{mark('lr')} ({self.warmup_steps:,} warm-up steps, cosine decay)"
        # a patience as long as the run never stops it: say so rather than quote it
        stop = (f"stop after {self.patience} epochs without a better validation macro-F1{mark('patience')}"
                if self.patience and self.patience < self.epochs else f"no early stopping{mark('patience')}")
        check = f", validated every {self.check_every} epochs" if self.check_every > 1 else ""
        where = f", window day {window.start_doy}..{window.end_doy} ({window.length} steps)" if window else ""
        return (f"budget ({self.protocol}: {self.n_train:,} training samples, {self.num_classes} classes): "
                f"batch {self.batch_size}{mark('batch_size')}, {lr}, {self.steps:,} steps = {self.epochs} "
                f"epochs{mark('epochs')} of {self.steps_per_epoch}{check}, {stop}{where}")


def plan_budget(
    n_train: int,
    num_classes: int,
    *,
    protocol: str = "auto",
    batch_size: int | None = None,
    lr: float | None = None,
    epochs: int | None = None,
    patience: int | None = None,
) -> Budget:
    """The budget of one run: the protocol's choices for every setting left as None.

    Args:
        n_train: Training samples.
        num_classes: Classes the model learns.
        protocol: ``auto`` or ``reference``.
        batch_size: Set batch size (None: the protocol chooses).
        lr: Set peak learning rate (None: the protocol chooses).
        epochs: Set most epochs (None: the protocol chooses).
        patience: Epochs without improvement before stopping; 0 never stops early (None: the
            protocol chooses).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}")
    chosen = tuple(k for k, v in (("batch_size", batch_size), ("lr", lr), ("epochs", epochs),
                                  ("patience", patience)) if v is None)
    reference = protocol == "reference"
    batch = batch_size or (256 if reference else _batch_for(n_train))
    steps_per_epoch = max(1, math.ceil(n_train / batch))
    check_every = 1
    if epochs is None and reference:
        epochs = 50
    elif epochs is None:
        check_every = math.ceil(CHECK_STEPS / steps_per_epoch)
        epochs = max(MIN_EPOCHS, math.ceil(STEP_FLOOR / steps_per_epoch))
        epochs = math.ceil(epochs / check_every) * check_every
    if patience is None:
        patience = 0 if reference else max(PATIENCE_MIN, math.ceil(PATIENCE_SHARE * epochs))
    schedule: Literal["warmup-cosine", "constant"] = "constant" if reference else "warmup-cosine"
    steps = epochs * steps_per_epoch
    return Budget(
        protocol="reference" if reference else "auto",
        n_train=int(n_train),
        num_classes=int(num_classes),
        batch_size=int(batch),
        lr=float(lr if lr is not None else (1e-4 if reference else LR)),
        schedule=schedule,
        warmup_steps=0 if reference else max(1, round(WARMUP_SHARE * steps)),
        steps_per_epoch=steps_per_epoch,
        epochs=int(epochs),
        patience=int(patience) or None,
        check_every=check_every,
        chosen=chosen,
    )


def budget_for(config: TrainConfig, n_train: int, num_classes: int) -> Budget:
    """``plan_budget`` with the settings ``config`` gives."""
    return plan_budget(n_train, num_classes, protocol=config.protocol, batch_size=config.batch_size,
                       lr=config.lr, epochs=config.epochs, patience=config.patience)


def _batch_for(n_train: int) -> int:
    """The power of two nearest twice the square root of the training set, within ``BATCH_MIN..BATCH_MAX``.

    Twice, not once: in the same ~2 000 steps the larger batch makes twice the passes over the
    data, which won at every size measured between a few hundred and a few thousand samples.
    At least 32: on the smallest real set (112 samples) batch 16 lost 6 points OA over 3 seeds.
    """
    power = round(math.log2(2 * math.sqrt(max(n_train, 1))))
    return int(min(BATCH_MAX, max(BATCH_MIN, 2**power)))


def choose_window(config: TrainConfig, observed_doy: Sequence[float] | np.ndarray | None = None) -> Window:
    """The model window: the config's, else the protocol's, else the span the data cover.

    The reference protocol's is day 121..334; the span the data cover is the whole year on the
    73-step grid unless the source files hold observations of part of it only.

    Args:
        config: The run's settings.
        observed_doy: Days of year the source files had observations on (None: the whole year).
    """
    if config.window is not None:
        return Window(*config.window)
    if config.protocol == "reference":
        return Window(*REFERENCE_WINDOW)
    first, last = int(YEAR_DOY[0]), int(YEAR_DOY[-1])
    if observed_doy is not None and len(observed_doy):
        days = np.asarray(observed_doy, dtype=np.float64)
        # the grid steps from the one at or before the first observation to the one at or after the last
        lo = YEAR_DOY[YEAR_DOY <= days.min()]
        hi = YEAR_DOY[YEAR_DOY >= days.max()]
        first = int(lo[-1]) if len(lo) else first
        last = int(hi[0]) if len(hi) else last
        if last - first < 2 * (YEAR_DOY[1] - YEAR_DOY[0]):  # fewer than three steps: not a season
            first, last = int(YEAR_DOY[0]), int(YEAR_DOY[-1])
    return Window(first, last)


# --- warnings ----------------------------------------------------------------------------


def budget_warnings(budget: Budget | None, model: str, params: int, class_counts: Mapping[str, int]) -> list[str]:
    """Warnings before training: too few optimizer steps (Keras models), classes with a handful of samples."""
    out = []
    if budget is not None and budget.steps < FEW_STEPS:
        how = "leave --epochs out" if "epochs" not in budget.chosen else "lower --batch-size"
        out.append(
            f"{budget.steps:,} optimizer steps ({budget.epochs} epochs of {budget.steps_per_epoch}) are few for "
            f"{model} ({params:,} parameters) to learn from scratch: expect an under-trained model; "
            f"give it at least {FEW_STEPS:,} ({how})"
        )
    few = {c: n for c, n in class_counts.items() if n < HANDFUL}
    if few:
        listed = ", ".join(f"{c} {n}" for c, n in sorted(few.items(), key=lambda kv: kv[1]))
        out.append(
            f"{len(few)} class(es) have fewer than {HANDFUL} training samples ({listed}): their scores "
            "will be noisy and the model may never predict them; add samples or merge classes"
        )
    return out


def chance_warning(macro_f1: float, num_classes: int, epochs: int) -> str | None:
    """A warning when the kept model's validation macro-F1 is near chance (1 / classes)."""
    chance = 1.0 / num_classes
    if macro_f1 >= chance + CHANCE_MARGIN * (1.0 - chance):
        return None
    return (
        f"validation macro-F1 {macro_f1:.3f} after {epochs} epochs is near chance (1/{num_classes} = {chance:.3f}): "
        "the model did not learn; leave --epochs, --batch-size and --lr to the data-sized defaults, "
        "or check the labels"
    )
