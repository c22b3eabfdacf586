"""What the window remembers between sessions (QSettings): layout, recent data
folders, the last settings and the model in the Predict panel."""

from __future__ import annotations

import json
import logging
import os

from PySide6.QtCore import QByteArray, QSettings

from mlcls_gui.core.config import TrainConfig

logger = logging.getLogger(__name__)


def stored_bytes(settings: QSettings, key: str) -> QByteArray | None:
    value = settings.value(key)
    return value if isinstance(value, QByteArray) and not value.isEmpty() else None


def recent_roots(settings: QSettings) -> list[str]:
    """The recent data folders that still exist (a folder gone since is not offered)."""
    text = settings.value("data/recent_roots", "")
    try:
        roots = json.loads(text) if isinstance(text, str) and text else []
    except json.JSONDecodeError:
        roots = []
    return [r for r in roots if isinstance(r, str) and os.path.isdir(r)]


def last_config(settings: QSettings) -> TrainConfig | None:
    text = settings.value("config/last", "")
    if not isinstance(text, str) or not text:
        return None
    try:
        return TrainConfig.from_dict(json.loads(text), source="the last session's settings")
    except Exception as exc:  # noqa: BLE001 - a bad entry must never block the start
        logger.warning("Ignoring the last session's settings: %s", exc)
        return None


def last_model(settings: QSettings) -> str:
    model = settings.value("predict/model", "")
    return model if isinstance(model, str) and model and os.path.isfile(model) else ""


def save(settings: QSettings, *, geometry: QByteArray, splitter: QByteArray, roots: list[str],
         config: TrainConfig | None, model: str) -> None:
    settings.setValue("window/geometry", geometry)
    settings.setValue("window/splitter", splitter)
    settings.setValue("data/recent_roots", json.dumps(roots))
    if config is not None:
        settings.setValue("config/last", json.dumps(config.to_dict()))
    if model:
        settings.setValue("predict/model", model)
    settings.sync()
