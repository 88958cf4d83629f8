#!/bin/sh
# Build wheels for every dh-serverless distribution in a checkout into WHEELHOUSE.
#
#   contrib/deploy/wheelhouse.sh SOURCE WHEELHOUSE [PIP_WHEEL_OPTIONS...]
#
# By default the third-party dependencies are built (or downloaded) too, so that install.sh can
# run with PIP_NO_INDEX=1: the Containerfile's build stage does this. `make wheels` passes
# --no-deps for our distributions alone.
set -eu

if [ $# -lt 2 ]; then
    echo "usage: $0 SOURCE WHEELHOUSE [PIP_WHEEL_OPTIONS...]" >&2
    exit 2
fi
wheelhouse=$(mkdir -p "$2" && cd "$2" && pwd)
cd "$1"
shift 2

# Every folder with a pyproject.toml is a distribution; "." is the meta distribution.
dists=.
for pyproject in hookspecs/pyproject.toml core/pyproject.toml \
        plugins/*/pyproject.toml contrib/plugins/*/pyproject.toml; do
    if [ -f "$pyproject" ]; then
        dists="$dists ./${pyproject%/pyproject.toml}"
    fi
done
# shellcheck disable=SC2086  # one word per folder
"${PYTHON:-python3}" -m pip wheel --wheel-dir "$wheelhouse" "$@" $dists
