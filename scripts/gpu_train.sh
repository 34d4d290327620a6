#!/usr/bin/env bash
# CropNet at CropGlobe size on one GPU, mixed precision off and on: samples per second and
# the time to the best epoch (docs/performance.md, "One GPU at CropGlobe size").
#
#   scripts/gpu_train.sh [OUT]        # OUT defaults to runs/gpu; writes OUT/gpu_train.json
#
# The eight synthetic regions at about 300 000 samples (7 260 per class at class-mix weight 1),
# pooled as sources with their seasons aligned to FRA (--season-offset auto), the data-sized
# defaults (batch 256, warm-up + cosine, 30 epochs at most, early stopping). Resumable.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
OUT=${1:-runs/gpu}
SPC=${SPC:-7260}
CROPEDGE=${CROPEDGE:-$REPO/.venv/bin/cropedge}
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
SOURCES=(--source FRA --source BEL --source NLD --source GBR --source USA --source CHN --source ARG --source AUS)

[ -f "$OUT/data/AUS.npz" ] || "$CROPEDGE" data synth --out "$OUT/data" --samples-per-class "$SPC" -q
for mp in no-mixed-precision mixed-precision; do
    "$CROPEDGE" train --data "$OUT/data" "${SOURCES[@]}" --season-offset auto --model cropnet \
        "--$mp" --out "$OUT/cropnet-$mp"
done

"$PYTHON" - "$OUT" <<'PY'
import json, sys
from pathlib import Path
from cropedge.training.run import Run

out, rows = Path(sys.argv[1]), {}
for mp in ("no-mixed-precision", "mixed-precision"):
    r = Run(out / f"cropnet-{mp}").record
    seconds_per_epoch = r.train_seconds / r.epochs  # validation and checkpoints included
    rows[mp] = {"precision": r.precision, "device": r.distribution.get("device"), "n_train": r.n_train,
                "epochs": r.epochs, "best_epoch": r.best_epoch, "train_seconds": r.train_seconds,
                "samples_per_second": round(r.n_train * r.epochs / r.train_seconds),
                "seconds_to_best_epoch": round(seconds_per_epoch * r.best_epoch),
                "val_oa": r.validation.oa, "val_macro_f1": r.validation.macro_f1}
(out / "gpu_train.json").write_text(json.dumps(rows, indent=2))
print(json.dumps(rows, indent=2))
PY
