"""The Settings form's config files: Load…/Save… dialogs and their error messages."""

from __future__ import annotations

import logging
import os
from typing import Any

from PySide6.QtWidgets import QFileDialog

from mlcls_gui.core.config import TrainConfig
from mlcls_gui.core.errors import ConfigError
from mlcls_gui.gui.widgets.background import summarize_exception
from mlcls_gui.gui.widgets.dialogs import ask_save_file, show_error
from mlcls_gui.gui.widgets.field_labels import with_form_labels

logger = logging.getLogger(__name__)


def load_into(form: Any, path: str) -> bool:
    """Read a config JSON into ``form`` (a ConfigForm); a bad file gives an error dialog."""
    try:
        config = TrainConfig.load_json(path)
    except ConfigError as exc:
        show_error(form, "Cannot load the config", summarize_exception(exc))
        return False
    form.set_config(config, baseline_source=os.path.basename(path))
    form.config_loaded.emit(config)
    logger.info("Loaded settings from %s", path)
    return True


def save_from(form: Any, path: str, errors: list[str]) -> bool:
    """Write ``form``'s config as JSON; refuses while a value is invalid (``errors``)."""
    config = form.config()
    if config is None:
        problems = "\n".join(with_form_labels(m) for m in errors)
        show_error(form, "Cannot save the config",
                   "Some settings are invalid; fix the values marked in red first.", problems)
        return False
    try:
        config.save_json(path)
    except OSError as exc:
        show_error(form, "Cannot save the config", f"Could not write {path}: {exc.strerror or exc}.")
        return False
    logger.info("Saved settings to %s", path)
    return True


def ask_and_load(form: Any) -> None:
    path, _ = QFileDialog.getOpenFileName(form, "Load settings", "", "Config JSON (*.json);;All files (*)")
    if path:
        form.load_from_file(path)


def ask_and_save(form: Any) -> None:
    path = ask_save_file(form, "Save settings", "config.json", "Config JSON (*.json)")
    if path:
        form.save_to_file(path)
