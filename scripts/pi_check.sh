#!/usr/bin/env bash
# make pi-check: run the device path the way a Raspberry Pi 4/5 with a 64-bit OS runs it,
# under aarch64 user-mode emulation (qemu), and check it predicts what x86 predicts.
#
# An arm64 Debian bookworm root (Python 3.11, as Raspberry Pi OS bookworm) is built once in
# .cache/pi-root; the project's own wheel and aarch64 wheels of its dependencies are
# installed into a venv there, as `pip install "cropedge[device,geo]"` would on the Pi.
# A model is trained and exported on the host (cropedge train / export); `cropedge predict`
# then classifies the same table and GeoTIFF on both sides, and firmware_bench runs on arm64.
# Emulation is 25-250x slower than a real Pi: the timings say nothing about Pi speed.
# Needs root (apt-get, binfmt_misc, chroot). Set PI_CHECK_REBUILD=1 to rebuild the root.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE="$REPO/.cache"
ROOT="$CACHE/pi-root"
WORK="$CACHE/pi-check"
WHEELS="$CACHE/pi-wheels"
HOST_PY="$REPO/.venv/bin/python"
SUITE=bookworm           # Raspberry Pi OS bookworm: Debian 12, Python 3.11
PY_VERSION=3.11
PLATFORMS=(manylinux_2_28_aarch64 manylinux_2_27_aarch64 manylinux_2_17_aarch64 manylinux2014_aarch64)
PI_VENV=/opt/cropedge    # inside the root

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'pi-check: error: %s\n' "$*" >&2; exit 2; }
in_pi() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root LC_ALL=C.UTF-8 "$@"; }
# LiteRT's cpuinfo cannot read the emulated CPU and says so on every start: harmless, hidden
pi_run() { in_pi "$@" 2> >(grep -v 'Error in cpuinfo' >&2); }

[ "$(id -u)" = 0 ] || fail "needs root (apt-get, binfmt_misc, chroot): run it as root"
[ -x "$HOST_PY" ] || fail "no $HOST_PY: run 'make setup' first"

step "host tools: qemu-user-static, binfmt-support, debootstrap"
if ! command -v qemu-aarch64-static >/dev/null || ! command -v debootstrap >/dev/null \
   || ! command -v update-binfmts >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static binfmt-support debootstrap >/dev/null
fi
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    update-binfmts --enable qemu-aarch64
fi

