"""Subnormal floats: flushed to zero in training threads, and the mode given back after."""

from __future__ import annotations

import sys
import threading

import pytest
import torch

from core import cli
from core.devices import flush_subnormals_to_zero, subnormals_flushed_to_zero

TINY = torch.finfo(torch.float32).tiny


def in_new_thread(function):
    """Run ``function`` in a fresh thread and return its result (threads start with the
    floating-point mode of the thread that creates them)."""
    result = []
    thread = threading.Thread(target=lambda: result.append(function()))
    thread.start()
    thread.join()
    return result[0]


def test_flush_subnormals_to_zero_reaches_the_calling_thread_and_its_workers():
    def probe():
        torch.set_flush_denormal(False)
        before = float(torch.tensor([TINY]) * 0.25)  # a subnormal result
        supported = flush_subnormals_to_zero()
        after = float(torch.tensor([TINY]) * 0.25)
        # a big multiply runs on OpenMP workers too: every element must be flushed
        many = (torch.full((1 << 20,), TINY) * 0.25).count_nonzero()
        torch.set_flush_denormal(False)
        return supported, before, after, int(many)

    supported, before, after, many = in_new_thread(probe)
    if not supported:
        pytest.skip("this CPU has no flush-to-zero mode")
    assert before > 0
    assert after == 0.0
    assert many == 0


def test_the_block_form_gives_the_thread_its_own_mode_back():
    def probe():
        torch.set_flush_denormal(False)
        with subnormals_flushed_to_zero() as supported:
            inside = float(torch.tensor([TINY]) * 0.25)
        after = float(torch.tensor([TINY]) * 0.25)
        return supported, inside, after, sys.float_info.min * 0.5

    supported, inside, after, python_after = in_new_thread(probe)
    if not supported:
        pytest.skip("this CPU has no flush-to-zero mode")
    assert inside == 0.0
    assert after > 0 and python_after > 0


def test_the_cli_trains_flushed_and_gives_the_calling_thread_its_mode_back(
        tmp_path, monkeypatch):
    """Called in-process (a notebook, a test), ``train`` flushes while it trains and then
    gives the calling thread its own mode back (hypothesis, for one, refuses to run with
    subnormals flushed).  OpenMP workers started meanwhile keep the mode: documented."""
    inside = []
    train_with = cli._train_with

    def recording(args):
        inside.append(sys.float_info.min * 0.5)
        return train_with(args)

    monkeypatch.setattr(cli, "_train_with", recording)

    def run():
        supported = torch.set_flush_denormal(True)
        torch.set_flush_denormal(False)
        code = cli.main(["train", "--preset", "kl-demo", "--steps", "3", "--set",
                         "samples=500", "--out", str(tmp_path / "run")])
        return supported, code, sys.float_info.min * 0.5

    supported, code, after = in_new_thread(run)
    assert code == cli.EXIT_OK, code
    if not supported:
        pytest.skip("this CPU has no flush-to-zero mode")
    assert inside == [0.0]
    assert after > 0
