"""Knowledge distillation: a small student learns from a trained teacher run.

Hinton, Vinyals & Dean (2015), *Distilling the Knowledge in a Neural Network*. Per sample,

    loss = alpha * T^2 * KL(softmax(z_t / T) || softmax(z_s / T)) + (1 - alpha) * CE(y, softmax(z_s))

with ``z_t``, ``z_s`` the teacher's and the student's logits and ``T`` the temperature; the
``T^2`` keeps the soft term's gradients on the scale of the hard one whatever ``T`` is. The
per-sample loss is weighted like training's (balanced class weights).

A distilled run is an ordinary training run (``cropedge.training.train.train_run``) whose
``TrainConfig`` names a ``teacher`` run folder and ``distill`` settings. ``distill_config``
makes that config from the teacher's: the same data, sources, protocol, window, season
offsets, augmentation and validation share, and the budget of the student's own defaults.
Training then takes the teacher's train / validation split (``teacher_split``), so the
student is validated on samples the teacher never trained on, and fits ``distiller(model)``
instead of the bare model:

``Distiller`` is a ``tf_keras.Model`` whose ``train_step`` feeds each batch of the training
pipeline, augmented, to the frozen teacher and to the student, so the teacher labels exactly
what the student sees. Only the student's variables are tracked, and ``get_weights()`` gives
the plain float student's weights: the best epoch's weights go into the plain functional
student that the run saves, as for any run.

With ``qat=True`` the student trains quantization-aware from the first step (TFMOT
``quantize_model``); its float weights are read back out of the quantization wrappers
(``float_weights``), so the saved model is still the plain float student, which export
quantizes as usual (post-training int8, or the short QAT fine-tuning of ``int8-qat``).
"""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cropedge.backend import keras, tf
from cropedge.errors import CropEdgeError
from cropedge.training.run import Distillation, DistillSettings, Run

if TYPE_CHECKING:
    from cropedge.training.recipe import TrainConfig

LOGITS = "logits"  # every registered Keras model names its pre-softmax Dense layer so
# what a student shares with its teacher: everything that decides which samples it sees and how
_FROM_TEACHER = ("data", "sources", "data_options", "protocol", "window", "season_offset_days", "val_fraction",
                 "augment", "augment_options", "class_weights")


def open_teacher(path: str | Path) -> Run:
    """A finished Keras run that can teach.

    Raises:
        CropEdgeError: not a finished run, or a scikit-learn one (no logits to learn from).
    """
    run = Run(path)
    if run.is_sklearn:
        raise CropEdgeError(
            f"{run.path} holds a {run.record.model} (scikit-learn) model: a teacher must be a Keras model with logits"
        )
    return run


def distill_config(teacher_dir: str | Path, model: str, settings: DistillSettings | None = None,
                   **changes: Any) -> TrainConfig:
    """The training config of a student of the run in ``teacher_dir``.

    Args:
        teacher_dir: A finished Keras training run.
        model: The student's registered model name.
        settings: Loss mix, temperature and QAT switch (default ``DistillSettings()``).
        **changes: Other ``TrainConfig`` fields (``seed``, ``model_options``, ``epochs``, ...);
            the fields that decide the student's input (``_FROM_TEACHER``) come from the teacher.

    Raises:
        CropEdgeError: the teacher cannot teach, or ``changes`` name an input field.
    """
    teacher = open_teacher(teacher_dir)
    fixed = sorted(set(changes) & set(_FROM_TEACHER))
    if fixed:
        raise CropEdgeError(f"a student takes {', '.join(fixed)} from its teacher; train another teacher to change it")
    base = teacher.config
    from cropedge.training.recipe import TrainConfig

    defaults = TrainConfig(data=base.data, sources=base.sources)
    # the budget is the student's own (its defaults unless changed), not the teacher's
    kept = {f.name: getattr(base, f.name) for f in fields(base) if f.name in _FROM_TEACHER}
    config = replace(defaults, **kept, model=model, seed=base.seed, mixed_precision=base.mixed_precision,
                     teacher=str(teacher.path.resolve()), distill=(settings or DistillSettings()).to_dict())
    return replace(config, **changes)


def teacher_split(config: TrainConfig, n_samples: int) -> dict[str, np.ndarray]:
    """The teacher's train / validation indices into the ``n_samples`` source samples.

    The student's validation samples are ones the teacher never trained on.

    Raises:
        CropEdgeError: the split does not index this source (the data changed since).
    """
    teacher = open_teacher(_teacher_path(config))
    split = teacher.split()
    if max(split["train_idx"].max(initial=-1), split["val_idx"].max(initial=-1)) >= n_samples:
        raise CropEdgeError(f"teacher {teacher.path}'s split does not match the source data: has the data changed?")
    return split


