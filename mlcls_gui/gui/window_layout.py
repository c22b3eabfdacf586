"""The main window's layout and menu: Data / Settings / Audit on the left, plots
and the run panel in the middle, Predict on the right; Evaluate and Batch
predict as tabs. Narrower than the three columns need (1024 px, say), *Try the
model* becomes a tab of its own beside *Train & try*, and returns when there is
room again, so no tab scrolls sideways. The whole of it sits in a scroll area,
so a window smaller than even that minimum scrolls instead of clipping."""

from __future__ import annotations

import functools
import logging
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFrame, QGroupBox, QScrollArea, QSplitter, QTabWidget, QVBoxLayout, QWidget

from mlcls_gui.gui.export_dialog import open_export_dialog

logger = logging.getLogger(__name__)

MINIMUM_SIZE = (640, 480)  # the window itself; below the layout's minimum it scrolls
PREDICT_TAB = "Try the model"
DOCK_SLACK = 40  # px more than needed before Try the model returns: no flip-flop at the threshold


def lay_out(window: Any) -> None:
    """Arrange ``window``'s panels (a MainWindow) and set its central widget.

    Sets ``left_tabs``, ``center_splitter``, ``splitter``, ``main_tabs`` and
    ``central_scroll`` on the window."""
    left = QTabWidget()
    left.addTab(window.data_panel, "1 · Data")
    left.addTab(window.config_form, "2 · Settings")
    # Under the output folder field: the size of the folder's earlier runs, and pruning them
    # (a whole row, so the form needs no more width than before).
    window.config_form.group_boxes["Output"].layout().addRow(window.archive_panel)
    left.addTab(window.audit_view, "Audit")
    window.left_tabs = left
    center = QSplitter(Qt.Orientation.Vertical)
    center.addWidget(window.plots)
    center.addWidget(window.run_panel)
    center.setStretchFactor(0, 3)
    center.setStretchFactor(1, 2)
    center.setSizes([500, 440])
    center.setChildrenCollapsible(False)
    window.center_splitter = center
    predict_box = QGroupBox(PREDICT_TAB)
    window.predict_box = predict_box
    predict_layout = QVBoxLayout(predict_box)
    predict_layout.setContentsMargins(4, 8, 4, 4)
    predict_layout.addWidget(window.predict_panel)
    splitter = QSplitter(Qt.Orientation.Horizontal)
    splitter.addWidget(left)
    splitter.addWidget(center)
    splitter.addWidget(predict_box)
    splitter.setStretchFactor(0, 2)
    splitter.setStretchFactor(1, 3)
    splitter.setStretchFactor(2, 2)
    splitter.setSizes([430, 620, 500])
    splitter.setChildrenCollapsible(False)
    window.splitter = splitter
    container = QWidget()
    layout = QVBoxLayout(container)
    layout.setContentsMargins(4, 4, 4, 4)
    layout.addWidget(splitter)
    window.main_tabs = QTabWidget()
    window.main_tabs.setDocumentMode(True)
    window.main_tabs.addTab(container, "Train && try")
    window.main_tabs.addTab(window.evaluate_panel, "Evaluate")
    window.main_tabs.addTab(window.batch_predict_panel, "Batch predict")
    window.main_tabs.addTab(window.review_tab, "Review")
    window.main_tabs.addTab(window.labelling_tab, "Label")
    window.main_tabs.addTab(window.health_tab, "Health")
    window.main_tabs.addTab(window.runs_tab, "Runs")
    # Smaller than the layout's minimum, the window scrolls instead of clipping.
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setWidget(window.main_tabs)
    window.central_scroll = scroll
    window.setCentralWidget(scroll)
    window.setMinimumSize(*MINIMUM_SIZE)


def fit_to_width(window: Any) -> None:
    """Try the model as a column of Train & try when the three columns fit the
    window's width, as a tab of its own when they do not (the window resized)."""
    box, splitter, tabs = window.predict_box, window.splitter, window.main_tabs
    available = window.central_scroll.viewport().width()
    columns = [splitter.widget(0), splitter.widget(1), box]
    needed = sum(column.minimumSizeHint().width() for column in columns) + 2 * splitter.handleWidth() + 16
    docked = splitter.indexOf(box) >= 0
    if docked and available < needed:
        current = tabs.currentIndex()
        tabs.insertTab(1, box, PREDICT_TAB)  # taken out of the splitter
        box.setTitle("")  # the tab says it
        tabs.setCurrentIndex(current if current == 0 else current + 1)
        logger.debug("Try the model moved to a tab (%d px available, %d needed)", available, needed)
    elif not docked and available >= needed + DOCK_SLACK:
        showing_box = tabs.currentWidget() is box
        splitter.addWidget(box)  # taken out of the tabs
        box.setTitle(PREDICT_TAB)
        box.show()  # the tab widget hid it
        if showing_box:
            tabs.setCurrentIndex(0)
        logger.debug("Try the model back beside the plots (%d px available)", available)
    else:
        return
    # A splitter on a hidden tab page does not pass on its new minimum: without this the
    # tab widget kept the three columns' width when the window narrowed on another tab,
    # and every tab scrolled sideways.
    splitter.updateGeometry()
    tabs.updateGeometry()


def build_menu(window: Any) -> None:
    """The File menu of ``window`` (a MainWindow)."""
    file_menu = window.menuBar().addMenu("&File")
    actions = [
        ("Choose data folder…", None, window.data_panel.choose_folder),
        ("Load settings…", QKeySequence.StandardKey.Open, window.config_form.load_settings),
        ("Save settings…", QKeySequence.StandardKey.Save, window.config_form.save_settings),
        ("Open model for predictions…", None, window.predict_panel.open_model),
        ("Export model…", None, functools.partial(open_export_dialog, window)),
    ]
    for text, shortcut, slot in actions:
        action = QAction(text, window)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        file_menu.addAction(action)
    file_menu.addSeparator()
    quit_action = QAction("Quit", window)
    quit_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Quit))
    quit_action.triggered.connect(window.close)
    file_menu.addAction(quit_action)


PLOT_SHARE = 0.6  # of the middle column, for the plots while a run trains (setSizes([500, 440])'s ~3:2)


def give_the_plots_their_room(window: Any) -> None:
    """A new run: the plots take back their share of the middle column from the
    last run's summary (which took it in ``make_room_for_the_summary``)."""
    plots, panel = window.center_splitter.sizes()
    total = plots + panel
    if plots < PLOT_SHARE * total:
        window.center_splitter.setSizes([int(PLOT_SHARE * total), total - int(PLOT_SHARE * total)])


def make_room_for_the_summary(window: Any) -> None:
    """Give the run panel the height its end-of-run summary needs, taken from the
    plots (down to 40 % of the column), so the summary scrolls as little as possible."""
    plots, panel = window.center_splitter.sizes()
    wanted = window.run_panel.sizeHint().height() - panel
    # The plots keep at least 40 % of the column: the curves stay readable.
    spare = plots - max(window.plots.minimumSizeHint().height(), int(0.4 * (plots + panel)))
    if wanted > 0 and spare > 0:
        move = min(wanted, spare)
        window.center_splitter.setSizes([plots - move, panel + move])
