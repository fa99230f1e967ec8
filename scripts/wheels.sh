#!/usr/bin/env bash
# The wheels a device bundle or the hub machine installs from (docs/deployment.md, "Wheels"):
# this project's wheel (distribution onestop-queue) and the wheels of all its dependencies.
#   scripts/wheels.sh OUT                         for this machine's platform (pip wheel)
#   scripts/wheels.sh OUT manylinux2014_aarch64   for a 64-bit Raspberry Pi OS (pip download, Python 3.11)
# Needs the internet once; installing from OUT then needs none:
#   pip install --no-index --find-links OUT onestop-queue
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:?usage: scripts/wheels.sh OUT [PLATFORM]}"
platform="${2:-}"
pip="${VENV:-.venv}/bin/pip"
[ -x "$pip" ] || pip="python3 -m pip"
mkdir -p "$out"
rm -f "$out"/onestop_queue-*.whl
$pip wheel --no-deps -w "$out" .
project="$(ls "$out"/onestop_queue-*.whl)"
if [ -z "$platform" ]; then
    $pip wheel -w "$out" "$project"
else
    $pip download -d "$out" --only-binary=:all: --platform "$platform" \
        --python-version "${PYTHON_VERSION:-3.11}" "$project"
fi
echo "wheels in $out: $(ls "$out"/*.whl | wc -l) (give it to: onestop provision device bundle ... --wheels $out)"
