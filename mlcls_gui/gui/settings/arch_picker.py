"""The Settings form's Architecture field: a searchable picker over the registry.

An editable combo box. Its list holds the recommended choices under their
headings (small and fast, balanced, accurate), then the other built-in
names. Typing filters every architecture the registry knows (every timm
model) in a pop-up under the field. Each row shows the parameters, the input
size and whether pretrained weights exist; ``ArchCatalog`` computes those off
the GUI thread, so the names show at once and the figures fill in.

The value is the plain arch string. It changes when the user picks a row,
presses Enter or leaves the field, never on a half-typed name; Escape puts
the value back. A name that is not listed (a loaded config's timm model) is
shown as it is.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QEvent, QModelIndex, QObject, QRect, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QBrush, QColor, QFocusEvent, QFont, QKeyEvent, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QAbstractItemView, QComboBox, QCompleter, QHeaderView, QTreeView, QWidget

from mlcls_gui.core.models import registry
from mlcls_gui.core.models.registry import ArchitectureInfo
from mlcls_gui.gui.settings.arch_catalog import SEARCH_LIMIT, ArchCatalog

logger = logging.getLogger(__name__)

COLUMNS = ("Architecture", "Parameters", "Input", "Pretrained", "")
NAME_ROLE = Qt.ItemDataRole.UserRole
SHOWN_MATCHES = 100  # rows in the filter pop-up; more → "type more to narrow"
POPUP_WIDTH = 700  # px: the name and the four figures side by side
FIGURE_WIDTHS = (80, 60, 80, 120)  # px: parameters, input, pretrained, note
HEADING_COLOUR = QColor("#0d47a1")
NOTE_COLOUR = QColor("#666666")
PROBLEM_COLOUR = QColor("#c62828")
PENDING = "…"


def format_parameters(count: int) -> str:
    """11177538 → '11.2 M'; 0 (could not be counted) → '?'."""
    if count <= 0:
        return "?"
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return str(count)


def recommended_group(name: str) -> str:
    for group, names in registry.RECOMMENDED.items():
        if name in names:
            return group
    return ""


def row_cells(name: str, info: ArchitectureInfo | str | None, *,
              group_note: bool = True) -> tuple[str, str, str, str]:
    """Parameters, input, pretrained and a note for one name (``PENDING`` while unknown):
    why it cannot be trained, else (with ``group_note``) which recommendation it is."""
    note = recommended_group(name) if group_note else ""
    if info is None:
        return PENDING, PENDING, PENDING, note
    if isinstance(info, str):
        return "—", "—", "—", _without_name(name, info)
    return (format_parameters(info.parameters), f"{info.input_size} px",
            "yes" if info.has_pretrained else "no", _without_name(name, info.problem) or note)


def _without_name(name: str, problem: str) -> str:
    """A problem as its row shows it: the row already names the model, so a message
    that starts with the name ("timm:x has two heads…") drops it ("Has two heads…")."""
    for prefix in (name, name.removeprefix(registry.TIMM_PREFIX)):
        if problem.startswith(prefix + " ") or problem.startswith(prefix + ":"):
            rest = problem[len(prefix):].lstrip(" :")
            return rest[:1].upper() + rest[1:]
    return problem


def summary_text(name: str, info: ArchitectureInfo | str | None, image_size: int | None = None) -> str:
    """One line about the chosen architecture, for the form's note line; with the
    run's ``image_size`` when it is not the size the model was made for."""
    if not name:
        return ""
    if info is None:
        return f"{name}: reading its size…"
    if isinstance(info, str):
        return f"{name}: {info}"
    if info.problem:
        return f"Cannot be trained: {info.problem}"
    weights = "pretrained weights available" if info.has_pretrained else "no pretrained weights (random start)"
    size = (f"made for {info.input_size} px, trains at {image_size} px"
            if image_size and image_size != info.input_size else f"{info.input_size} px input")
    return f"{info.family} · {format_parameters(info.parameters)} parameters · {size} · {weights}"


