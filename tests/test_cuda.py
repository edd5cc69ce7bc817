"""On a CUDA device (skipped elsewhere): same results as the CPU, no per-step sync.

``benchmarks/gpu.py`` runs these first on a machine with a GPU.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.checkpoint import load_run, save_run
from core.config import TrainConfig
from core.data import load_dataset
from core.objective import loss_terms
from core.trainer import Trainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA device (none on this machine)")


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", samples=2000, data_seed=3)


def small(**changes) -> TrainConfig:
    return TrainConfig(hidden_units=25, batch_size=50, samples=2000, lr=3e-3).replace(**changes)


@pytest.mark.parametrize("penalty", ["none", "l1", "kl"])
def test_cuda_training_matches_the_cpu_in_float64(digits, penalty):
    config = small(penalty=penalty, dtype="float64", l1_weight=1e-4)
    on_cpu, on_gpu = Trainer(config, digits, "cpu"), Trainer(config, digits, "cuda")
    for _ in range(40):
        on_cpu.step()
        on_gpu.step()
    cpu, gpu = on_cpu.snapshot(), on_gpu.snapshot()
    assert gpu.device.startswith("cuda")
    np.testing.assert_allclose(gpu.encoder_weights, cpu.encoder_weights, atol=1e-5)
    np.testing.assert_allclose(gpu.history.mean, cpu.history.mean, rtol=1e-6, atol=1e-9)


def test_loss_terms_are_not_rounded_to_tf32(digits):
    """The trainer turns TF32 on for CUDA: the loss terms' weighting, once a flush, must
    keep float32's precision (a TF32 matrix product would round the sums to 10 bits)."""
    Trainer(small(), digits, "cuda")  # as a run on the GPU sets it
    assert torch.backends.cuda.matmul.allow_tf32
    config = small(penalty="l1", l1_weight=0.1, weight_decay=3e-3)
    sums = torch.tensor([[1234.5678, 98.7654321, 4321.123457]], dtype=torch.float64)
    on_gpu = loss_terms(config, sums.float().cuda(), 50, 784).cpu().double()
    np.testing.assert_allclose(on_gpu, loss_terms(config, sums, 50, 784), rtol=1e-6)


def step_without_waiting(trainer: Trainer, warm_up: int, steps: int) -> None:
    """``warm_up`` steps and a flush, then ``steps`` steps in which any wait of the host
    for the device (a device-to-host copy, a synchronize) raises."""
    for _ in range(warm_up):
        trainer.step()
    trainer.flush()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(steps):
            trainer.step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    trainer.flush()


def test_steps_between_flushes_never_wait_for_the_gpu(digits):
    trainer = Trainer(small(), digits, "cuda")
    step_without_waiting(trainer, 40, 20)  # past the first batch order and first flush
    assert trainer.step_count == 60


def test_a_new_epoch_does_not_wait_for_the_gpu(digits):
    """Each step of batch 1500 on 2000 images starts an epoch: its shuffled order goes to
    the device without the host waiting (as at batch 8192 of MNIST's 10k images)."""
    trainer = Trainer(small(batch_size=1500), digits, "cuda")
    step_without_waiting(trainer, 3, 5)
    assert trainer.epoch == 8 - 0.25  # a new epoch at each step after the first


def test_a_run_saved_on_the_gpu_resumes_on_the_cpu(digits, tmp_path):
    trainer = Trainer(small(), digits, "cuda")
    for _ in range(30):
        trainer.step()
    path = save_run(tmp_path / "run.pt", trainer.state_dict())
    resumed = Trainer(small(), digits, "cpu")
    resumed.load_state_dict(load_run(path)["trainer"])
    np.testing.assert_array_equal(resumed.snapshot().encoder_weights,
                                  trainer.snapshot().encoder_weights)
    resumed.step()
    assert resumed.step_count == 31