def _teacher_path(config: TrainConfig) -> str:
    if config.teacher is None:
        raise CropEdgeError("this run has no teacher")
    return config.teacher


def settings_of(config: TrainConfig) -> DistillSettings:
    """The config's distillation settings, checked.

    Raises:
        CropEdgeError: an unknown key or a value no loss can use.
    """
    return DistillSettings.from_dict(config.distill, "distill settings")


def distiller(model: keras.Model, config: TrainConfig, parts: Any) -> Distiller:
    """What training fits for a student: ``model`` (quantization-aware if asked) taught by the teacher.

    Called inside the run's strategy scope, so the teacher's variables are placed like the
    student's. ``parts`` is the run's prepared source split (classes, window, statistics).

    Raises:
        CropEdgeError: the student's input differs from the teacher's, or a student TFMOT
            cannot quantize with ``qat``.
    """
    teacher = open_teacher(_teacher_path(config))
    settings = settings_of(config)
    check_student_matches(teacher, parts.classes, parts.window, parts.stats)
    if settings.qat:
        from cropedge.export.quantize import quantize_aware

        return Distiller(quantize_aware(model), teacher.model, settings, float_model=model)
    return Distiller(model, teacher.model, settings)


def record(config: TrainConfig) -> Distillation:
    """run.json's ``distillation``: the teacher and the settings."""
    teacher = open_teacher(_teacher_path(config))
    return Distillation(
        teacher=str(teacher.path),
        teacher_model=teacher.record.model,
        teacher_macs=teacher.record.macs,
        teacher_val_macro_f1=teacher.record.validation.macro_f1,
        settings=settings_of(config),
    )


def check_student_matches(teacher: Run, classes: tuple[str, ...], window: Any, stats: Any) -> None:
    """The student sees what the teacher saw: the same classes, window and normalisation.

    Raises:
        CropEdgeError: naming what differs.
    """
    problems = []
    if tuple(classes) != teacher.classes:
        problems.append(f"classes {', '.join(classes)} vs the teacher's {', '.join(teacher.classes)}")
    if window != teacher.window:
        problems.append(f"window {window} vs the teacher's {teacher.window}")
    same = np.allclose(stats.mean, teacher.stats.mean, rtol=1e-4) and np.allclose(stats.std, teacher.stats.std,
                                                                                 rtol=1e-4)
    if not same:
        problems.append("normalisation statistics differ from the teacher's (has the data changed?)")
    if problems:
        raise CropEdgeError(f"the student does not see what teacher {teacher.path} saw: {'; '.join(problems)}")


def logits_model(model: keras.Model) -> keras.Model:
    """A view of ``model`` that outputs its logits (the same layers and variables).

    The layer is ``logits`` in a float model and ``quant_logits`` once TFMOT wrapped it.
    """
    for name in (LOGITS, f"quant_{LOGITS}"):
        try:
            layer = model.get_layer(name)
        except ValueError:
            continue
        return keras.Model(model.inputs, layer.output, name=f"{model.name}_logits")
    raise CropEdgeError(f"model {model.name!r} has no {LOGITS!r} layer: it cannot be distilled or teach")


