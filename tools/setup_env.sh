#!/usr/bin/env bash
# Set up a working mmosar environment on a fresh Linux machine.
#
#   bash tools/setup_env.sh            # venv in ./.venv (or $MMOSAR_VENV)
#   MMOSAR_VENV=/path/env bash tools/setup_env.sh
#   MMOSAR_USE_CURRENT_ENV=1 bash tools/setup_env.sh   # use the active python
#
# Steps: venv -> torch -> mmcv 2.1.0 with compiled ops (built once, the wheel
# cached in $MMOSAR_CACHE, default ~/.cache/mmosar, keyed by mmcv / torch /
# Python / CUDA version and arch list) -> OpenMMLab packages and the runtime
# requirements -> mmosar in editable mode -> environment report.
#
# Environment knobs: PYTHON (interpreter for the venv, default python3.11 or
# python3), TORCH_SPEC (default "torch==2.14.1 torchvision==0.29.1"; an
# installed torch >= 2.4 whose torchvision imports beside it is kept),
# MAX_JOBS (compile jobs), TORCH_CUDA_ARCH_LIST (CUDA archs to build).
# mmcv's CUDA ops are built only when a GPU is visible or MMCV_CUDA=1 /
# FORCE_CUDA=1 is set: the torch wheel is a CUDA build even on CPU machines,
# and compiling CUDA ops on a small CPU-only machine takes hours.
# MMOSAR_FORCE_CPU_OPS=1 (or FORCE_CUDA=0) forces CPU-only ops.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${MMOSAR_CACHE:-$HOME/.cache/mmosar}
MMCV_VERSION=2.1.0
TORCH_SPEC=${TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1}
START=$(date +%s)

say() { printf '[setup_env %4ds] %s\n' "$(($(date +%s) - START))" "$*"; }

# ---------------------------------------------------------------- 1. python
if [[ "${MMOSAR_USE_CURRENT_ENV:-0}" == 1 ]]; then
    PY=$(command -v python)
    say "using the current environment: $PY"
else
    VENV=${MMOSAR_VENV:-$REPO/.venv}
    if [[ ! -x "$VENV/bin/python" ]]; then
        BASE_PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
        say "creating virtual environment $VENV with $BASE_PY"
        "$BASE_PY" -m venv "$VENV"
    else
        say "using virtual environment $VENV"
    fi
    PY=$VENV/bin/python
fi
PIP=("$PY" -m pip install --disable-pip-version-check -q)
"$PY" -c 'import sys; assert sys.version_info >= (3, 9), sys.version' || {
    echo "mmosar needs Python >= 3.9" >&2; exit 1; }

# ----------------------------------------------------------------- 2. torch
# torchvision must import beside torch (mmpretrain's models and metrics need
# it): a torch without a working torchvision is replaced by TORCH_SPEC.
if "$PY" -c 'import torch, torchvision, sys
v = tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2])
torchvision.ops.nms  # the compiled ops load, i.e. torchvision matches torch
sys.exit(0 if v >= (2, 4) else 1)' 2>/dev/null; then
    say "keeping installed torch $("$PY" -c 'import torch; print(torch.__version__)') with torchvision $("$PY" -c 'import torchvision; print(torchvision.__version__)')"
else
    say "installing $TORCH_SPEC (a CUDA build that also runs on the CPU; about 5.5 GB)"
    # shellcheck disable=SC2086  # TORCH_SPEC holds several requirements
    "${PIP[@]}" $TORCH_SPEC
fi
say "installing build requirements (setuptools<80: pkg_resources for mmcv/mim, egg-link editable installs)"
"${PIP[@]}" -r "$REPO/requirements/build.txt"

# ------------------------------------------------------------------ 3. mmcv
read -r TORCH_VER PY_TAG CUDA_TAG <<<"$("$PY" "$REPO/tools/misc/mmcv_build_tag.py")"
KEY=mmcv-${MMCV_VERSION}_torch-${TORCH_VER}_${PY_TAG}_${CUDA_TAG}
WHEEL_DIR=$CACHE/wheels/$KEY
if "$PY" -c "import importlib.util as u, mmcv, sys; sys.exit(0 if mmcv.__version__ == '$MMCV_VERSION' and u.find_spec('mmcv._ext') else 1)" 2>/dev/null; then
    say "mmcv $MMCV_VERSION with compiled ops is already installed"
