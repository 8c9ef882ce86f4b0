"""Packaging: folders import as chargekit.*, the CLI runs from the virtual environment."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from chargekit.tools.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def test_every_python_package_folder_is_listed_in_pyproject():
    listed = set(SETUPTOOLS["packages"])
    for name, folder in SETUPTOOLS["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            package = ".".join([name, *relative.parts])
            assert package in listed, (
                f"{package} ({init.parent}) is missing from pyproject packages"
            )


def test_folders_import_as_chargekit_subpackages_and_not_bare(tmp_path):
    probe = (
        "import importlib.util as u, chargekit.protocol.ocppj as o, chargekit.tools.cli;"
        "print(o.__file__);"
        "print([n for n in ('protocol', 'tools', 'central', 'firmware') if u.find_spec(n)])"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    location, bare = done.stdout.splitlines()
    assert Path(location).parent == ROOT / "protocol"
    assert bare == "[]"


def test_chargekit_help_from_the_virtual_environment():
    script = Path(sys.executable).with_name("chargekit")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=True)
    assert "mpy-check" in done.stdout and "ocpp" in done.stdout
    version = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("chargekit 0.")


def test_no_subcommand_prints_help_and_fails(capsys):
    assert cli_main([]) == 2
    assert "usage: chargekit" in capsys.readouterr().out


def test_ocpp_check_command(capsys):
    assert cli_main(["ocpp", "check", '[2,"7","Heartbeat",{}]']) == 0
    assert capsys.readouterr().out.strip() == "OK Call Heartbeat id=7"
    assert cli_main(["ocpp", "check", '[2,"7","Authorize",{"idTag":"' + "A" * 21 + '"}]']) == 1
    assert capsys.readouterr().out.strip() == (
        'CALLERROR [4,"7","TypeConstraintViolation","idTag: longer than 20 chars",{}]'
    )
    assert cli_main(["ocpp", "check", "--action", "Reset", '[3,"8",{"status":"Maybe"}]']) == 1
    assert capsys.readouterr().out.startswith("invalid: PropertyConstraintViolation")
