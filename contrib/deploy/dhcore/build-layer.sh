#!/bin/sh
# Build DH Core's /opt/nuclio layout into ROOT/opt/nuclio:
#
#   contrib/deploy/dhcore/build-layer.sh SOURCE ROOT
#
#   opt/nuclio/processor                 the Nuclio processor's command line (dh-serverless)
#   opt/nuclio/uv/uv                     uv, from PyPI's uv wheel (DH Core's entrypoint calls it)
#   opt/nuclio/requirements/nuclio.txt   the runtime: dh-serverless, its triggers, nuclio-sdk
#   opt/nuclio/requirements/common.txt   the DH SDK and the run_handler bridge (empty without it)
#   opt/nuclio/whl/                      every wheel both files need, for this Python version
#
# Environment: PYTHON (default python3, 3.10 to 3.13 as DH Core's images: the wheels are built
# for it), DH_SDK_VERSION / DH_PYTHON_VERSION (digitalhub[full] and digitalhub-runtime-python;
# set DH_SDK_VERSION= to leave the SDK out), EXTRAS (default: every trigger DH Core launches,
# http, job, extproc (guardrail) and openinference, and the original's input triggers rtsp and
# websocket), UV_VERSION (default: the newest), PIP_WHEEL_OPTIONS (passed to every `pip wheel`,
# e.g. --no-build-isolation where hatchling is installed), WHEELS (a folder holding our
# distributions' wheels already built, e.g. by `make wheels`: copied instead of built again, so
# that layers for several Python versions come from one build; they are pure Python). The
# container recipes (Containerfile.dhcore*) run exactly this.
set -eu

if [ $# -ne 2 ]; then
    echo "usage: $0 SOURCE ROOT" >&2
    exit 2
fi
source_dir=$(cd "$1" && pwd)
root=$(mkdir -p "$2" && cd "$2" && pwd)
python=${PYTHON:-python3}
sdk=${DH_SDK_VERSION-0.15.11}
sdk_python=${DH_PYTHON_VERSION:-0.15.2}
extras=${EXTRAS:-http,job,extproc,openinference,rtsp-trigger,websocket-trigger}

version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
case "$version" in
    3.10|3.11|3.12|3.13) ;;
    *) echo "$0: Python $version is not supported: use 3.10, 3.11, 3.12 or 3.13" >&2; exit 2 ;;
esac

nuclio=$root/opt/nuclio
rm -rf "$nuclio"
mkdir -p "$nuclio/uv" "$nuclio/requirements" "$nuclio/whl"

# Our distributions, as wheels (the meta distribution, core, plugins, the DH Core bridge).
# Pure-Python wheels: built whatever their requires-python (the sinks need 3.11); pip then picks
# only those the requirements below name, each checked against this interpreter.
# shellcheck disable=SC2086  # options are words
if [ -n "${WHEELS:-}" ]; then
    ls "$WHEELS"/dh_serverless-*.whl >/dev/null 2>&1 \
        || { echo "$0: WHEELS=$WHEELS holds no dh_serverless wheel: run 'make wheels WHEELHOUSE=$WHEELS'" >&2; exit 2; }
    cp "$WHEELS"/*.whl "$nuclio/whl/"
else
    PYTHON=$python sh "$source_dir/contrib/deploy/wheelhouse.sh" "$source_dir" "$nuclio/whl" \
        --no-deps --ignore-requires-python ${PIP_WHEEL_OPTIONS:-}
fi
# shellcheck disable=SC2086
"$python" -m pip wheel --quiet --no-deps --wheel-dir "$nuclio/whl" ${PIP_WHEEL_OPTIONS:-} \
    "$source_dir/contrib/dhcore"

# (no tomllib: Python 3.10 has none)
ours=$("$python" -c 'import re, sys; print(re.search(r"^version = \"([^\"]+)\"", open(sys.argv[1]).read(), re.M).group(1))' \
    "$source_dir/pyproject.toml")
printf '%s\n' "# The runtime DH Core's entrypoint installs first, offline (--no-index)." \
    "dh-serverless[$extras]==$ours" "nuclio-sdk" > "$nuclio/requirements/nuclio.txt"
if [ -n "$sdk" ]; then
    printf '%s\n' "# The DH SDK and the run_handler bridge." "dh-serverless-dhcore" \
        "digitalhub[full]==$sdk" "digitalhub-runtime-python==$sdk_python" \
        > "$nuclio/requirements/common.txt"
else
    echo "# Built without the DH SDK (DH_SDK_VERSION empty)." > "$nuclio/requirements/common.txt"
fi

# Every third-party wheel both files need, for this interpreter.
# shellcheck disable=SC2086  # options are words
"$python" -m pip wheel --quiet --wheel-dir "$nuclio/whl" --find-links "$nuclio/whl" \
    ${PIP_WHEEL_OPTIONS:-} -r "$nuclio/requirements/nuclio.txt" -r "$nuclio/requirements/common.txt"

# uv from PyPI: its wheel carries the static binary.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$python" -m pip download --quiet --no-deps --only-binary :all: --dest "$tmp" \
    "uv${UV_VERSION:+==$UV_VERSION}"
"$python" - "$tmp" "$nuclio/uv" <<'PY'
import pathlib, sys, zipfile
wheel = next(pathlib.Path(sys.argv[1]).glob("uv-*.whl"))
with zipfile.ZipFile(wheel) as archive:
    for name in archive.namelist():
        if name.endswith(("/scripts/uv", "/scripts/uvx")):
            target = pathlib.Path(sys.argv[2]) / name.rsplit("/", 1)[1]
            target.write_bytes(archive.read(name))
            target.chmod(0o755)
PY

install -m 0755 "$source_dir/contrib/deploy/dhcore/processor" "$nuclio/processor"
echo "$nuclio: processor, uv/uv, requirements/{nuclio,common}.txt, whl/ ($(ls "$nuclio/whl" | wc -l) wheels, Python $version)"
