"""Before the window opens on Linux: can Qt's xcb platform plugin load?

The PySide6 wheel brings Qt but not the X11 helper libraries its xcb plugin
links against (libxcb-cursor0 and friends). Without them Qt aborts with
"Could not load the Qt platform plugin xcb" and a wall of text. This module
asks ``ldd`` which of the plugin's libraries are missing and turns them into
one install command. It never imports Qt, and any surprise (no ``ldd``, an
unusual PySide6 layout, an unknown output) means "no problem found": the
check must never block an install that works.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Mapping, Sequence

logger = logging.getLogger(__name__)

# soname -> (Debian/Ubuntu package, Fedora package)
PACKAGES: dict[str, tuple[str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb-xinerama.so.0": ("libxcb-xinerama0", "libxcb"),
    "libxcb-glx.so.0": ("libxcb-glx0", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libXau.so.6": ("libxau6", "libXau"),
    "libXdmcp.so.6": ("libxdmcp6", "libXdmcp"),
    "libSM.so.6": ("libsm6", "libSM"),
    "libICE.so.6": ("libice6", "libICE"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libGLX.so.0": ("libglx0", "libglvnd-glx"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libgthread-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libz.so.1": ("zlib1g", "zlib"),
}

MESSAGE = "the window needs system libraries Qt cannot bring: install them with: {apt} (Fedora: {dnf})"

_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found\s*$")


def xcb_problem(environ: Mapping[str, str] | None = None, platform: str | None = None) -> str:
    """One line naming the packages to install when the xcb plugin cannot load; else ""."""
    environ = os.environ if environ is None else environ
    if not (platform or sys.platform).startswith("linux") or not will_use_xcb(environ):
        return ""
    try:
        libraries = xcb_libraries()
        return missing_libraries_message(missing_libraries(libraries)) if libraries else ""
    except Exception:  # noqa: BLE001 - a check that fails must never stop the window
        logger.debug("xcb check skipped", exc_info=True)
        return ""


def will_use_xcb(environ: Mapping[str, str]) -> bool:
    """Whether Qt will pick its xcb (X11) plugin in this environment."""
    chosen = environ.get("QT_QPA_PLATFORM", "").strip()
    if chosen:
        return chosen.split(";")[0].split(":")[0].strip() == "xcb"
    if not environ.get("DISPLAY"):
        return False
    # Qt 6 takes its Wayland plugin in a Wayland session; X11 (or XWayland alone) means xcb.
    wayland_session = environ.get("XDG_SESSION_TYPE", "") == "wayland" or not environ.get("XDG_SESSION_TYPE")
    return not (environ.get("WAYLAND_DISPLAY") and wayland_session)


def xcb_libraries() -> list[Path]:
    """The xcb plugin and the Qt library holding most of its dependencies, as installed by PySide6."""
    spec = importlib.util.find_spec("PySide6")  # finds the package without importing Qt
    if spec is None or not spec.submodule_search_locations:
        return []
    qt = Path(list(spec.submodule_search_locations)[0]) / "Qt"
    found = [qt / "plugins" / "platforms" / "libqxcb.so", qt / "lib" / "libQt6XcbQpa.so.6"]
    return [path for path in found if path.is_file()]


def missing_libraries(libraries: Sequence[Path], timeout: float = 10.0) -> list[str]:
    """Sonames ``ldd`` reports as "not found" for any of ``libraries``, in first-seen order."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return []
    missing: list[str] = []
    for library in libraries:
        result = subprocess.run([ldd, str(library)], capture_output=True, text=True, timeout=timeout,
                                check=False)
        for line in result.stdout.splitlines():
            match = _NOT_FOUND.match(line)
            if match and match.group(1) not in missing:
                missing.append(match.group(1))
    return missing


def missing_libraries_message(missing: Sequence[str]) -> str:
    """The one-line install advice for ``missing`` sonames ("" when there is nothing to advise).

    A missing Qt library is a broken PySide6 install, not a system package: no advice."""
    system = [name for name in missing if not name.startswith(("libQt6", "libpyside6", "libshiboken6"))]
    if not system:
        return ""
    apt: list[str] = []
    dnf: list[str] = []
    unknown: list[str] = []
    for name in system:
        if name not in PACKAGES:
            unknown.append(name)
            continue
        debian, fedora = PACKAGES[name]
        apt += [debian] if debian not in apt else []
        dnf += [fedora] if fedora not in dnf else []
    if not apt:
        return (f"the window needs system libraries Qt cannot bring: {', '.join(unknown)} not found; "
                "install the packages that provide them.")
    line = MESSAGE.format(apt="sudo apt-get install " + " ".join(apt), dnf="sudo dnf install " + " ".join(dnf))
    if unknown:
        line += f"; also missing: {', '.join(unknown)}"
    return line
