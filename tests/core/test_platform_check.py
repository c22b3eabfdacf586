"""The xcb check: missing X11 libraries become one install command before Qt aborts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mlcls_gui import platform_check
from mlcls_gui.cli import main
from mlcls_gui.platform_check import missing_libraries, missing_libraries_message, will_use_xcb, xcb_problem

LDD_OUTPUT = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxkbcommon-x11.so.0 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f)
"""
X11 = {"DISPLAY": ":0"}


@pytest.fixture()
def fake_ldd(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    calls: list[list[str]] = []

    def run(command, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(command, 0, stdout=LDD_OUTPUT, stderr="")

    monkeypatch.setattr(platform_check.shutil, "which", lambda name: "/usr/bin/ldd")
    monkeypatch.setattr(platform_check.subprocess, "run", run)
    return calls


def test_missing_libraries_become_one_apt_and_dnf_command(fake_ldd) -> None:
    line = xcb_problem(X11, platform="linux")
    assert line == (
        "the window needs system libraries Qt cannot bring: install them with: "
        "sudo apt-get install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0 "
        "(Fedora: sudo dnf install xcb-util-cursor xcb-util-wm xcb-util-keysyms libxkbcommon-x11)"
    )
    # Both the plugin and the Qt library that holds most of its dependencies were asked about.
    assert [Path(c[1]).name for c in fake_ldd] == ["libqxcb.so", "libQt6XcbQpa.so.6"]


def test_the_cli_prints_the_line_and_exits_2_before_qt(fake_ldd, monkeypatch, capsys) -> None:
    monkeypatch.setenv("DISPLAY", ":0")
    for name in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(platform_check.sys, "platform", "linux")
    assert main(["--demo"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"mlcls-gui: error: {xcb_problem(X11, platform='linux')}"]
    assert "sudo apt-get install libxcb-cursor0" in err[0]


@pytest.mark.parametrize(("environ", "expected"), [
    ({"DISPLAY": ":0"}, True),
    ({"DISPLAY": ":0", "XDG_SESSION_TYPE": "x11", "WAYLAND_DISPLAY": "wayland-0"}, True),
    ({"DISPLAY": ":0", "XDG_SESSION_TYPE": "wayland", "WAYLAND_DISPLAY": "wayland-0"}, False),
    ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, False),
    ({"QT_QPA_PLATFORM": "xcb", "WAYLAND_DISPLAY": "wayland-0"}, True),
    ({"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ":0"}, False),
    ({"QT_QPA_PLATFORM": "wayland;xcb", "DISPLAY": ":0"}, False),
    ({}, False),
])
def test_only_an_xcb_start_is_checked(environ, expected) -> None:
    assert will_use_xcb(environ) is expected


def test_no_check_off_linux_or_off_xcb(fake_ldd) -> None:
    assert xcb_problem(X11, platform="win32") == ""
    assert xcb_problem({"QT_QPA_PLATFORM": "offscreen"}, platform="linux") == ""
    assert fake_ldd == []


def test_surprises_never_block_the_window(monkeypatch) -> None:
    monkeypatch.setattr(platform_check.shutil, "which", lambda name: None)  # no ldd
    assert xcb_problem(X11, platform="linux") == ""

    def broken(*args, **kwargs):
        raise subprocess.TimeoutExpired("ldd", 10)

    monkeypatch.setattr(platform_check.shutil, "which", lambda name: "/usr/bin/ldd")
    monkeypatch.setattr(platform_check.subprocess, "run", broken)
    assert xcb_problem(X11, platform="linux") == ""


def test_unknown_and_qt_libraries() -> None:
    assert missing_libraries_message([]) == ""
    assert missing_libraries_message(["libQt6Gui.so.6"]) == ""  # a broken PySide6, not a system package
    assert "libfoo.so.3 not found" in missing_libraries_message(["libfoo.so.3"])
    line = missing_libraries_message(["libEGL.so.1", "libfoo.so.3", "libGL.so.1"])
    assert "sudo apt-get install libegl1 libgl1 " in line and "sudo dnf install libglvnd-egl libglvnd-glx)" in line
    assert line.endswith("; also missing: libfoo.so.3")


def test_this_machine_has_what_xcb_needs() -> None:
    """A real ldd over the installed plugin: nothing missing here, so no message."""
    libraries = platform_check.xcb_libraries()
    assert [p.name for p in libraries] == ["libqxcb.so", "libQt6XcbQpa.so.6"]
    assert missing_libraries(libraries) == []
    assert xcb_problem(X11, platform="linux") == ""


@pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("ldd") is None, reason="needs gcc and ldd")
def test_a_real_library_with_a_missing_dependency(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real ldd on a library whose dependency is gone (a made-up name: this machine has
    every xcb library), mapped to its package as libxcb-cursor.so.0 would be."""
    soname = "libmlcls-test-cursor.so.0"
    monkeypatch.setitem(platform_check.PACKAGES, soname, ("libxcb-cursor0", "xcb-util-cursor"))
    source = tmp_path / "empty.c"
    source.write_text("int unused(void) { return 0; }\n")
    dependency = tmp_path / soname
    subprocess.run(["gcc", "-shared", "-fPIC", f"-Wl,-soname,{soname}", "-o", str(dependency), str(source)],
                   check=True)
    plugin = tmp_path / "libqxcb.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-Wl,--no-as-needed", "-o", str(plugin), str(source),
                    str(dependency)], check=True)
    dependency.unlink()
    missing = missing_libraries([plugin])
    assert missing == [soname]
    assert missing_libraries_message(missing).endswith(
        "sudo apt-get install libxcb-cursor0 (Fedora: sudo dnf install xcb-util-cursor)")


def test_the_check_imports_no_qt() -> None:
    """It must run before Qt can abort the process, so it may not load Qt itself."""
    import sys

    code = ("import sys, mlcls_gui.platform_check as c, mlcls_gui.desktop_entry\n"
            "c.xcb_problem({'DISPLAY': ':0'}, platform='linux')\n"
            "bad = [n for n in sys.modules if n.startswith(('PySide6', 'shiboken6', 'mlcls_gui.gui'))]\n"
            "assert not bad, bad\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
