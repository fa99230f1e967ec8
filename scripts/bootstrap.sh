#!/usr/bin/env bash
# Prepare this machine for onestop: system packages (apt) and the project's virtual environment.
# Safe to run again: it installs only what is missing. Used by `make up`, `make up-province` and `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PY=${PYTHON:-python3}
# Debian packages the suite needs at run time; `--test` adds what the test suite needs
# (a real headless browser for the web pages, a virtual X server for the Kivy screens, PostgreSQL for the
# province tier: its tests start a private cluster with initdb, never the system one).
APT_PACKAGES=(mosquitto mosquitto-clients python3-venv espeak-ng fonts-dejavu-core libusb-1.0-0)
EXTRAS="."
if [ "${1:-}" = "--test" ]; then
    # gcc, python3-dev, linux-libc-dev: python-evdev (the hid scanner backend, in .[dev]) is built
    # from source against the kernel headers; PyPI has no wheel of it
    APT_PACKAGES+=(chromium xvfb xauth systemd faketime postgresql gcc python3-dev linux-libc-dev)
    EXTRAS=".[dev]"
elif [ "${1:-}" = "--province" ]; then
    # `make up-province`: the demo province runs a private PostgreSQL cluster (initdb, as `make test` does)
    APT_PACKAGES+=(postgresql)
fi

say() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*"; }
die() { printf '[bootstrap] error: %s\n' "$*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "not root and sudo is missing: install ${APT_PACKAGES[*]} by hand"
    SUDO="sudo"
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# A mosquitto installed some other way (from source, another distro) is good enough.
if [ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null; then
    missing=("${missing[@]/mosquitto}")
fi
# python3-venv is only needed when this Python cannot create a venv with pip.
if "$PY" -c 'import ensurepip, venv' 2>/dev/null; then
    missing=("${missing[@]/python3-venv}")
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | grep -v '^$' || true)

if [ "${#missing[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null || die "apt-get not found; install by hand: ${missing[*]}"
    say "installing system packages: ${missing[*]}"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "Python 3.11 or newer is needed ($PY is $("$PY" -V 2>&1))"

if [ ! -x "$VENV/bin/python" ]; then
    say "creating the virtual environment in $VENV"
    "$PY" -m venv "$VENV"
fi
stamp="$VENV/.installed-${EXTRAS//[^a-z]/}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    say "installing onestop and its Python dependencies into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    # The distribution was called "onestop" before (a name that belongs to another project on PyPI).
    if "$VENV/bin/python" -m pip show -q onestop >/dev/null 2>&1; then
        "$VENV/bin/python" -m pip uninstall -y -q onestop
    fi
    "$VENV/bin/python" -m pip install -q -e "$EXTRAS"
    touch "$stamp"
fi
say "ready: $("$VENV/bin/python" -V), mosquitto $( (/usr/sbin/mosquitto -h 2>/dev/null || mosquitto -h 2>/dev/null) | head -n1 | awk '{print $3}')"
