#!/usr/bin/env bash
# Reproduce the tables of docs/results.md: train on FRA (synthetic, `cropedge data synth`
# defaults), score in-domain, cross-country, cross-continent and cross-hemisphere (raw,
# aligned +182 d and auto), without and with augmentation, 3 seeds; TempCNN and
# RandomForest rows; the real WorldCereal France south -> north row. Prints the tables.
#
#   scripts/results_table.sh [OUT]          # OUT defaults to runs/results
#   EPOCHS=50 SEEDS=10 scripts/results_table.sh runs/results-full
#
# Everything is `cropedge bench` grids (float Keras rows only: --precisions ""), so a killed
# call resumes where it stopped and a second call only prints the tables again. To use both
# cores of a small machine, run the CropNet call twice at once with --shard 1/2 and 2/2 first.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
OUT=${1:-runs/results}
EPOCHS=${EPOCHS:-35}          # CropNet and TempCNN epochs (the reference: 50)
SEEDS=${SEEDS:-3}             # seeds 0..SEEDS-1 (the reference: 10)
CROPEDGE=${CROPEDGE:-$REPO/.venv/bin/cropedge}
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
mkdir -p "$OUT"

[ -f "$OUT/data/FRA.npz" ] || "$CROPEDGE" data synth --out "$OUT/data" -q

# the cross-hemisphere recipe with automatic season alignment: a second setting sharing its runs
sed 's/^season_offset = 182.*/season_offset = "auto"/' training/cross_hemisphere.toml \
    > "$OUT/cross_hemisphere_auto.toml"
RECIPES=(--recipe training/cross_country.toml --recipe training/cross_continent.toml
         --recipe training/cross_hemisphere.toml --recipe "$OUT/cross_hemisphere_auto.toml")
GRID=(--data "$OUT/data" --out "$OUT/grid" --precisions "" --seeds "$SEEDS" -q)

"$CROPEDGE" bench "${RECIPES[@]}" "${GRID[@]}" --models cropnet --epochs "$EPOCHS" --augment both
"$CROPEDGE" bench "${RECIPES[@]}" "${GRID[@]}" --models tempcnn --epochs "$EPOCHS" --augment both
# the forest is trained on the window as it is: augmentation does not reach it
"$CROPEDGE" bench "${RECIPES[@]}" "${GRID[@]}" --models randomforest --augment off
# real data: the recipe's own TempCNN settings (30 epochs, batch 32, lr 1e-3)
"$CROPEDGE" bench --recipe training/worldcereal_france.toml --out "$OUT/worldcereal" --precisions "" \
    --seeds "$SEEDS" --augment both -q

"$PYTHON" scripts/results_table.py "$OUT/grid" "$OUT/worldcereal"
