#!/usr/bin/env bash
# The arm64 proof (`make test-arm64`): the unit tests on a 64-bit ARM Debian 12, the system of a
# Raspberry Pi 4/5 with 64-bit Raspberry Pi OS, emulated by QEMU on this (x86-64) machine.
#
#   1. installs what is missing on this machine: debootstrap, qemu-user-static, zstd (apt);
#   2. lets the kernel run arm64 programs through qemu-aarch64-static (binfmt_misc);
#   3. builds an arm64 bookworm root filesystem with debootstrap and runs `scripts/bootstrap.sh
#      --test` in it (apt packages, the virtual environment, pip install), once: the result is
#      cached OUTSIDE the clone, keyed by scripts/bootstrap.sh and what pip reads from pyproject.toml;
#   4. unpacks the cached root filesystem, copies this checkout in, runs `scripts/bootstrap.sh
#      --test` again (it must find everything installed) and `pytest tests/unit` inside.
#
#   scripts/arm64.sh [--rebuild] [--keep] [--wheelhouse DIR] [-- PYTEST_ARGS...]
#     --rebuild         build the root filesystem again even if the cache holds one
#     --keep            keep the unpacked root filesystem after the run (its path is printed)
#     --wheelhouse DIR  also install onestop-queue from DIR (scripts/wheels.sh OUT manylinux2014_aarch64)
#                       into a new virtual environment inside, with no index, as a device's
#                       install.sh does, and import every package of the suite from it
#     --key             print the cache key and exit
#     PYTEST_ARGS       replace the default `tests/unit -q -p no:cacheprovider`
#
# Environment: ONESTOP_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/onestop; the root filesystems
# go to its arm64/ folder), DEBIAN_MIRROR (default http://deb.debian.org/debian).
# Needs root (mount, chroot, debootstrap): run as a normal user, it starts itself again with sudo.
# Exit status: pytest's (any non-zero fails, 5 = no test collected included), 2 for a set-up error.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SRC=$PWD

SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# Where the project, and its virtual environment, live inside the root filesystem.
GUEST_SRC=/opt/onestop/src
GUEST_VENV=/opt/onestop/venv
GUEST_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Bumped when this script changes how the root filesystem is made, to rebuild the caches.
LAYOUT=1

say() { printf '\033[1m[arm64]\033[0m %s\n' "$*"; }
die() {
    printf '[arm64] error: %s\n' "$*" >&2
    exit 2
}
now() { date +%s; }
phase_start=0
phase() {
    phase_start=$(now)
    say "$*"
}
phase_done() { say "  done in $(($(now) - phase_start)) s"; }

original_args=("$@")
rebuild=0
keep=0
print_key=0
wheelhouse=""
pytest_args=(tests/unit -q -p no:cacheprovider)
# Under emulation, always: QEMU runs Python 5-10 times slower (more on a busy machine), so the
# per-test limit of pyproject.toml (120 s) becomes 900 s and Hypothesis drops its time-based health
# check (tests/conftest.py, profile "emulated"); and what QEMU cannot show is left out:
#   test_the_process_figures_are_read: qemu-user answers /proc/self/stat for the emulated process
#   with RSS and CPU times 0 (prometheus_client reads them there); a real Pi has real figures.
emulated_args=(--timeout=900 --hypothesis-profile=emulated
    --deselect tests/unit/test_controller_metrics.py::test_the_process_figures_are_read)
