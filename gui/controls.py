"""The side panel: every hyperparameter, validated as it is typed by core's schema.

The panel only proposes changes (``changeRequested``); the main window decides how to
apply them (live, new optimizer, or a reset after asking).  A value that fails the
schema is shown in red with the reason beside the field and never leaves the panel.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from core.config import FIELDS, ConfigError, TrainConfig, check_batch_size
from core.presets import PRESETS

CUSTOM = "custom"
PREVIEW_WIDTH = 200

#: Human names for the choices a lecturer sees.
CHOICE_LABELS = {
    "digits": "built-in digits",
    "patches": "built-in natural patches",
    "mnist": "MNIST (IDX folder)",
    "fashion-mnist": "Fashion-MNIST (IDX folder)",
    "kmnist": "KMNIST (IDX folder)",
    "emnist": "EMNIST balanced (IDX folder)",
    "folder": "your images (a folder)…",
    "npz": "your array (.npy/.npz)…",
    "none": "none",
    "l1": "L1 on activations (L1Penalty)",
    "kl": "KL sparsity (Ng)",
    "sgd": "SGD + momentum",
    "adam": "Adam",
    "lbfgs": "L-BFGS (full batch)",
}

TEXT_FIELDS = ("samples", "validation_fraction", "patch_size", "image_size", "hidden_units",
               "l1_weight", "rho", "beta", "weight_decay", "lr", "momentum", "batch_size",
               "seed")
CHOICE_FIELDS = ("dataset", "encoder_activation", "decoder_activation", "penalty", "optimizer")

LABELS = {
    "dataset": "Data",
    "samples": "Images (0 = all)",
    "validation_fraction": "Held out",
    "patch_size": "Patch size",
    "image_size": "Resize to (0 = keep)",
    "hidden_units": "Hidden units",
    "encoder_activation": "Encoder activation",
    "decoder_activation": "Decoder activation",
    "tied_weights": "Tied weights",
    "penalty": "Penalty",
    "l1_weight": "L1 weight",
    "rho": "ρ (target)",
    "beta": "β (KL weight)",
    "weight_decay": "Weight decay λ",
    "optimizer": "Optimizer",
    "lr": "Learning rate",
    "momentum": "Momentum",
    "batch_size": "Batch size",
    "seed": "Seed",
}


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


class FieldEditor(QWidget):
    """A line edit plus the message that says what is wrong with its text."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.edit = QLineEdit()
        self.edit.setObjectName(f"field_{name}")
        self.edit.setToolTip(f"{FIELDS[name].help}\nallowed: {FIELDS[name].allowed()}")
        self.message = QLabel()
        self.message.setObjectName(f"error_{name}")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #e53935;")
        self.message.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(1)
        layout.addWidget(self.edit)
        layout.addWidget(self.message)

    def show_error(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))
        self.edit.setStyleSheet("border: 2px solid #e53935;" if text else "")

    @property
    def error(self) -> str:
        return self.message.text() if self.message.isVisible() else ""


