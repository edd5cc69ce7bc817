"""The live training studio (PySide6 + pyqtgraph); all training happens in ``core``."""