while [ $# -gt 0 ]; do
    case "$1" in
    --rebuild) rebuild=1 ;;
    --keep) keep=1 ;;
    --key) print_key=1 ;;
    --wheelhouse)
        [ $# -ge 2 ] || die "--wheelhouse needs a folder"
        wheelhouse=$(cd "$2" 2>/dev/null && pwd) || die "--wheelhouse $2: no such folder"
        compgen -G "$wheelhouse/onestop_queue-*.whl" >/dev/null ||
            die "--wheelhouse $2 holds no onestop_queue-*.whl (make it with scripts/wheels.sh $2 manylinux2014_aarch64)"
        shift
        ;;
    --)
        shift
        [ $# -gt 0 ] || die "nothing after --: give the pytest arguments"
        pytest_args=("$@")
        break
        ;;
    *) die "unknown argument $1 (usage: scripts/arm64.sh [--rebuild] [--keep] [--wheelhouse DIR] [--key] [-- PYTEST_ARGS...])" ;;
    esac
    shift
done

# The cache key: this script's layout, the Debian release, scripts/bootstrap.sh, and the parts of
# pyproject.toml that pip install reads (build system, [project], [tool.setuptools]); a change to
# the ruff, mypy or pytest settings keeps the cache.
cache_key() {
    python3 - "$SUITE" "$LAYOUT" <<'EOF'
import hashlib, json, sys, tomllib
with open("pyproject.toml", "rb") as f:
    pyproject = tomllib.load(f)
read_by_pip = {
    "build-system": pyproject.get("build-system"),
    "project": pyproject.get("project"),
    "setuptools": pyproject.get("tool", {}).get("setuptools"),
}
h = hashlib.sha256()
h.update(json.dumps([sys.argv[1:], read_by_pip], sort_keys=True).encode())
with open("scripts/bootstrap.sh", "rb") as f:
    h.update(f.read())
print(h.hexdigest()[:16])
EOF
}
KEY=$(cache_key) || die "cannot compute the cache key (python3 3.11 or newer reads pyproject.toml)"
if [ "$print_key" = 1 ]; then
    echo "$KEY"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "needs root (mount, chroot, debootstrap) and sudo is missing"
    say "needs root for mount, chroot and debootstrap: running again with sudo"
    exec sudo env ONESTOP_CACHE="${ONESTOP_CACHE:-}" DEBIAN_MIRROR="$MIRROR" \
        http_proxy="${http_proxy:-}" https_proxy="${https_proxy:-}" no_proxy="${no_proxy:-}" \
        PIP_CERT="${PIP_CERT:-}" SSL_CERT_FILE="${SSL_CERT_FILE:-}" \
        "$SRC/scripts/arm64.sh" "${original_args[@]}"
fi

CACHE=${ONESTOP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/onestop}/arm64
TARBALL=$CACHE/rootfs-$SUITE-$KEY.tar.zst
WHEELS_LIST=$CACHE/wheels-$SUITE-$KEY.md
total_start=$(now)

# --- 1. this machine -------------------------------------------------------------------------
phase "host: packages and arm64 emulation"
native=0
[ "$(uname -m)" = aarch64 ] && native=1
need=(debootstrap zstd)
[ "$native" = 1 ] || need+=(qemu-user-static)
missing=()
for pkg in "${need[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null || die "apt-get not found; install by hand: ${missing[*]}"
    say "installing: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The kernel runs an arm64 program through the interpreter registered in binfmt_misc. A Debian
# machine with systemd registers qemu-aarch64 when qemu-user-static is installed; a container
# without systemd has neither the file system mounted nor the entry: do what systemd-binfmt does.
# The entry's F flag makes the kernel open the (static) interpreter now, so it works in a chroot.
BINFMT=/proc/sys/fs/binfmt_misc
guest_interpreter=""
if [ "$native" = 0 ]; then
    if [ ! -e "$BINFMT/register" ]; then
        mount -t binfmt_misc binfmt_misc "$BINFMT" 2>/dev/null ||
            die "cannot mount binfmt_misc on $BINFMT (a container without that permission?): arm64 programs cannot run here"
    fi
    if [ ! -e "$BINFMT/qemu-aarch64" ]; then
        conf=/usr/lib/binfmt.d/qemu-aarch64.conf
        [ -f "$conf" ] || die "$conf is missing: is qemu-user-static installed?"
        grep -v '^#' "$conf" >"$BINFMT/register" || die "the kernel refused the qemu-aarch64 entry of $conf"
        say "registered qemu-aarch64 in binfmt_misc (it stays registered, as a Debian machine does)"
    fi
    grep -qx enabled "$BINFMT/qemu-aarch64" || die "binfmt_misc entry qemu-aarch64 is disabled (echo 1 > $BINFMT/qemu-aarch64)"
    grep -qx enabled "$BINFMT/status" || die "binfmt_misc is disabled (echo 1 > $BINFMT/status)"
    # Without the F flag the kernel looks the interpreter up inside the chroot: copy it there.
    if ! grep -q '^flags:.*F' "$BINFMT/qemu-aarch64"; then
        guest_interpreter=$(awk '/^interpreter/ {print $2}' "$BINFMT/qemu-aarch64")
    fi
