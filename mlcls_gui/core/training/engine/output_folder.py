"""The folders a run uses: the output folder it owns (created, locked, tidied, logged
into) and the data folder it reads (locked shared, so no label change moves images
under it); both released at the end."""

from __future__ import annotations

import logging
from pathlib import Path

from mlcls_gui.core.config import TrainConfig
from mlcls_gui.core.data.csv_labels import find_labels_csv
from mlcls_gui.core.data.data_lock import DataFolderLock, data_folder_of
from mlcls_gui.core.data.dataset import check_data_root
from mlcls_gui.core.errors import ConfigError, MlclsError
from mlcls_gui.core.files.safe_paths import is_inside, real
from mlcls_gui.core.runs.outputs import create_output_folder, prepare_output_folder
from mlcls_gui.core.runs.run_lock import RunFolderLock

logger = logging.getLogger(__name__)


def check_apart(output_dir: Path, images_root: str) -> None:
    """Refuse an output folder that is a label-folder data set's root or inside it:
    the run's model files and logs would sit among the user's label folders (and
    a relabel, or the next scan, would meet them). A CSV names its images, so a
    run folder beside its labels.csv (project/labels.csv, project/runs/) is fine."""
    try:
        if find_labels_csv(images_root) is not None:
            return
        data = check_data_root(images_root)
    except MlclsError:
        return  # a missing data folder: the scan says so in its own words
    if is_inside(output_dir, data, allow_equal=True):
        where = "is the data folder" if real(output_dir) == real(data) else "is inside the data folder"
        raise ConfigError(
            f"The output folder {output_dir} {where} {data}, so the run's model "
            f"files and logs would mix with the images and labels. Choose an output folder outside it "
            f"(for example {data.with_name(data.name + '-output')}).")


class OwnedFolder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = RunFolderLock(path)
        self._created = False
        self._log_handler: logging.Handler | None = None
        self._data_lock: DataFolderLock | None = None

    @property
    def held(self) -> bool:
        return self._lock.held

    def claim(self) -> None:
        """Create and lock the folder: from here on a second run into it is refused."""
        self._created = create_output_folder(self.path)
        self._lock.acquire()

    def lock_data(self, images_root: str) -> None:
        """Hold the data folder for reading until release (an apply waits or is refused)."""
        self._data_lock = DataFolderLock(data_folder_of(images_root), exclusive=False)
        if not self._data_lock.acquire():
            self._data_lock = None

    def tidy(self, cfg: TrainConfig, *, archive_previous: bool) -> list[str]:
        return prepare_output_folder(self.path, cfg, archive_previous=archive_previous)

    def attach_log(self, name: str) -> None:
        path = self.path / name
        if path.is_symlink():  # FileHandler would append to whatever it leads to
            raise ConfigError(f"The run's log {path} is a symbolic link; a run writes only inside its output "
                              "folder. Remove the link, or choose another output folder.")
        handler = logging.FileHandler(path, mode="a", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        handler.setLevel(logging.INFO)
        package_logger = logging.getLogger("mlcls_gui")
        if package_logger.level == logging.NOTSET or package_logger.level > logging.INFO:
            package_logger.setLevel(logging.INFO)
        package_logger.addHandler(handler)
        self._log_handler = handler

    def release(self) -> None:
        if self._data_lock is not None:
            self._data_lock.release()
            self._data_lock = None
        if self._log_handler is not None:
            logging.getLogger("mlcls_gui").removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None
        if not self._lock.held:
            return
        self._lock.release()
        if self._created:
            try:  # a run that failed before writing anything leaves no empty folder behind
                self.path.rmdir()
            except OSError:
                pass
