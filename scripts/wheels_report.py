"""What pip installed, and from what: a binary wheel, a pure-Python wheel, or a source archive it built.

    python3 scripts/wheels_report.py REPORT.json [SITE_PACKAGES]

REPORT.json is pip's installation report (``pip install --report FILE``, or ``PIP_REPORT=FILE``);
scripts/arm64.sh writes it when it builds the arm64 root filesystem. For a package built from source,
SITE_PACKAGES (the environment it went into) tells whether the build holds compiled code. Prints a
Markdown table, one row per installed distribution, sorted by name. Python 3.11 standard library only:
it runs on the machine that runs scripts/arm64.sh, outside the project's environment.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

BINARY = "binary wheel"
PURE = "pure-Python wheel"
BUILT = "built from source"
PROJECT = "this project (editable)"


@dataclass(frozen=True)
class Installed:
    """One distribution of the report and how it was installed."""

    name: str
    version: str
    kind: str
    detail: str


class ReportError(ValueError):
    """The file is not a pip installation report."""


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _wheel_tags(filename: str) -> tuple[str, str, str]:
    """(python, abi, platform) tags of a wheel file name (PEP 427: the last three dash fields)."""
    parts = filename[: -len(".whl")].split("-")
    if len(parts) < 5:
        raise ReportError(f"not a wheel file name: {filename}")
    return parts[-3], parts[-2], parts[-1]


def _built_detail(site_packages: Path | None, name: str, version: str) -> str:
    """Whether the wheel pip built is pure Python (its WHEEL file), when the environment is at hand."""
    if site_packages is None:
        return "source archive"
    wheel = site_packages / f"{_normalise(name)}-{version}.dist-info" / "WHEEL"
    if not wheel.is_file():
        return "source archive"
    fields = dict(
        line.split(": ", 1) for line in wheel.read_text(encoding="utf-8").splitlines() if ": " in line
    )
    compiled = fields.get("Root-Is-Purelib", "true").strip().lower() != "true"
    return f"{'compiled' if compiled else 'pure Python'}, {fields.get('Tag', '?').strip()}"


def classify(report: dict[str, object], site_packages: Path | None = None) -> list[Installed]:
    """Every installed distribution of a pip report, with the kind of file it came from."""
    items = report.get("install")
    if not isinstance(items, list):
        raise ReportError("no 'install' list: not a pip installation report")
    found: list[Installed] = []
    for item in items:
        meta = item.get("metadata", {})
        info = item.get("download_info", {})
        name, version = str(meta.get("name", "?")), str(meta.get("version", "?"))
        url = str(info.get("url", ""))
        filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        if "dir_info" in info:
            found.append(Installed(name, version, PROJECT, url))
        elif filename.endswith(".whl"):
            python, abi, platform = _wheel_tags(filename)
            if platform == "any":
                found.append(Installed(name, version, PURE, f"{python}-{abi}-{platform}"))
            else:
                found.append(Installed(name, version, BINARY, f"{python}-{abi}-{platform}"))
        else:
            found.append(Installed(name, version, BUILT, _built_detail(site_packages, name, version)))
    return sorted(found, key=lambda i: _normalise(i.name))


def markdown(installed: list[Installed], environment: dict[str, object]) -> str:
    """The table, under a line that names the machine and Python the report was made on."""
    counts = {k: sum(1 for i in installed if i.kind == k) for k in (BINARY, PURE, BUILT)}
    lines = [
        f"pip report on {environment.get('platform_machine', '?')}, "
        f"Python {environment.get('python_full_version', '?')}: "
        f"{counts[BINARY]} binary wheels, {counts[PURE]} pure-Python wheels, "
        f"{counts[BUILT]} built from source",
        "",
        "| package | version | installed from | tags |",
        "|---|---|---|---|",
    ]
    lines += [f"| {i.name} | {i.version} | {i.kind} | {i.detail} |" for i in installed]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """Print the table for a report file; 2 with a one-line error for a bad file."""
    if len(argv) not in (1, 2):
        print("usage: wheels_report.py REPORT.json [SITE_PACKAGES]", file=sys.stderr)
        return 2
    try:
        report = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
        if not isinstance(report, dict):
            raise ReportError("not a JSON object")
        installed = classify(report, Path(argv[1]) if len(argv) == 2 else None)
    except (OSError, ValueError) as exc:
        print(f"wheels_report.py: {argv[0]}: {exc}", file=sys.stderr)
        return 2
    env = report.get("environment")
    sys.stdout.write(markdown(installed, env if isinstance(env, dict) else {}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