fi
phase_done

# --- mounts of a root filesystem, and their removal --------------------------------------------
ROOT=""
mounted=()
mount_guest() {
    local r=$1
    mount -t proc proc "$r/proc"
    mounted=("$r/proc" "${mounted[@]}")
    mount --rbind /sys "$r/sys"
    mount --make-rslave "$r/sys"
    mounted=("$r/sys" "${mounted[@]}")
    mount --rbind /dev "$r/dev"
    mount --make-rslave "$r/dev"
    mounted=("$r/dev" "${mounted[@]}")
    cp -L /etc/resolv.conf "$r/etc/resolv.conf"
    [ -z "$HOST_CA" ] || cp -L "$HOST_CA" "$r$GUEST_CA"
    if [ -n "$guest_interpreter" ]; then
        mkdir -p "$r$(dirname "$guest_interpreter")"
        cp "$guest_interpreter" "$r$guest_interpreter"
    fi
}
umount_guest() {
    local m
    for m in "${mounted[@]}"; do
        umount -R "$m" 2>/dev/null || umount -R -l "$m" || true
    done
    mounted=()
}
# True when nothing is mounted at or below $1 (checked before any rm -rf of a root filesystem).
nothing_mounted_under() {
    ! awk '{print $2}' /proc/self/mounts | grep -q "^$1\(/\|$\)"
}
remove_tree() {
    local dir=$1
    [ -n "$dir" ] && [ -d "$dir" ] || return 0
    if nothing_mounted_under "$dir"; then
        rm -rf --one-file-system "$dir"
    else
        printf '[arm64] warning: %s still has mounts: left in place, remove it by hand\n' "$dir" >&2
    fi
}
cleanup() {
    umount_guest
    if [ -n "$ROOT" ]; then
        if [ "$keep" = 1 ]; then
            say "kept the root filesystem: $ROOT (sudo chroot $ROOT; remove it with rm -rf --one-file-system)"
        else
            remove_tree "$ROOT"
        fi
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The guest's environment: a clean one, with this machine's proxy settings and the certificate
# authorities it trusts (a TLS-inspecting proxy's own CA, on a CI machine behind one), which pip in
# the guest then trusts too.
HOST_CA=""
for f in "${PIP_CERT:-}" "${SSL_CERT_FILE:-}" /etc/ssl/certs/ca-certificates.crt; do
    if [ -n "$f" ] && [ -f "$f" ]; then
        HOST_CA=$f
        break
    fi
done
GUEST_CA=/etc/ssl/certs/onestop-host-ca.crt
guest_env=(HOME=/root PATH="$GUEST_PATH" LANG=C.UTF-8 TERM=dumb)
[ -z "$HOST_CA" ] || guest_env+=(PIP_CERT="$GUEST_CA")
for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
    [ -z "${!v:-}" ] || guest_env+=("$v=${!v}")
done

# Runs a command as root inside the root filesystem.
in_guest() {
    chroot "$ROOT" /usr/bin/env -i "${guest_env[@]}" "$@"
}

# The checkout as git sees it (tracked and new files, not the ignored ones), else without the
# usual generated folders.
copy_project() {
    local dest=$ROOT$GUEST_SRC
    rm -rf "$dest"
    mkdir -p "$dest"
    if git -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git -C "$SRC" ls-files -z --cached --others --exclude-standard |
            (cd "$SRC" && tar --null --ignore-failed-read -T - -cf -) | tar -xf - -C "$dest"
    else
        tar -C "$SRC" --exclude=.git --exclude=.venv --exclude=var --exclude='*cache*' -cf - . | tar -xf - -C "$dest"
    fi
}

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock -n 9 || {
    say "another arm64 run holds $CACHE/.lock: waiting for it"
    flock 9
}

# --- 2. the root filesystem: from the cache, or built --------------------------------------------
if [ "$rebuild" = 1 ] || [ ! -f "$TARBALL" ]; then
    ROOT=$(mktemp -d "$CACHE/build.XXXXXX")
    chmod 755 "$ROOT"
    phase "building the arm64 $SUITE root filesystem in $ROOT (debootstrap, emulated: several minutes)"
    # python3: scripts/bootstrap.sh runs on the system's Python, as on Raspberry Pi OS.
    if ! debootstrap --arch=arm64 --variant=minbase --include=python3,ca-certificates \
        "$SUITE" "$ROOT" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1; then
        tail -n 20 "$CACHE/debootstrap.log" >&2
        die "debootstrap failed: see $CACHE/debootstrap.log"
    fi
    cat >"$ROOT/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb http://deb.debian.org/debian-security $SUITE-security main
EOF
    phase_done

    phase "scripts/bootstrap.sh --test inside (apt packages, virtual environment, pip install: emulated)"
    mount_guest "$ROOT"
    copy_project
    # PIP_REPORT: pip's JSON report of what it installed (wheel or source) -> the wheels list.
    if ! in_guest VENV="$GUEST_VENV" PIP_REPORT=/opt/onestop/pip-report.json PIP_NO_INPUT=1 \
        bash -c "cd $GUEST_SRC && scripts/bootstrap.sh --test" >"$CACHE/bootstrap.log" 2>&1; then
        tail -n 30 "$CACHE/bootstrap.log" >&2
        die "scripts/bootstrap.sh --test failed inside the arm64 root filesystem: see $CACHE/bootstrap.log"
    fi
    grep -a '\[bootstrap\]' "$CACHE/bootstrap.log" | sed 's/^/    /'
    python3 scripts/wheels_report.py "$ROOT/opt/onestop/pip-report.json" >"$WHEELS_LIST.tmp"
    mv "$WHEELS_LIST.tmp" "$WHEELS_LIST"
    in_guest apt-get clean
    rm -rf "$ROOT/root/.cache/pip" "$ROOT$GUEST_SRC"
    umount_guest
    phase_done

    phase "caching the root filesystem as $TARBALL"
    tar -C "$ROOT" --numeric-owner --xattrs -cf - . | zstd -q -T0 -3 -o "$TARBALL.tmp"
    mv "$TARBALL.tmp" "$TARBALL"
    for old in "$CACHE"/rootfs-*.tar.zst "$CACHE"/wheels-*.md; do
        case "$old" in "$TARBALL" | "$WHEELS_LIST") ;; *) rm -f "$old" ;; esac
    done
    say "  $(du -h "$TARBALL" | cut -f1) compressed"
    phase_done
