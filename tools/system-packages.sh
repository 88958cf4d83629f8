#!/bin/sh
# Make sure the Debian packages of tools/system-packages.txt are installed.
#
#   sh tools/system-packages.sh          # install what is missing (root), or say what to run
#   sh tools/system-packages.sh --check  # only say what is missing (exit 1 if anything is)
#
# Installs with apt-get when run as root on Debian; otherwise prints the one command to run
# and exits 1. DH_SKIP_SYSTEM_PACKAGES=1 skips the check (a machine with the tools from
# elsewhere, or no Debian).
set -eu

list="$(dirname "$0")/system-packages.txt"
packages=$(sed -e 's/#.*//' "$list" | tr -s ' \t' '\n\n' | sed -e '/^$/d')

if [ -n "${DH_SKIP_SYSTEM_PACKAGES:-}" ]; then
    exit 0
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "tools/system-packages.sh: not a Debian system, so the tools cannot be checked." >&2
    echo "Install the equivalents of:" $packages >&2
    echo "then run again with DH_SKIP_SYSTEM_PACKAGES=1." >&2
    exit 1
fi

# One dpkg-query for the whole list; packages it does not know are missing too.
# shellcheck disable=SC2086  # one word per package
installed=$(dpkg-query -W -f='${db:Status-Status} ${Package}\n' $packages 2>/dev/null \
    | sed -n 's/^installed //p' || true)
missing=
for package in $packages; do
    if ! printf '%s\n' "$installed" | grep -qx "$package"; then
        missing="$missing $package"
    fi
done
if [ -z "$missing" ]; then
    exit 0
fi

command="apt-get install -y --no-install-recommends$missing"
if [ "${1:-}" != "--check" ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing the system packages the tests use:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing
    exit 0
fi

echo "The tests need these system packages:$missing" >&2
echo "Install them with:" >&2
echo "    sudo sh -c 'apt-get update && $command'" >&2
exit 1
