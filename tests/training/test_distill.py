"""Knowledge distillation with real TensorFlow and TFMOT: the loss, the Distiller, and the run folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow_model_optimization as tfmot
from click.testing import CliRunner

from cropedge.backend import keras
from cropedge.cli import cli
from cropedge.data.synthetic import synthesize
from cropedge.errors import CropEdgeError
from cropedge.models import get_model
from cropedge.training.distill import Distiller, distill_config, distillation_loss, float_weights
from cropedge.training.run import DistillSettings, Run

TINY_TEACHER = ["--model", "tcn", "--epochs", "3", "--batch-size", "32", "--lr", "3e-3"]


def test_loss_is_hinton_kl_plus_cross_entropy() -> None:
    rng = np.random.default_rng(0)
    s, t = rng.normal(size=(5, 4)).astype(np.float32), 3 * rng.normal(size=(5, 4)).astype(np.float32)
    y = np.array([0, 1, 2, 3, 1])
    total, soft, hard = (v.numpy() for v in distillation_loss(y, s, t, alpha=0.3, temperature=2.0))

    def softmax(z: np.ndarray) -> np.ndarray:
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    pt, ps = softmax(t / 2), softmax(s / 2)
    np.testing.assert_allclose(soft, 4 * (pt * np.log(pt / ps)).sum(axis=1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(hard, -np.log(softmax(s)[np.arange(5), y]), rtol=1e-5)
    np.testing.assert_allclose(total, 0.3 * soft + 0.7 * hard, rtol=1e-5)
    # logits equal up to a constant per sample: nothing left to learn from the teacher
    _, same, _ = distillation_loss(y, s, s + 5.0, alpha=1.0, temperature=4.0)
    np.testing.assert_allclose(same.numpy(), 0.0, atol=1e-5)


def test_distiller_holds_only_the_student_and_trains_it() -> None:
    keras.utils.set_random_seed(0)
    teacher, student = get_model("tcn", 3, width=8), get_model("tcn-s", 3, width=4)
    distiller = Distiller(student, teacher, DistillSettings())
    distiller.compile(optimizer=keras.optimizers.Adam(1e-2))
    x = np.random.default_rng(0).normal(size=(32, 10, 43, 1)).astype(np.float32)
    before_t, before_s = teacher.get_weights(), student.get_weights()
    history = distiller.fit(x, np.arange(32) % 3, epochs=2, batch_size=16, verbose=0).history
    assert set(history) == {"loss", "soft_loss", "hard_loss", "accuracy"}
    weights = distiller.get_weights()
    assert [w.shape for w in weights] == [w.shape for w in student.get_weights()]
    assert all(np.array_equal(a, b) for a, b in zip(weights, student.get_weights(), strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(before_t, teacher.get_weights(), strict=True))  # frozen
    assert not all(np.array_equal(a, b) for a, b in zip(before_s, weights, strict=True))
    np.testing.assert_allclose(distiller(x[:4]).numpy(), student(x[:4]).numpy())


def test_quantization_aware_student_gives_back_float_weights() -> None:
    keras.utils.set_random_seed(0)
    plain = get_model("tcn-s", 3, width=4)
    qat = tfmot.quantization.keras.quantize_model(plain)
    distiller = Distiller(qat, get_model("tcn", 3, width=8), DistillSettings(qat=True), float_model=plain)
    distiller.compile(optimizer=keras.optimizers.Adam(1e-2))
    x = np.random.default_rng(1).normal(size=(32, 10, 43, 1)).astype(np.float32)
    distiller.fit(x, np.arange(32) % 3, epochs=1, batch_size=16, verbose=0)
    saved = get_model("tcn-s", 3, width=4)
    saved.set_weights(distiller.get_weights())
    assert float_weights(qat, saved)[0].shape == saved.get_weights()[0].shape
    # the plain float model computes what the fake-quantized one does, up to quantization steps
    np.testing.assert_allclose(saved(x, training=False).numpy(), qat(x, training=False).numpy(), atol=0.05)


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("distill")
    synthesize(root / "data", samples_per_class=20, seed=0, regions=("FRA", "BEL"))
    out = root / "teacher"
    args = ["train", "--data", str(root / "data"), "--source", "FRA", *TINY_TEACHER, "--out", str(out), "-q"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    return out


def test_distill_writes_an_ordinary_run_on_the_teachers_split(teacher_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "student"
    args = ["distill", str(teacher_run), "--model", "tcn-s", "--epochs", "2", "--alpha", "0.8", "--temperature", "3",
            "--out", str(out), "-q"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    student, teacher = Run(out), Run(teacher_run)
    record = student.record.distillation
    assert record is not None and record.teacher == str(teacher_run.resolve())
    assert (record.teacher_model, record.teacher_macs) == ("tcn", teacher.record.macs)
    assert record.settings == DistillSettings(alpha=0.8, temperature=3.0)
    assert student.record.model == "tcn-s" and student.config.teacher == str(teacher_run.resolve())
    for key in ("train_idx", "val_idx"):  # validated on samples the teacher never trained on
        np.testing.assert_array_equal(student.split()[key], teacher.split()[key])
    assert student.window == teacher.window and student.stats == teacher.stats
    assert student.record.budget is not None and student.record.budget.epochs == 2
    # the saved model is the plain student: it loads without any cropedge class and eval reads the run
    assert [layer.name for layer in student.model.layers][-1] == "probs"
    history = (out / "history.csv").read_text().splitlines()[0]
    assert "soft_loss" in history and "val_macro_f1" in history
    evaluated = CliRunner().invoke(cli, ["eval", str(out), "--target", "BEL", "--json", "-q"])
    assert evaluated.exit_code == 0, evaluated.output
    # the same command again finds the finished run; other settings in the same folder are refused
    assert CliRunner().invoke(cli, args).exit_code == 0
    again = CliRunner().invoke(cli, [*args[:-3], "--alpha", "0.5", "--out", str(out)])
    assert again.exit_code == 2 and "other settings" in again.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model", "randomforest"], "must be a Keras model"),
        (["--model", "transformer", "--qat"], "cannot train quantization-aware"),
        (["--model", "nosuch"], "unknown model"),
        (["--model", "tcn", "--alpha", "1.5"], "--alpha"),
    ],
)
def test_bad_students_are_one_line_and_write_nothing(teacher_run: Path, tmp_path: Path, extra: list[str],
                                                     message: str) -> None:
    result = CliRunner().invoke(cli, ["distill", str(teacher_run), *extra, "--out", str(tmp_path / "s")])
    assert result.exit_code == 2 and message in result.output
    assert result.output.startswith("cropedge: error:") and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()


def test_a_teacher_must_be_a_finished_keras_run(tmp_path: Path) -> None:
    with pytest.raises(CropEdgeError, match="not a finished training run"):
        distill_config(tmp_path, "tcn")
    result = CliRunner().invoke(cli, ["distill", str(tmp_path), "--model", "tcn", "--out", str(tmp_path / "s")])
    assert result.exit_code == 2 and "not a training run" in result.output


def test_a_student_takes_its_input_from_the_teacher(teacher_run: Path) -> None:
    with pytest.raises(CropEdgeError, match="window from its teacher"):
        distill_config(teacher_run, "tcn-s", window=(121, 334))
    config = distill_config(teacher_run, "tcn-s", seed=5)
    teacher = Run(teacher_run).config
    assert (config.data, config.sources, config.window, config.seed) == (teacher.data, teacher.sources,
                                                                         teacher.window, 5)
    assert config.epochs is None and config.lr is None  # the student's own default budget