step "arm64 root in $ROOT"
if [ "${PI_CHECK_REBUILD:-0}" = 1 ]; then rm -rf "$ROOT"; fi
if [ ! -f "$ROOT/.cropedge-ready" ]; then
    rm -rf "$ROOT" "$ROOT.partial"
    # the host's Debian mirror (deb822 sources, or the classic sources.list)
    MIRROR=$(grep -h -m1 -E '^URIs:.*debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' || true)
    [ -n "$MIRROR" ] || MIRROR=$(grep -h -m1 -E '^deb .*debian/? ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' || true)
    MIRROR=${MIRROR:-http://deb.debian.org/debian}
    debootstrap --arch=arm64 --variant=minbase --include=python3,python3-venv "$SUITE" "$ROOT.partial" "$MIRROR"
    chroot "$ROOT.partial" python3 -m venv "$PI_VENV"
    mv "$ROOT.partial" "$ROOT"
    touch "$ROOT/.cropedge-ready"
fi
in_pi /bin/sh -c 'echo "$(uname -m), $(python3 --version)"'

step "project wheel and aarch64 wheels of its dependencies"
rm -rf "$WORK/dist" && mkdir -p "$WORK/dist" "$WHEELS"
(cd "$REPO" && "$HOST_PY" -m pip wheel --quiet --no-deps . -w "$WORK/dist")
WHEEL=$(ls "$WORK"/dist/cropedge-*.whl)
platform_args=(); for p in "${PLATFORMS[@]}"; do platform_args+=(--platform "$p"); done
"$HOST_PY" -m pip download --quiet --only-binary=:all: --python-version "$PY_VERSION" --implementation cp \
    "${platform_args[@]}" -d "$WHEELS" "$WHEEL[device,geo]"
rm -f "$WHEELS"/cropedge-*.whl
rm -rf "$ROOT/opt/wheels" && mkdir -p "$ROOT/opt/wheels"
cp "$WHEELS"/*.whl "$WHEEL" "$ROOT/opt/wheels/"

step "pip install cropedge[device,geo] in the arm64 root (offline, from those wheels)"
PI_WHEEL=/opt/wheels/$(basename "$WHEEL")
in_pi "$PI_VENV/bin/pip" install --quiet --no-index --find-links /opt/wheels "$PI_WHEEL[device,geo]"
in_pi "$PI_VENV/bin/pip" install --quiet --no-index --no-deps --force-reinstall "$PI_WHEEL"
if pi_run "$PI_VENV/bin/python" -c "import tensorflow" 2>/dev/null; then
    fail "TensorFlow is importable in the device install"
fi

step "model and inputs (host: cropedge data synth / train / export)"
mkdir -p "$WORK"
if [ ! -f "$WORK/bundles/.done" ] || [ "${PI_CHECK_REBUILD:-0}" = 1 ]; then
    rm -rf "$WORK/synth" "$WORK/run" "$WORK/bundles"
    "$REPO/.venv/bin/cropedge" data synth --out "$WORK/synth" --samples-per-class 40 --seed 0 -q
    "$REPO/.venv/bin/cropedge" train --data "$WORK/synth" --source FRA --model cropnet-xxs --epochs 2 \
        --out "$WORK/run" -q
    "$REPO/.venv/bin/cropedge" export "$WORK/run" --int8 --float32 --out "$WORK/bundles" -q
    touch "$WORK/bundles/.done"
fi
"$HOST_PY" "$REPO/scripts/pi_check_io.py" stack "$WORK/synth/BEL.npz" "$WORK/stack.tif"
rm -rf "$ROOT/opt/check" && mkdir -p "$ROOT/opt/check/out"
cp -r "$WORK/bundles" "$WORK/synth/BEL.npz" "$WORK/stack.tif" "$ROOT/opt/check/"

step "cropedge predict on x86 and on arm64"
mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
trap 'umount "$ROOT/proc" 2>/dev/null || true' EXIT
rm -rf "$WORK/x86" && mkdir -p "$WORK/x86"
for precision in int8 float32; do
    bundle=cropnet-xxs-$precision
    "$REPO/.venv/bin/cropedge" predict "$WORK/bundles/$bundle" "$WORK/synth/BEL.npz" \
        --out "$WORK/x86/$bundle.csv" --probabilities -q
    "$REPO/.venv/bin/cropedge" predict "$WORK/bundles/$bundle" "$WORK/stack.tif" \
        --out "$WORK/x86/$bundle.tif" --confidence -q
    pi_run "$PI_VENV/bin/cropedge" predict "/opt/check/bundles/$bundle" /opt/check/BEL.npz \
        --out "/opt/check/out/$bundle.csv" --probabilities -q
    pi_run "$PI_VENV/bin/cropedge" predict "/opt/check/bundles/$bundle" /opt/check/stack.tif \
        --out "/opt/check/out/$bundle.tif" --confidence -q
done
"$HOST_PY" "$REPO/scripts/pi_check_io.py" compare "$WORK/x86" "$ROOT/opt/check/out" "$WORK/bundles"

step "python -m firmware_bench on arm64 (emulated: timings are not a Pi's)"
pi_run "$PI_VENV/bin/python" -m firmware_bench /opt/check/bundles/cropnet-xxs-int8 \
    /opt/check/bundles/cropnet-xxs-float32 --json /opt/check/out/bench.json --threads 1 --batch 1,256 \
    --runs 3 --warmup 1 --data /opt/check/BEL.npz
cp "$ROOT/opt/check/out/bench.json" "$WORK/pi-bench.json"

step "pi-check passed ($(date -u +%Y-%m-%d)): arm64 predicts what x86 does (int8: to one output step); firmware_bench ran -> $WORK/pi-bench.json"
