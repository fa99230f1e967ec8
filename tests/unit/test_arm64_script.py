"""scripts/arm64.sh's cache key and scripts/wheels_report.py, the list of wheels the arm64 proof prints.

The arm64 run itself (`make test-arm64`) is not started here: it needs root, QEMU and minutes.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "arm64.sh"


def _load_report_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("wheels_report", ROOT / "scripts" / "wheels_report.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["wheels_report"] = module  # dataclasses look the module up while the class is made
    spec.loader.exec_module(module)
    return module


wheels_report = _load_report_module()

FILES = "https://files.pythonhosted.org/packages/aa/bb"


def _item(name: str, version: str, url: str, **info: object) -> dict[str, object]:
    download_info: dict[str, object] = {"url": url, **info}
    if not info:
        download_info["archive_info"] = {"hashes": {"sha256": "0" * 64}}
    return {"download_info": download_info, "metadata": {"name": name, "version": version}}


REPORT = {
    "version": "1",
    "environment": {"platform_machine": "aarch64", "python_full_version": "3.11.2"},
    "install": [
        _item(
            "numpy",
            "2.3.5",
            f"{FILES}/numpy-2.3.5-cp311-cp311-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl",
        ),
        _item("paho-mqtt", "2.1.0", f"{FILES}/paho_mqtt-2.1.0-py3-none-any.whl"),
        _item("Kivy", "2.3.1", f"{FILES}/Kivy-2.3.1.tar.gz"),
        _item("pyserial", "3.5", f"{FILES}/pyserial-3.5.tar.gz"),
        _item("onestop-queue", "0.1.0", "file:///opt/onestop/src", dir_info={"editable": True}),
    ],
}


def _copy_project(tmp_path: Path) -> Path:
    """The two files the key reads, and the script, in a folder of their own."""
    (tmp_path / "scripts").mkdir()
    for rel in ("pyproject.toml", "scripts/bootstrap.sh", "scripts/arm64.sh"):
        shutil.copy2(ROOT / rel, tmp_path / rel)
    return tmp_path


def _key(project: Path) -> str:
    done = subprocess.run(
        ["bash", str(project / "scripts" / "arm64.sh"), "--key"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


def test_the_script_parses() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_cache_key_follows_dependencies_and_bootstrap_not_tool_settings(tmp_path: Path) -> None:
    project = _copy_project(tmp_path)
    first = _key(project)
    assert len(first) == 16 and int(first, 16) >= 0
    assert _key(project) == first  # stable

    pyproject = project / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    pyproject.write_text(text.replace("line-length = 110", "line-length = 100"), encoding="utf-8")
    assert _key(project) == first, "a ruff setting must not rebuild the arm64 root filesystem"

    pyproject.write_text(text.replace('"orjson>=3.9",', '"orjson>=3.10",'), encoding="utf-8")
    assert _key(project) != first, "a dependency must rebuild it"

    pyproject.write_text(text, encoding="utf-8")
    assert _key(project) == first
    with (project / "scripts" / "bootstrap.sh").open("a", encoding="utf-8") as f:
        f.write("# another apt package\n")
    assert _key(project) != first, "a change of scripts/bootstrap.sh must rebuild it"


def test_unknown_argument_is_a_named_error(tmp_path: Path) -> None:
    done = subprocess.run(
        ["bash", str(SCRIPT), "--frobnicate"], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 2
    assert "unknown argument --frobnicate" in done.stderr


def test_report_tells_binary_pure_built_and_project_apart() -> None:
    rows = {i.name: i for i in wheels_report.classify(REPORT)}
    assert rows["numpy"].kind == wheels_report.BINARY
    assert rows["numpy"].detail == "cp311-cp311-manylinux_2_27_aarch64.manylinux_2_28_aarch64"
    assert rows["paho-mqtt"].kind == wheels_report.PURE
    assert rows["Kivy"].kind == wheels_report.BUILT
    assert rows["Kivy"].detail == "source archive"
    assert rows["onestop-queue"].kind == wheels_report.PROJECT
    assert [i.name for i in wheels_report.classify(REPORT)] == [
        "Kivy",
        "numpy",
        "onestop-queue",
        "paho-mqtt",
        "pyserial",
    ]


def test_built_packages_say_compiled_or_pure_from_their_wheel_file(tmp_path: Path) -> None:
    for name, version, purelib, tag in (
        ("kivy", "2.3.1", "false", "cp311-cp311-linux_aarch64"),
        ("pyserial", "3.5", "true", "py2.py3-none-any"),
    ):
        info = tmp_path / f"{name}-{version}.dist-info"
        info.mkdir()
        (info / "WHEEL").write_text(
            f"Wheel-Version: 1.0\nGenerator: setuptools (80.9.0)\nRoot-Is-Purelib: {purelib}\nTag: {tag}\n",
            encoding="utf-8",
        )
    rows = {i.name: i for i in wheels_report.classify(REPORT, tmp_path)}
    assert rows["Kivy"].detail == "compiled, cp311-cp311-linux_aarch64"
    assert rows["pyserial"].detail == "pure Python, py2.py3-none-any"


def test_markdown_counts_each_kind() -> None:
    text = wheels_report.markdown(wheels_report.classify(REPORT), REPORT["environment"])
    assert text.splitlines()[0] == (
        "pip report on aarch64, Python 3.11.2: 1 binary wheels, 1 pure-Python wheels, 2 built from source"
    )
    assert "| Kivy | 2.3.1 | built from source | source archive |" in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "Expecting value"),
        ("[]", "not a JSON object"),
        ('{"version": "1"}', "no 'install' list"),
    ],
)
def test_a_bad_report_is_one_line_and_status_2(
    tmp_path: Path, content: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "report.json"
    path.write_text(content, encoding="utf-8")
    assert wheels_report.main([str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_main_prints_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(REPORT), encoding="utf-8")
    assert wheels_report.main([str(path)]) == 0
    assert "| numpy | 2.3.5 | binary wheel |" in capsys.readouterr().out
