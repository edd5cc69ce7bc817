"""Errors the training loop reports to the user (importable without torch)."""

from __future__ import annotations


class DivergenceError(ArithmeticError):
    """The loss or the weights stopped being finite; the trainer rolled back."""

    def __init__(self, step: int, restored_step: int) -> None:
        super().__init__(
            f"training diverged at step {step} (loss or weights became NaN or infinite); "
            f"restored the weights of step {restored_step}. Lower the learning rate and resume.")
        self.step = step
        self.restored_step = restored_step