class ControlPanel(QWidget):
    """Preset, data, device and every hyperparameter of the run."""

    #: A valid set of changes to the applied configuration (key -> value).
    changeRequested = Signal(dict)
    #: The user chose a preset (its name); the window asks before resetting.
    presetRequested = Signal(str)
    #: The user chose another device.
    deviceRequested = Signal(str)

    def __init__(self, config: TrainConfig, preset: str, devices: list[str],
                 device: str = "auto", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._applied = config
        self._preset = preset
        self._dataset_size: int | None = None
        self._updating = False
        self.editors: dict[str, FieldEditor] = {}
        self.combos: dict[str, QComboBox] = {}
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self._form = form

        self.preset_combo = QComboBox()
        self.preset_combo.setObjectName("preset")
        for name, item in PRESETS.items():
            self.preset_combo.addItem(name, name)
            self.preset_combo.setItemData(self.preset_combo.count() - 1, item.summary,
                                          Qt.ItemDataRole.ToolTipRole)
        self.preset_combo.addItem(CUSTOM, CUSTOM)
        self.preset_combo.activated.connect(self._on_preset)
        form.addRow("Preset", self.preset_combo)

        self.device_combo = QComboBox()
        self.device_combo.setObjectName("device")
        for name in ["auto", *devices]:
            self.device_combo.addItem(name, name)
        self.device_combo.setCurrentIndex(max(0, self.device_combo.findData(device)))
        self.device_combo.activated.connect(
            lambda _: self.deviceRequested.emit(self.device_combo.currentData()))
        form.addRow("Device", self.device_combo)

        form.addRow(LABELS["dataset"], self._make_editor("dataset"))
        self.data_info = QLabel()
        self.data_info.setObjectName("data_info")
        self.data_info.setWordWrap(True)
        self.data_info.setStyleSheet("color: #9aa5b1; font-size: 9pt;")
        form.addRow("", self.data_info)
        self.preview = QLabel()
        self.preview.setObjectName("data_preview")
        self.preview.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.preview.setToolTip("A few images of the data set")
        form.addRow("", self.preview)
        for name in ("samples", "validation_fraction", "patch_size", "image_size",
                     "hidden_units", "encoder_activation", "decoder_activation",
                     "tied_weights", "penalty", "l1_weight", "rho", "beta", "weight_decay",
                     "optimizer", "lr", "momentum", "batch_size", "seed"):
            form.addRow(LABELS[name], self._make_editor(name))

        self.l1_note = QLabel()
        self.l1_note.setObjectName("l1_note")
        self.l1_note.setWordWrap(True)
        self.l1_note.setStyleSheet("color: #9aa5b1; font-size: 9pt;")
        form.insertRow(form.getWidgetPosition(self.editors["l1_weight"])[0] + 1, "",
                       self.l1_note)
        #: Why the last choice was refused (e.g. KL with relu).
        self.notice = QLabel()
        self.notice.setObjectName("notice")
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet("color: #e53935;")
        self.notice.hide()
        form.addRow(self.notice)
        self.set_applied(config, preset)

    # ------------------------------------------------------------------ building

    def _make_editor(self, name: str) -> QWidget:
        if name in CHOICE_FIELDS:
            combo = QComboBox()
            combo.setObjectName(f"field_{name}")
            for choice in FIELDS[name].choices:
                combo.addItem(CHOICE_LABELS.get(choice, choice), choice)
            combo.activated.connect(lambda _, n=name: self._propose(n, self.combos[n]
                                                                     .currentData()))
            combo.setToolTip(FIELDS[name].help)
            self.combos[name] = combo
            return combo
        if name == "tied_weights":
            box = QCheckBox()
            box.setObjectName("field_tied_weights")
            box.toggled.connect(lambda on: self._propose("tied_weights", on))
            self.tied_box = box
            return box
        editor = FieldEditor(name)
        editor.edit.textEdited.connect(lambda _, e=editor: self._validate(e))
        editor.edit.editingFinished.connect(lambda e=editor: self._commit(e))
        self.editors[name] = editor
        return editor

    # ------------------------------------------------------------------ state

    @property
    def applied(self) -> TrainConfig:
        return self._applied

    @property
    def preset(self) -> str:
        return self.preset_combo.currentData()

    def set_applied(self, config: TrainConfig, preset: str | None = None) -> None:
        """Show the configuration the trainer runs (after a change was applied or refused)."""
        self._applied = config
        if preset is not None:
            self._preset = preset
        self._updating = True
        try:
            if preset is not None:
                self.preset_combo.setCurrentIndex(max(0, self.preset_combo.findData(preset)))
            for name, editor in self.editors.items():
                editor.edit.setText(_format(getattr(config, name)))
                editor.show_error("")
            for name, combo in self.combos.items():
                combo.setCurrentIndex(max(0, combo.findData(getattr(config, name))))
            self.tied_box.setChecked(config.tied_weights)
        finally:
            self._updating = False
        self._update_visibility()

    def show_data(self, description: str, images: np.ndarray,
                  image_shape: tuple[int, int], count: int = 8) -> None:
        """The data set in words and a strip of its first images (values in [0, 1])."""
        self.data_info.setText(description)
        height, width = image_shape
        tiles = np.clip(images[:count].reshape(-1, height, width), 0, 1)
        if len(tiles) == 0:
            self.preview.clear()
            return
        gap = 1
        strip = np.full((height, len(tiles) * (width + gap) - gap), 0.25, np.float32)
        for i, tile in enumerate(tiles):
            strip[:, i * (width + gap):i * (width + gap) + width] = tile
        pixels = np.ascontiguousarray((strip * 255).astype(np.uint8))
        image = QImage(pixels.data, pixels.shape[1], pixels.shape[0], pixels.shape[1],
                       QImage.Format.Format_Grayscale8).copy()
        # One width whatever the image size: 8x8 patches get enlarged (nearest, crisp).
        self.preview.setPixmap(QPixmap.fromImage(image).scaledToWidth(
            PREVIEW_WIDTH, Qt.TransformationMode.FastTransformation))

    def revert(self) -> None:
        """Show again what is in force (a change or a preset was cancelled)."""
        self.set_applied(self._applied, self._preset)

    def set_dataset_size(self, size: int) -> None:
        """Batch sizes are checked against the data actually loaded."""
        self._dataset_size = size

    def set_devices(self, devices: list[str], current: str) -> None:
        """The devices present (known once torch has loaded), ``current`` selected."""
        self.device_combo.clear()
        for name in ["auto", *devices]:
            self.device_combo.addItem(name, name)
        self.set_device(current)

    def set_device(self, device: str) -> None:
        self.device_combo.setCurrentIndex(max(0, self.device_combo.findData(device)))

    def _update_visibility(self) -> None:
        config = self._applied
        show = {
            "l1_weight": config.penalty == "l1",
            "rho": config.penalty == "kl",
            "beta": config.penalty == "kl",
            "momentum": config.optimizer == "sgd",
            "batch_size": config.optimizer != "lbfgs",
            "patch_size": config.dataset == "patches",
            "image_size": config.dataset == "folder",
        }
        for name, visible in show.items():
            self._form.setRowVisible(self.editors[name], visible)
        self._form.setRowVisible(self.l1_note, config.penalty == "l1")
        scale = config.l1_weight * config.batch_size
        self.l1_note.setText(
            f"L1Penalty sums over the batch: its loss is {scale:g} × the per-sample Σ|a| "
            f"at batch {config.batch_size} (double the batch, double the pull). "
            f"{config.l1_weight:g} is a weight, not a fraction of zeros.")

    # ------------------------------------------------------------------ editing

    def _check(self, name: str, value: Any) -> str:
        """The reason ``value`` cannot be applied, or '' if it can."""
        try:
            candidate = self._applied.replace(**{name: value})
            if self._dataset_size is not None and name in ("batch_size", "optimizer"):
                check_batch_size(candidate, self._dataset_size)
        except ConfigError as error:
            return str(error)
        return ""

    def _parse(self, editor: FieldEditor) -> tuple[Any, str]:
        try:
            value = FIELDS[editor.name].parse(editor.edit.text())
        except ConfigError as error:
            return None, str(error)
        return value, self._check(editor.name, value)

    def _validate(self, editor: FieldEditor) -> None:
        _, error = self._parse(editor)
        editor.show_error(error)

    def _commit(self, editor: FieldEditor) -> None:
        if self._updating:
            return
        value, error = self._parse(editor)
        editor.show_error(error)
        if not error and value != getattr(self._applied, editor.name):
            self.changeRequested.emit({editor.name: value})

    def _propose(self, name: str, value: Any) -> None:
        """Choices and check boxes: an impossible combination is refused on the spot."""
        if self._updating or value == getattr(self._applied, name):
            return
        error = self._check(name, value)
        if error:
            self.set_applied(self._applied)  # show the choice that is still in force
            self.notice.setText(error)
            self.notice.show()
            return
        self.notice.hide()
        self.changeRequested.emit({name: value})

    def _on_preset(self, _index: int) -> None:
        name = self.preset_combo.currentData()
        if name != CUSTOM:
            self.presetRequested.emit(name)

    def has_errors(self) -> bool:
        return any(editor.error for editor in self.editors.values())
