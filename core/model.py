"""The autoencoder: one hidden layer, optional tied weights, seeded initialisation."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

ACTIVATIONS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "identity": lambda z: z,
}


class SparseAutoencoder(nn.Module):
    """``x -> a = f(W1 x + b1) -> x_hat = g(W2 a + b2)``; with tied weights W2 = W1^T.

    The sparsity penalty is not part of the module: the objective inserts it between
    encoder and decoder (L1Penalty) or adds it to the loss (KL).
    """

    def __init__(
        self,
        input_size: int,
        hidden_units: int,
        encoder_activation: str = "sigmoid",
        decoder_activation: str = "sigmoid",
        tied_weights: bool = False,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_units = hidden_units
        self.encoder_activation = encoder_activation
        self.decoder_activation = decoder_activation
        self.tied_weights = tied_weights
        self._encode_fn = ACTIVATIONS[encoder_activation]
        self._decode_fn = ACTIVATIONS[decoder_activation]

        generator = torch.Generator().manual_seed(seed)
        # UFLDL's initialisation: uniform in +-sqrt(6 / (fan_in + fan_out + 1)).
        bound = math.sqrt(6.0 / (input_size + hidden_units + 1))

        def uniform(*shape: int) -> torch.Tensor:
            return (torch.rand(*shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound

        self.encoder_weight = nn.Parameter(uniform(hidden_units, input_size).to(dtype))
        self.encoder_bias = nn.Parameter(torch.zeros(hidden_units, dtype=dtype))
        if tied_weights:
            self.decoder_weight_free = None
        else:
            self.decoder_weight_free = nn.Parameter(uniform(input_size, hidden_units).to(dtype))
        self.decoder_bias = nn.Parameter(torch.zeros(input_size, dtype=dtype))

    @property
    def decoder_weight(self) -> torch.Tensor:
        """(input_size, hidden_units); column j is what unit j adds to the output."""
        if self.decoder_weight_free is None:
            return self.encoder_weight.t()
        return self.decoder_weight_free

    def weight_matrices(self) -> list[torch.Tensor]:
        """The decayed parameters: weights, never biases, each counted once."""
        if self.decoder_weight_free is None:
            return [self.encoder_weight]
        return [self.encoder_weight, self.decoder_weight_free]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self._encode_fn(F.linear(x, self.encoder_weight, self.encoder_bias))

    def decode(self, a: torch.Tensor) -> torch.Tensor:
        return self._decode_fn(F.linear(a, self.decoder_weight, self.decoder_bias))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (hidden activations, reconstruction)."""
        a = self.encode(x)
        return a, self.decode(a)
