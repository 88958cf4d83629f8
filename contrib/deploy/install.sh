#!/bin/sh
# Install dh-serverless with the chosen extras from a wheelhouse into a new virtual environment.
#
#   contrib/deploy/install.sh VENV WHEELHOUSE [EXTRAS]      EXTRAS: comma-separated, default http,job
#
# These are the exact steps the Containerfile runs; tests/test_deploy.py runs them too.
# The image's wheelhouse holds every dependency and the Containerfile sets PIP_NO_INDEX=1;
# with a wheelhouse of dh-serverless distributions only, leave the index on for third-party ones.
set -eu

if [ $# -lt 2 ]; then
    echo "usage: $0 VENV WHEELHOUSE [EXTRAS]" >&2
    exit 2
fi
venv=$1
wheelhouse=$2
extras=${3:-http,job}

"${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install --find-links "$wheelhouse" "dh-serverless[$extras]"
"$venv/bin/dh-serverless" --version