def distillation_loss(
    labels: tf.Tensor, student_logits: tf.Tensor, teacher_logits: tf.Tensor, alpha: float, temperature: float
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Per-sample (total, soft, hard) losses; see the module docstring for the formula."""
    s = tf.cast(student_logits, tf.float32)
    t = tf.cast(teacher_logits, tf.float32)
    soft_t = tf.nn.softmax(t / temperature)
    log_soft_s = tf.nn.log_softmax(s / temperature)
    # KL(p_t || p_s) = sum p_t (log p_t - log p_s); xlogy gives 0 for p_t == 0
    soft = tf.reduce_sum(tf.math.xlogy(soft_t, soft_t) - soft_t * log_soft_s, axis=-1) * temperature**2
    hard = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(tf.reshape(labels, [-1]), tf.int32), logits=s)
    return alpha * soft + (1.0 - alpha) * hard, soft, hard


class Distiller(keras.Model):
    """Train ``student`` on the teacher's softened predictions mixed with the labels.

    Args:
        student: The model being trained (a float model, or a TFMOT-quantized one).
        teacher: A trained model with a ``logits`` layer; frozen and not tracked, so
            ``get_weights()``, checkpoints and ``set_weights`` hold the student only.
        settings: ``alpha`` and ``temperature``.
        float_model: For a TFMOT-quantized ``student``, the float model it was made from:
            ``get_weights()`` then returns float weights in that model's order.

    Calling the distiller runs the student: validation callbacks score the student.
    """

    def __init__(
        self,
        student: keras.Model,
        teacher: keras.Model,
        settings: DistillSettings,
        float_model: keras.Model | None = None,
    ) -> None:
        """Wrap ``student`` and ``teacher``; see the class docstring."""
        super().__init__(name="distiller")
        self.student = student
        self.alpha, self.temperature = float(settings.alpha), float(settings.temperature)
        teacher.trainable = False
        self._self_setattr_tracking = False  # the teacher's variables are not the student's
        self._student_logits = logits_model(student)
        # a quantization-aware student keeps its float weights inside wrappers: the float model it
        # was made from names them (its own variables are not trained)
        self._float_twin = float_model
        self._teacher_logits = logits_model(teacher)
        # metrics untracked too: their counters are no weights of the student
        self._trackers = [keras.metrics.Mean(name=n) for n in ("loss", "soft_loss", "hard_loss")]
        self._accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        self._self_setattr_tracking = True

    @property
    def metrics(self) -> list:
        """Reset by Keras at the start of every epoch."""
        return [*self._trackers, self._accuracy]

    def get_weights(self) -> list[np.ndarray]:
        """The plain float student's weights (read out of the TFMOT wrappers when quantization-aware)."""
        if self._float_twin is None:
            return self.student.get_weights()
        return float_weights(self.student, self._float_twin)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        """The student's probabilities."""
        return self.student(inputs, training=training)

    def train_step(self, data: Any) -> dict:
        """One batch: teacher logits (inference mode), student forward and backward."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        teacher_logits = self._teacher_logits(x, training=False)
        with tf.GradientTape() as tape:
            student_logits = self._student_logits(x, training=True)
            per_sample, soft, hard = distillation_loss(y, student_logits, teacher_logits, self.alpha, self.temperature)
            w = 1.0 if sample_weight is None else tf.cast(tf.reshape(sample_weight, [-1]), tf.float32)
            # mean over the replica's batch, then over replicas (what Keras' own losses do)
            loss = tf.reduce_sum(per_sample * w) / tf.cast(tf.size(per_sample), tf.float32)
            if self.student.losses:
                loss += tf.add_n(self.student.losses)
            scaled = loss / tf.distribute.get_strategy().num_replicas_in_sync
        grads = tape.gradient(scaled, self.student.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.student.trainable_variables, strict=True))
        for tracker, value in zip(self._trackers, (loss, tf.reduce_mean(soft), tf.reduce_mean(hard)), strict=True):
            tracker.update_state(value)
        self._accuracy.update_state(y, tf.nn.softmax(tf.cast(student_logits, tf.float32)))
        return {m.name: m.result() for m in self.metrics}


def float_weights(trained: keras.Model, float_model: keras.Model) -> list[np.ndarray]:
    """``float_model``'s weights, in ``get_weights()`` order, read from ``trained``.

    ``trained`` is the same architecture, or its TFMOT-quantized form, whose wrapper
    ``quant_<name>`` holds each layer's float weights beside the quantizer ranges.

    Raises:
        CropEdgeError: a layer of ``float_model`` that ``trained`` does not have.
    """
    by_name = {layer.name: layer for layer in trained.layers}
    values: dict[Any, np.ndarray] = {}
    for layer in float_model.layers:
        if not layer.weights:
            continue
        source = by_name.get(layer.name) or by_name.get(f"quant_{layer.name}")
        if source is None:
            raise CropEdgeError(f"the trained model has no layer {layer.name!r} to read float weights from")
        # a wrapper's own variables (quant_<name>/kernel_min ...) are quantizer state, not weights
        own = f"{source.name}/" if source.name != layer.name else None
        found = {
            _short(w): v
            for w, v in zip(source.weights, source.get_weights(), strict=True)
            if own is None or not w.name.startswith(own)
        }
        for w in layer.weights:
            values[w.ref()] = found[_short(w)]
    return [values[w.ref()] for w in float_model.weights]


def _short(variable: Any) -> str:
    # "block1_conv/kernel:0" -> "kernel"
    return variable.name.split("/")[-1].split(":")[0]