def make_table_view() -> QTreeView:
    """A flat list with column headers: what both pop-ups show."""
    view = QTreeView()
    view.setRootIsDecorated(False)
    view.setItemsExpandable(False)
    view.setUniformRowHeights(True)
    view.setAllColumnsShowFocus(True)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setMinimumWidth(POPUP_WIDTH)
    return view


def size_columns(view: QTreeView) -> None:
    """The name takes what the figures leave. Call after the view has its model:
    a new model resets the header's sections."""
    header = view.header()
    header.setStretchLastSection(False)
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    for column, width in enumerate(FIGURE_WIDTHS, start=1):
        header.setSectionResizeMode(column, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(column, width)


def _name_row(name: str, info: ArchitectureInfo | str | None, *, group_note: bool = True) -> list[QStandardItem]:
    items = [QStandardItem(name), *(QStandardItem(text) for text in row_cells(name, info, group_note=group_note))]
    items[0].setData(name, NAME_ROLE)
    for item in items:
        item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
        item.setToolTip(name)
    for item in items[1:4]:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    _colour_note(items[4], info)
    return items


def _colour_note(item: QStandardItem, info: ArchitectureInfo | str | None) -> None:
    bad = isinstance(info, str) or (isinstance(info, ArchitectureInfo) and bool(info.problem))
    item.setForeground(QBrush(PROBLEM_COLOUR if bad else NOTE_COLOUR))
    item.setToolTip(item.text())


def _text_row(text: str, *, heading: bool) -> list[QStandardItem]:
    """A heading or a hint: never chosen (disabled), so the wheel and arrows skip it."""
    item = QStandardItem(text)
    item.setFlags(Qt.ItemFlag.NoItemFlags)
    font = QFont()
    font.setBold(heading)
    font.setItalic(not heading)
    item.setFont(font)
    item.setForeground(QBrush(HEADING_COLOUR if heading else NOTE_COLOUR))
    return [item] + [_blank() for _ in COLUMNS[1:]]


def _blank() -> QStandardItem:
    item = QStandardItem("")
    item.setFlags(Qt.ItemFlag.NoItemFlags)
    return item


class ArchPicker(QComboBox):
    """Choose an architecture by name; ``value()`` is the arch string."""

    value_changed = Signal(str)
    summary_changed = Signal()  # the chosen architecture's description arrived

    def __init__(self, catalog: ArchCatalog | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.catalog = catalog if catalog is not None else ArchCatalog(self)
        self._value = ""
        self._active = False  # describing starts with start_loading() or the user's first search
        self.setEditable(True)
        self.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.setCompleter(None)  # the filter pop-up below replaces the default inline completion
        self.setMaxVisibleItems(22)
        # The form's width must not follow the longest timm name.
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(10)
        self.lineEdit().setPlaceholderText("Type to search, e.g. convnext")
        self._select_all_timer = QTimer(self)
        self._select_all_timer.setSingleShot(True)
        self._select_all_timer.setInterval(0)
        self._select_all_timer.timeout.connect(self.lineEdit().selectAll)

        self._list = QStandardItemModel(0, len(COLUMNS), self)
        self._list.setHorizontalHeaderLabels(list(COLUMNS))
        self.setModel(self._list)
        self.setView(make_table_view())
        self.setModelColumn(0)
        self._fill_list()
        size_columns(self._list_view())

        self._matches = QStandardItemModel(0, len(COLUMNS), self)
        self._matches.setHorizontalHeaderLabels(list(COLUMNS))
        self._completer = QCompleter(self._matches, self)
        self._completer.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
        self._completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._completer.setMaxVisibleItems(14)
        self._completer.setPopup(make_table_view())
        self._completer.setWidget(self.lineEdit())
        size_columns(self._completer.popup())
        self._completer.activated[QModelIndex].connect(self._on_completer_activated)
        self._completer.popup().installEventFilter(self)

        self.currentIndexChanged.connect(self._on_current_index_changed)
        self.lineEdit().textEdited.connect(self._on_line_edit_text_edited)
        self.lineEdit().returnPressed.connect(self._on_line_edit_return_pressed)
        self.lineEdit().editingFinished.connect(self._on_line_edit_editing_finished)
        self.catalog.described.connect(self._on_catalog_described)
        self.catalog.names_loaded.connect(self._on_catalog_names_loaded)

    # -------------------------------------------------------------- public
    def value(self) -> str:
        return self._value

    def set_value(self, name: str) -> None:
        """Show ``name`` (listed or not) and make it the value."""
        name = str(name).strip()
        index = self.findData(name, NAME_ROLE)
        self.blockSignals(True)
        self.setCurrentIndex(index)  # -1 for a name the list does not hold
        self.blockSignals(False)
        self.setEditText(name)
        self.lineEdit().setCursorPosition(0)
        if name == self._value:
            return
        self._value = name
        if self._active:
            self.catalog.request([name])
        self.value_changed.emit(name)
        self.summary_changed.emit()

    def summary(self, image_size: int | None = None) -> str:
        """What the form shows under the field for the current value (trained at ``image_size``)."""
        return summary_text(self._value, self.catalog.info(self._value), image_size) if self._active else ""

    def start_loading(self) -> None:
        """Read timm's list and describe the listed names (off the GUI thread)."""
        self._active = True
        self.catalog.load_names()
        self.catalog.request([self._value, *self._listed_names()])
        self.summary_changed.emit()

    def matches(self) -> list[str]:
        """The names the filter pop-up lists now (for tests and screenshots)."""
        return [name for row in range(self._matches.rowCount())
                if (name := self._matches.item(row, 0).data(NAME_ROLE))]

    def filter_popup(self) -> QAbstractItemView:
        return self._completer.popup()

    def show_matches(self, text: str) -> None:
        """Fill the filter pop-up with the names matching ``text`` and show it."""
        self._active = True
        self.catalog.load_names()
        names = self.catalog.search(text)
        self._matches.removeRows(0, self._matches.rowCount())
        for name in names[:SHOWN_MATCHES]:
            self._matches.appendRow(_name_row(name, self.catalog.info(name)))
        hint = self._hint(text, len(names))
        if hint:
            self._matches.appendRow(_text_row(hint, heading=False))
        self.catalog.request([self._value, *names[:SHOWN_MATCHES]])
        width = max(self.lineEdit().width(), POPUP_WIDTH)
        self._completer.complete(QRect(0, 0, width, self.lineEdit().height()))

    def showPopup(self) -> None:  # noqa: N802 - Qt API
        self.start_loading()
        super().showPopup()

    # ------------------------------------------------------------ internal
    def _fill_list(self) -> None:
        for group, names in registry.RECOMMENDED.items():
            self._append_heading(f"Recommended: {group}")
            for name in names:
                self._list.appendRow(_name_row(name, None, group_note=False))
        self._append_heading("Other built-in architectures")
        recommended = {name for names in registry.RECOMMENDED.values() for name in names}
        for name in registry.BUILTIN_NAMES:
            if name not in recommended:
                self._list.appendRow(_name_row(name, None))
        self._list.appendRow(_text_row("Type in the field to search every timm model", heading=False))
        view = self._list_view()
        for row in range(self._list.rowCount()):
            if not self._list.item(row, 0).data(NAME_ROLE):
                view.setFirstColumnSpanned(row, QModelIndex(), True)

    def _list_view(self) -> QTreeView:
        view = self.view()
        assert isinstance(view, QTreeView)
        return view

    def _append_heading(self, text: str) -> None:
        self._list.appendRow(_text_row(text, heading=True))

    def _listed_names(self) -> list[str]:
        return [name for row in range(self._list.rowCount())
                if (name := self._list.item(row, 0).data(NAME_ROLE))]

    def _hint(self, text: str, found: int) -> str:
        if not self.catalog.names_ready():
            if self.catalog.names_problem:
                return f"Only the built-in names: {self.catalog.names_problem}"
            return "Loading the list of timm models…"
        if found > SHOWN_MATCHES:
            more = f"{found - SHOWN_MATCHES}+" if found >= SEARCH_LIMIT else str(found - SHOWN_MATCHES)
            return f"{more} more: type more to narrow the list"
        if not found:
            return f"No architecture matches {text.strip()!r}"
        return ""

    def _update_rows(self, model: QStandardItemModel, view: QAbstractItemView, names: set[str]) -> None:
        # Silently, then repainted: a dataChanged would make QCompleter's proxy reset
        # (losing the row the user highlighted) and QComboBox rewrite the field with
        # the current item's name while the user types.
        model.blockSignals(True)
        try:
            for row in range(model.rowCount()):
                name = model.item(row, 0).data(NAME_ROLE)
                if name in names:
                    info = self.catalog.info(name)
                    cells = row_cells(name, info, group_note=model is self._matches)  # the list has headings
                    for column, text in enumerate(cells, start=1):
                        model.item(row, column).setText(text)
                    _colour_note(model.item(row, 4), info)
        finally:
            model.blockSignals(False)
        view.viewport().update()

    def focusInEvent(self, event: QFocusEvent) -> None:  # noqa: N802 - Qt API
        super().focusInEvent(event)
        if event.reason() != Qt.FocusReason.PopupFocusReason:
            # Like a search field: the first key replaces the name instead of appending to it.
            # After this event (the line edit places its cursor on focus); a timer of our own
            # dies with the picker, so it never fires on a deleted line edit.
            self._select_all_timer.start()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if watched is self._completer.popup() and event.type() == QEvent.Type.Hide:
            # Its rows are gone: describe the value, not up to a hundred names nobody sees.
            self.catalog.request([self._value])
        return super().eventFilter(watched, event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt API
        if event.key() == Qt.Key.Key_Escape and self.currentText() != self._value:
            self.setEditText(self._value)  # Escape undoes the typing
            event.accept()
            return
        super().keyPressEvent(event)

    @Slot(int)
    def _on_current_index_changed(self, index: int) -> None:
        name = self.itemData(index, NAME_ROLE)
        if name:
            self.set_value(str(name))

    @Slot(str)
    def _on_line_edit_text_edited(self, text: str) -> None:
        self.show_matches(text)

    def _commit_typed_text(self) -> None:
        text = self.currentText().strip()
        if not text:
            self.setEditText(self._value)  # an empty field means "not decided yet", not a value
        elif text != self._value:
            self.set_value(text)

    @Slot()
    def _on_line_edit_return_pressed(self) -> None:
        popup = self._completer.popup()
        current = popup.currentIndex()
        if popup.isVisible() and current.isValid() and current.flags() & Qt.ItemFlag.ItemIsSelectable:
            return  # the completer activates the highlighted row
        popup.hide()
        self._commit_typed_text()

    @Slot()
    def _on_line_edit_editing_finished(self) -> None:
        completer = getattr(self, "_completer", None)
        if completer is None:  # the focus left while the widget was being torn down
            return
        if not completer.popup().isVisible():  # else: still choosing in the pop-up
            self._commit_typed_text()

    @Slot(QModelIndex)
    def _on_completer_activated(self, index: QModelIndex) -> None:
        name = index.sibling(index.row(), 0).data(NAME_ROLE)
        if name:
            self.set_value(str(name))
        else:
            self.setEditText(self._value)

    @Slot(list)
    def _on_catalog_described(self, names: list[str]) -> None:
        found = set(names)
        self._update_rows(self._list, self._list_view(), found)
        self._update_rows(self._matches, self._completer.popup(), found)
        if self._value in found:
            self.summary_changed.emit()

    @Slot()
    def _on_catalog_names_loaded(self) -> None:
        if self._completer.popup().isVisible():
            self.show_matches(self.lineEdit().text())  # now with every timm model
