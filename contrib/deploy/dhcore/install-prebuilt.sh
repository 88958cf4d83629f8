#!/bin/sh
# Install a DH Core layout's requirements offline (the prebuilt image's step):
#
#   contrib/deploy/dhcore/install-prebuilt.sh /opt/nuclio [TARGET_PYTHON]
#
# Installs requirements/nuclio.txt then requirements/common.txt from whl/ alone, into
# TARGET_PYTHON (default python3: the image's interpreter) and checks the processor starts.
set -eu

if [ $# -lt 1 ]; then
    echo "usage: $0 NUCLIO_DIR [TARGET_PYTHON]" >&2
    exit 2
fi
nuclio=$1
python=${2:-python3}
for requirements in nuclio common; do
    "$python" -m pip install --no-index --find-links "$nuclio/whl" \
        -r "$nuclio/requirements/$requirements.txt"
done
"$python" -m dh_serverless.core.processor --list-runtimes