else
    ROOT=$(mktemp -d "$CACHE/run.XXXXXX")
    chmod 755 "$ROOT"
    phase "unpacking the cached root filesystem $(basename "$TARBALL")"
    zstd -q -dc "$TARBALL" | tar -C "$ROOT" --numeric-owner --xattrs -xf -
    phase_done
fi

# --- 3. this checkout inside, its bootstrap, its unit tests ---------------------------------------
phase "copying this checkout to $GUEST_SRC and running scripts/bootstrap.sh --test inside"
[ "${#mounted[@]}" -gt 0 ] || mount_guest "$ROOT"
copy_project
# The cache key covers what pip reads from pyproject.toml, so the virtual environment is current:
# give the copy the time of bootstrap.sh's stamp, or it would reinstall on every checkout's mtime.
stamp=$ROOT$GUEST_VENV/.installed-dev
[ ! -f "$stamp" ] || touch -r "$stamp" "$ROOT$GUEST_SRC/pyproject.toml"
if ! in_guest VENV="$GUEST_VENV" PIP_NO_INPUT=1 bash -c "cd $GUEST_SRC && scripts/bootstrap.sh --test" \
    >"$CACHE/bootstrap-run.log" 2>&1; then
    tail -n 30 "$CACHE/bootstrap-run.log" >&2
    die "scripts/bootstrap.sh --test failed inside the arm64 root filesystem: see $CACHE/bootstrap-run.log"
