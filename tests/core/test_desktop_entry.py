"""--install-desktop-entry: a valid .desktop file and the icon under $XDG_DATA_HOME."""

from __future__ import annotations

import configparser
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlcls_gui import desktop_entry
from mlcls_gui.cli import main
from mlcls_gui.desktop_entry import ICON_PNG, ICON_SVG, exec_quote, install_desktop_entry


def read_entry(path: Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return dict(parser["Desktop Entry"])


def test_the_cli_writes_entry_and_icons(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    launcher = tmp_path / "bin" / "mlcls-gui"
    launcher.parent.mkdir()
    launcher.write_text("#!/bin/sh\n")
    launcher.chmod(0o755)
    monkeypatch.setattr(sys, "argv", [str(launcher), "--install-desktop-entry"])
    assert main(["--install-desktop-entry"]) == 0
    entry = tmp_path / "applications" / "mlcls-gui.desktop"
    png = tmp_path / "icons" / "hicolor" / "256x256" / "apps" / "mlcls-gui.png"
    svg = tmp_path / "icons" / "hicolor" / "scalable" / "apps" / "mlcls-gui.svg"
    assert capsys.readouterr().out.splitlines() == [f"Wrote {entry}", f"Wrote {png}", f"Wrote {svg}"]
    assert png.read_bytes() == ICON_PNG.read_bytes() and svg.read_bytes() == ICON_SVG.read_bytes()
    fields = read_entry(entry)
    assert fields["Exec"] == str(launcher)
    assert fields["Icon"] == str(png)
    assert fields["Type"] == "Application" and fields["Name"] == "mlcls-gui"
    assert fields["Categories"] == "Science;ArtificialIntelligence;ImageProcessing;"
    assert fields["StartupWMClass"] == "mlcls-gui"  # Qt's WM_CLASS is the application name
    assert not list(entry.parent.glob(".*.tmp"))  # no temporary of the atomic write left


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils not installed")
def test_desktop_file_validate_accepts_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    # A launcher in a folder with a space: Exec= must quote it.
    monkeypatch.setattr(desktop_entry, "launcher_command",
                        lambda: ["/opt/my apps/python3", "-m", "mlcls_gui"])
    with caplog.at_level(logging.WARNING):
        entry = install_desktop_entry({"XDG_DATA_HOME": str(tmp_path)})[0]
    assert read_entry(entry)["Exec"] == '"/opt/my apps/python3" -m mlcls_gui'
    result = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout
    assert not caplog.records


def test_launcher_falls_back_to_python_m(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["/somewhere/mlcls_gui/__main__.py"])
    monkeypatch.setattr(desktop_entry.shutil, "which", lambda name: None)
    assert desktop_entry.launcher_command() == [str(Path(sys.executable).resolve()), "-m", "mlcls_gui"]


def test_exec_quoting_follows_the_spec() -> None:
    assert exec_quote("/usr/bin/mlcls-gui") == "/usr/bin/mlcls-gui"
    assert exec_quote("/a b/c") == '"/a b/c"'
    assert exec_quote('/x"$`\\y') == '"/x\\"\\$\\`\\\\y"'
    assert exec_quote("/100%/x") == '"/100%%/x"'


def test_relative_xdg_data_home_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert desktop_entry.data_home({"XDG_DATA_HOME": "relative/dir"}) == tmp_path / ".local" / "share"


def test_an_unwritable_folder_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker))
    assert main(["--install-desktop-entry"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mlcls-gui: error: Cannot write the desktop entry to ")
    assert "XDG_DATA_HOME" in err[0]


def test_other_systems_are_told_it_is_for_linux(tmp_path: Path) -> None:
    with pytest.raises(desktop_entry.DesktopEntryError, match="Linux"):
        install_desktop_entry({"XDG_DATA_HOME": str(tmp_path)}, platform="win32")
    assert not any(tmp_path.iterdir())
