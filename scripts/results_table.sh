#!/usr/bin/env bash
# Reproduce the tables of docs/results.md: train on FRA (synthetic, `cropedge data synth`
# defaults), score in-domain, cross-country, cross-continent and cross-hemisphere (raw,
# aligned +182 d and auto), without and with augmentation, 3 seeds; CropNet, TempCNN and
# RandomForest; once with the data-sized defaults (grid-auto/) and once with the paper's
# protocol (grid/, `protocol = "reference"` as the recipes in training/ say). Prints the tables.
#
#   scripts/results_table.sh [OUT]          # OUT defaults to runs/results
#   PROTOCOLS=auto scripts/results_table.sh # only the data-sized defaults (reference: PROTOCOLS=reference)
#   EPOCHS=50 SEEDS=10 scripts/results_table.sh runs/results-full   # the reference's own budget
#
# Everything is `cropedge bench` grids (float Keras rows only: --precisions ""), so a killed
# call resumes where it stopped and a second call only prints the tables again. To use both
# cores of a small machine, run a CropNet call twice at once with --shard 1/2 and 2/2 first.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
OUT=${1:-runs/results}
EPOCHS=${EPOCHS:-35}          # CropNet and TempCNN epochs (the reference: 50)
SEEDS=${SEEDS:-3}             # seeds 0..SEEDS-1 (the reference: 10)
SEED_LIST=$(seq -s, 0 $((SEEDS - 1)))   # --seeds takes the list: 0,1,2
CROPEDGE=${CROPEDGE:-$REPO/.venv/bin/cropedge}
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
mkdir -p "$OUT"

[ -f "$OUT/data/FRA.npz" ] || "$CROPEDGE" data synth --out "$OUT/data" -q

PROTOCOLS=${PROTOCOLS:-auto reference}

for protocol in $PROTOCOLS; do
    dir="$OUT/recipes-$protocol"
    mkdir -p "$dir"
    for name in cross_country cross_continent cross_hemisphere; do
        sed "s/^protocol = \"reference\"/protocol = \"$protocol\"/" "training/$name.toml" > "$dir/$name.toml"
    done
    # the cross-hemisphere recipe with automatic season alignment: a second setting sharing its runs
    sed 's/^season_offset = 182.*/season_offset = "auto"/' "$dir/cross_hemisphere.toml" > "$dir/cross_hemisphere_auto.toml"
    RECIPES=(--recipe "$dir/cross_country.toml" --recipe "$dir/cross_continent.toml"
             --recipe "$dir/cross_hemisphere.toml" --recipe "$dir/cross_hemisphere_auto.toml")
    if [ "$protocol" = reference ]; then
        GRID=(--data "$OUT/data" --out "$OUT/grid" --precisions "" --seeds "$SEED_LIST" -q)
        BUDGET=(--epochs "$EPOCHS")        # the reference: 50; 35 here (CPU time)
    else
        GRID=(--data "$OUT/data" --out "$OUT/grid-auto" --precisions "" --seeds "$SEED_LIST" -q)
        BUDGET=()                          # the data-sized budget, early stopping included
    fi
    "$CROPEDGE" bench "${RECIPES[@]}" "${GRID[@]}" --models cropnet "${BUDGET[@]}" --augment both
    "$CROPEDGE" bench "${RECIPES[@]}" "${GRID[@]}" --models tempcnn "${BUDGET[@]}" --augment both
    # the forest is trained on the window as it is: augmentation does not reach it
    "$CROPEDGE" bench "${RECIPES[@]}" "${GRID[@]}" --models randomforest --augment off
done

for protocol in $PROTOCOLS; do
    echo "## protocol: $protocol"
    "$PYTHON" scripts/results_table.py "$OUT/$([ "$protocol" = reference ] && echo grid || echo grid-auto)"
done
