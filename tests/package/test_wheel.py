"""winfleet is a library: the wheel built from this repository installs into a fresh virtualenv and a
small user program, run outside the repository, uses its public API under Pulumi mocks.

The fresh virtualenv gets winfleet from the wheel only (`--no-index --no-deps`); its third-party
dependencies come from the project's virtualenv through a .pth file, so nothing is downloaded.
"""
from __future__ import annotations

import json
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "requirements.txt"):
        shutil.copy(ROOT / name, src / name)
    for folder in ("components", "scripts"):
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "-w", str(dist), str(src)], check=True, cwd=tmp)
    wheel = next(dist.glob("winfleet-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
                   check=True)
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    deps = [p for p in site.getsitepackages() + [sysconfig.get_paths()["purelib"]] if Path(p).is_dir()]
    (Path(purelib) / "project_deps.pth").write_text("\n".join(sorted(set(deps))) + "\n")
    return {"python": py, "wheel": wheel, "purelib": Path(purelib), "tmp": tmp}


def test_wheel_holds_the_package_and_its_drivers(installed):
    import zipfile
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    assert "winfleet/__init__.py" in names and "winfleet/host/windows_service.py" in names
    drivers = {Path(n).name for n in names if n.startswith("winfleet/drivers/")}
    expected = {p.name for p in (ROOT / "scripts").rglob("*.ps1")}
    assert drivers == expected
    assert not any(n.startswith(("components/", "tests/", "tools/")) for n in names)


def test_user_program_uses_the_public_api_outside_the_repository(installed):
    prog_dir = installed["tmp"] / "userprog"
    prog_dir.mkdir()
    shutil.copy(HERE / "user_program.py", prog_dir / "__main__.py")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(installed["tmp"]), "PULUMI_SKIP_UPDATE_CHECK": "1"}
    proc = subprocess.run([str(installed["python"]), "__main__.py"], cwd=prog_dir, env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])
    assert Path(out["package_file"]).is_relative_to(installed["purelib"])
    assert Path(out["drivers_dir"]) == installed["purelib"] / "winfleet" / "drivers"
    assert out["service_read_script_chars"] > 1000
    assert out["components_importable"] is False
    assert out["hosts"] == ["edge-0"]
    assert out["fleet_class"] == "winfleet.fleet.Fleet"
    assert {"pulumi-python:dynamic/winfleet:WindowsService", "pulumi-python:dynamic/winfleet:DataVolume",
            "pulumi-python:dynamic/winfleet:EventLogSettings"} <= set(out["types"])