fi
grep -a '\[bootstrap\]' "$CACHE/bootstrap-run.log" | sed 's/^/    /'
phase_done

[ "$native" = 1 ] || pytest_args+=("${emulated_args[@]}")
phase "pytest ${pytest_args[*]} (arm64$([ "$native" = 1 ] || echo ", emulated"))"
in_guest sh -c "uname -m; $GUEST_VENV/bin/python -c 'import platform; print(platform.python_version(), platform.machine())'" |
    paste -sd' ' | sed 's/^/    machine: /'
status=0
in_guest bash -c 'cd "$0" && exec "$1"/bin/python -m pytest "${@:2}"' "$GUEST_SRC" "$GUEST_VENV" "${pytest_args[@]}" ||
    status=$?
phase_done

# --- 4. optionally: a device's installation from a folder of wheels, offline ------------------
wheelhouse_status=0
if [ -n "$wheelhouse" ]; then
    phase "installing onestop-queue from $wheelhouse inside, with no package index (as a device bundle does)"
    mkdir -p "$ROOT/opt/onestop/wheels"
    cp "$wheelhouse"/*.whl "$ROOT/opt/onestop/wheels/"
    cat >"$ROOT/opt/onestop/import_all.py" <<'EOF'
import importlib

NAMES = ["onestop.cli", "queue_controller", "hub_api", "device_drivers", "display_agents", "kiosk_app",
         "provisioning", "numpy", "PIL.Image", "cryptography.x509", "orjson", "pydantic", "soundfile",
         "kivy", "escpos.printer", "usb.core", "fastapi", "uvicorn"]
for name in NAMES:
    importlib.import_module(name)
print("    imported:", " ".join(NAMES))
EOF
    in_guest bash -c 'set -e
        cd /
        python3 -m venv /opt/onestop/wheelhouse-venv
        /opt/onestop/wheelhouse-venv/bin/pip install -q --no-index --find-links /opt/onestop/wheels onestop-queue
        /opt/onestop/wheelhouse-venv/bin/pip list --format=freeze | paste -sd" " | fold -s -w 100 | sed "s/^/    /"
        KIVY_NO_ARGS=1 KIVY_NO_CONSOLELOG=1 /opt/onestop/wheelhouse-venv/bin/python /opt/onestop/import_all.py' ||
        wheelhouse_status=$?
    if [ "$wheelhouse_status" -ne 0 ]; then
        say "  the installation from $wheelhouse FAILED (status $wheelhouse_status)"
    fi
    phase_done
fi

[ -f "$WHEELS_LIST" ] && say "wheels on aarch64 (pip's report when the root filesystem was built): $WHEELS_LIST"
if [ "$status" -eq 0 ]; then
    say "arm64 unit tests passed; total $(($(now) - total_start)) s"
else
    say "arm64 unit tests FAILED (pytest exit status $status); total $(($(now) - total_start)) s"
fi
[ "$status" -ne 0 ] || status=$wheelhouse_status
exit "$status"
