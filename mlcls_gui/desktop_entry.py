"""``mlcls-gui --install-desktop-entry``: put the app into the desktop's menu.

Writes a freedesktop ``.desktop`` file and the icon under the user's data
folder ($XDG_DATA_HOME, by default ~/.local/share), so no root is needed.
No Qt here: it runs from the command line before any window exists.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from mlcls_gui.core.errors import MlclsError
from mlcls_gui.core.files.atomic_files import write_text_atomic

logger = logging.getLogger(__name__)

APP_ID = "mlcls-gui"  # the .desktop name, the icon name and Qt's desktop file name / WM class
ASSETS = Path(__file__).resolve().parent / "assets"
ICON_PNG = ASSETS / f"{APP_ID}.png"
ICON_SVG = ASSETS / f"{APP_ID}.svg"


class DesktopEntryError(MlclsError):
    """The desktop entry could not be written."""


def data_home(environ: dict[str, str] | os._Environ | None = None) -> Path:
    """$XDG_DATA_HOME when it is an absolute path (the spec ignores relative ones), else ~/.local/share."""
    value = (os.environ if environ is None else environ).get("XDG_DATA_HOME", "")
    return Path(value) if value and os.path.isabs(value) else Path.home() / ".local" / "share"


def launcher_command() -> list[str]:
    """How the menu starts the app: the installed mlcls-gui script, else this Python with -m."""
    candidates = []
    if sys.argv and sys.argv[0] and Path(sys.argv[0]).name in (APP_ID, f"{APP_ID}.exe"):
        candidates.append(Path(sys.argv[0]))
    found = shutil.which(APP_ID)
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        path = candidate.expanduser().resolve()
        if path.is_file() and os.access(path, os.X_OK):
            return [str(path)]
    return [str(Path(sys.executable).resolve()), "-m", "mlcls_gui"]


def exec_quote(argument: str) -> str:
    """One Exec= argument, quoted as the Desktop Entry spec asks when it holds reserved characters."""
    if argument and not any(c in argument for c in ' \t\n"\'\\><~|&;$*?#()`%'):
        return argument
    escaped = argument.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`").replace("$", "\\$")
    # The value itself is a string whose backslashes are escaped once more (spec: "Value types").
    return '"' + escaped.replace("%", "%%") + '"'


def desktop_entry_text(command: list[str], icon: Path) -> str:
    exec_line = " ".join(exec_quote(part) for part in command).replace("\\", "\\\\")
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Name=mlcls-gui",
        "GenericName=Image classifier trainer",
        "Comment=Train multi-label image classifiers from folders of images",
        f"Exec={exec_line}",
        f"Icon={icon}",
        "Terminal=false",
        # One main category (several list the app in several menus), then registered refinements.
        "Categories=Science;ArtificialIntelligence;ImageProcessing;",
        "Keywords=machine learning;deep learning;image;classifier;training;",
        f"StartupWMClass={APP_ID}",
        "StartupNotify=true",
        "",
    ])


def install_desktop_entry(environ: dict[str, str] | None = None, platform: str | None = None) -> list[Path]:
    """Copy the icons and write ``applications/mlcls-gui.desktop``; returns the files written.

    Icon= names the PNG by its absolute path, so the menu shows it even on a
    desktop without the hicolor icon theme; the SVG goes beside it for themes that scale."""
    platform = platform or sys.platform
    if platform.startswith(("win", "darwin", "cygwin")):
        raise DesktopEntryError(
            f"--install-desktop-entry adds mlcls-gui to Linux (freedesktop) menus; on {platform} "
            "start it with the mlcls-gui command instead.")
    if not ICON_PNG.is_file() or not ICON_SVG.is_file():
        raise DesktopEntryError(f"The icon files are missing from {ASSETS}; reinstall mlcls-gui.")
    home = data_home(environ)
    png = home / "icons" / "hicolor" / "256x256" / "apps" / f"{APP_ID}.png"
    svg = home / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"
    entry = home / "applications" / f"{APP_ID}.desktop"
    try:
        for source, target in ((ICON_PNG, png), (ICON_SVG, svg)):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        entry.parent.mkdir(parents=True, exist_ok=True)
        # A menu watching the folder never reads half a file.
        write_text_atomic(entry, desktop_entry_text(launcher_command(), png))
    except OSError as exc:
        where = exc.filename or home
        raise DesktopEntryError(
            f"Cannot write the desktop entry to {where} ({exc.strerror or exc}); "
            "check that the folder is writable or set XDG_DATA_HOME to one that is."
        ) from None
    _validate(entry)
    return [entry, png, svg]


def _validate(entry: Path) -> None:
    """Log what desktop-file-validate (desktop-file-utils), when installed, finds wrong."""
    validator = shutil.which("desktop-file-validate")
    if validator is None:
        return
    try:
        result = subprocess.run([validator, str(entry)], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        logger.debug("desktop-file-validate did not run", exc_info=True)
        return
    report = (result.stdout + result.stderr).strip()
    if result.returncode != 0 or "error:" in report or "warning:" in report:
        logger.warning("desktop-file-validate on %s: %s", entry, report or f"exit {result.returncode}")
    elif report:
        logger.debug("desktop-file-validate on %s: %s", entry, report)  # hints only
