"""A message strip above the panels: errors with a way on, never a modal stop."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QMessageBox, QPushButton, QWidget


class Banner(QFrame):
    """Shows one message with action buttons; training goes on behind it."""


    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(10, 6, 6, 6)
        self._layout.addWidget(self.label, 1)
        self._buttons: list[QPushButton] = []
        self._details = ""
        self.hide()

    def show_message(self, text: str, actions: dict[str, Callable[[], None]] | None = None,
                     details: str = "", error: bool = True) -> None:
        colour = "#5d1f1f" if error else "#1f3d5d"
        self.setStyleSheet(f"#banner {{ background: {colour}; }} "
                           "QLabel { color: white; font-size: 11pt; }")
        self.label.setText(text)
        for button in self._buttons:
            button.deleteLater()
        self._buttons.clear()
        self._details = details
        for name, action in (actions or {}).items():
            self._add_button(name, action)
        if details:
            self._add_button("Details…", self._show_details)
        self._add_button("Dismiss", self.hide, dismiss=False)
        self.show()

    def _add_button(self, name: str, action: Callable[[], None], dismiss: bool = True) -> None:
        button = QPushButton(name)
        button.setObjectName(f"banner_{name.strip('…').lower().replace(' ', '_')}")

        def clicked() -> None:
            if dismiss and action is not self._show_details:
                self.hide()
            action()

        button.clicked.connect(clicked)
        self._layout.addWidget(button)
        self._buttons.append(button)

    def _show_details(self) -> None:
        box = QMessageBox(self)
        box.setWindowTitle("Details")
        box.setText(self.label.text())
        box.setDetailedText(self._details)
        box.setModal(False)
        box.show()

    @property
    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""