else
    if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
        mkdir -p "$WHEEL_DIR"
        if [[ "$CUDA_TAG" == cpu ]]; then
            say "building mmcv $MMCV_VERSION with CPU ops (77 C++ units; measured 14.5 min on 2 CPU cores, 38 min on a heavily loaded one)"
            export FORCE_CUDA=0
        else
            say "building mmcv $MMCV_VERSION with CPU + CUDA ops ($CUDA_TAG; measured about 5 min on 16 cores for one arch)"
            export FORCE_CUDA=1
        fi
        say "the wheel is cached in $WHEEL_DIR; log: $WHEEL_DIR/build.log"
        BUILD_START=$(date +%s)
        # mmcv 2.1.0's setup.py compiles with -std=c++17, but the headers of
        # torch >= 2.10 refuse anything below C++20 ("C++20 or later
        # compatible compiler is required to use ATen"): build from the
        # source distribution with the standard torch's headers ask for.
        SRC_DIR=$(mktemp -d)
        "$PY" -m pip download --disable-pip-version-check -q --no-deps \
            --no-binary :all: -d "$SRC_DIR" "mmcv==$MMCV_VERSION"
        tar -xzf "$SRC_DIR"/mmcv-"$MMCV_VERSION".tar.gz -C "$SRC_DIR"
        CXX_STD=$("$PY" - <<'EOF_STD'
import os, torch
header = os.path.join(os.path.dirname(torch.__file__), 'include', 'ATen', 'ATen.h')
print('c++20' if 'C++20' in open(header).read() else 'c++17')
EOF_STD
)
        if [[ "$CXX_STD" == c++20 ]]; then
            say "torch's headers need C++20: patching mmcv's -std=c++17 flags"
            sed -i 's/-std=c++17/-std=c++20/g; s#/std:c++17#/std:c++20#g' \
                "$SRC_DIR/mmcv-$MMCV_VERSION/setup.py"
        fi
        # No build isolation: isolation would pull setuptools>=82, which has
        # no pkg_resources (mmcv's setup.py imports it), and would hide torch.
        MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} "$PY" -m pip wheel \
            --disable-pip-version-check --no-build-isolation --no-deps -v \
            -w "$WHEEL_DIR" "$SRC_DIR/mmcv-$MMCV_VERSION" >"$WHEEL_DIR/build.log" 2>&1 &
        BUILD_PID=$!
        while kill -0 "$BUILD_PID" 2>/dev/null; do
            sleep 60
            step=$(grep -o '\[[0-9]*/[0-9]*\]' "$WHEEL_DIR/build.log" | tail -n 1 || true)
            say "  still compiling mmcv ${step:-(preparing)}"
        done
        if ! wait "$BUILD_PID"; then
            tail -n 40 "$WHEEL_DIR/build.log" >&2
            rm -f "$WHEEL_DIR"/mmcv-*.whl
            echo "mmcv build failed; full log in $WHEEL_DIR/build.log" >&2
            exit 1
        fi
        rm -rf "$SRC_DIR"
        say "mmcv built in $(( $(date +%s) - BUILD_START )) s"
    else
        say "using the cached mmcv wheel from $WHEEL_DIR"
    fi
    "$PY" -m pip uninstall -y -q mmcv mmcv-lite mmcv-full >/dev/null 2>&1 || true
    "${PIP[@]}" --no-deps "$WHEEL_DIR"/mmcv-*.whl
fi

# ------------------------------------------------------- 4. the rest + mmosar
say "installing runtime, test and optional requirements"
"${PIP[@]}" -r "$REPO/requirements/runtime.txt" -r "$REPO/requirements/tests.txt" \
    -r "$REPO/requirements/optional.txt"
# mmengine asks for opencv-python, which would shadow opencv-python-headless<5
# with OpenCV 5: its other requirements are in runtime.txt.
say "installing mmengine, mmdet, mmpretrain (pinned, see requirements/mminstall.txt;"
say "  pip may note that mmengine wants opencv-python: expected, headless<5 provides cv2)"
"${PIP[@]}" --no-deps $(grep -v -e '^#' -e '^mmcv' "$REPO/requirements/mminstall.txt")
say "installing mmosar in editable mode"
# setup.py develop (--no-use-pep517, setuptools<80) links the checkout with an
# egg-link, through which openmim 0.3.9 (pkg_resources) finds the package and
# its .mim folder; a PEP 660 editable install hides them from mim.
if ! "${PIP[@]}" --no-deps --no-build-isolation --no-use-pep517 -e "$REPO"; then
    say "  this pip has no setup.py develop; PEP 660 editable install instead"
    say "  (then \`mim train mmosar\` needs a regular \`pip install .\`)"
    "${PIP[@]}" --no-deps --no-build-isolation -e "$REPO"
fi

say "environment report"
"$PY" -m mmosar.utils.collect_env
say "done. Activate with: source ${VENV:-<your env>}/bin/activate"
