"""The headless CLI contract: outputs, exit statuses, one-line errors, resume."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from core.cli import main

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--set", "samples=1000", "--set", "hidden_units=16", "--quiet"]

SUMMARY_KEYS = {"preset", "dataset", "device", "steps", "seconds", "samples_per_second",
                "final", "rho", "rho_hat", "rho_hat_mean", "dead_units", "l0_mean",
                "fraction_near_zero", "explained_variance", "config"}


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_train_writes_every_output(tmp_path, capsys):
    code, out, _ = run_main(capsys, "train", "--preset", "kl-demo", "--steps", "40",
                            "--device", "cpu", "--seed", "3", *SMALL, "--out", str(tmp_path))
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary.keys() >= SUMMARY_KEYS
    assert summary["steps"] == 40 and summary["preset"] == "kl-demo"
    assert summary["dataset"] == "digits" and summary["device"] == "cpu"
    assert set(summary["final"]) == {"loss", "reconstruction", "penalty", "weight_decay",
                                     "validation_reconstruction"}
    assert summary["final"]["validation_reconstruction"] > 0
    assert len(summary["rho_hat"]) == 16
    assert summary["rho_hat_mean"] == pytest.approx(np.mean(summary["rho_hat"]))
    assert summary["config"]["seed"] == 3 and summary["config"]["hidden_units"] == 16
    with open(tmp_path / "metrics.csv") as file:
        rows = list(csv.DictReader(file))
    assert [int(r["step"]) for r in rows] == list(range(1, 41))
    assert float(rows[-1]["total"]) == pytest.approx(summary["final"]["loss"], rel=1e-6)
    # the held-out reconstruction is its own column, measured now and then
    held_out = [float(r["validation_reconstruction"]) for r in rows
                if r["validation_reconstruction"]]
    assert held_out and held_out[-1] == pytest.approx(
        summary["final"]["validation_reconstruction"], rel=1e-6)
    png = (tmp_path / "encoder_mosaic.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    assert (tmp_path / "run.pt").is_file()
    assert "mean rho_hat" in out


def test_long_runs_log_a_bounded_number_of_rows(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("core.cli.MAX_CSV_ROWS", 10)
    code, _, _ = run_main(capsys, "train", "--steps", "45", "--device", "cpu", *SMALL,
                          "--set", "validation_fraction=0", "--out", str(tmp_path))
    assert code == 0
    with open(tmp_path / "metrics.csv") as file:
        steps = [int(r["step"]) for r in csv.DictReader(file)]
    assert steps == [5, 10, 15, 20, 25, 30, 35, 40, 45]


def test_epochs_set_the_length(tmp_path, capsys):
    code, _, _ = run_main(capsys, "train", "--epochs", "2", "--device", "cpu", *SMALL,
                          "--set", "batch_size=100", "--out", str(tmp_path))
    assert code == 0
    # 1000 samples, 10% held out: 900 to train, 9 batches of 100 per epoch
    assert json.loads((tmp_path / "summary.json").read_text())["steps"] == 18


def test_resume_continues_the_same_curves(tmp_path, capsys):
    first, second = tmp_path / "a", tmp_path / "b"
    assert run_main(capsys, "train", "--steps", "20", "--device", "cpu", *SMALL,
                    "--out", str(first))[0] == 0
    code, _, _ = run_main(capsys, "train", "--resume", str(first / "run.pt"), "--steps", "15",
                          "--device", "cpu", "--quiet", "--set", "beta=1",
                          "--out", str(second))
    assert code == 0
    summary = json.loads((second / "summary.json").read_text())
    assert summary["steps"] == 35 and summary["config"]["beta"] == 1.0
    with open(second / "metrics.csv") as file:
        steps = [int(r["step"]) for r in csv.DictReader(file)]
    assert steps == list(range(1, 36))


@pytest.mark.parametrize("args, field", [
    (["--set", "rho=1.5"], "rho = 1.5 is not allowed: a number with 0 < rho < 1"),
    (["--set", "rho=0"], "rho = 0"),
    (["--set", "beta=-1"], "beta = -1 is not allowed"),
    (["--set", "l1_weight=-0.1"], "l1_weight = -0.1"),
    (["--set", "weight_decay=-1"], "weight_decay = -1"),
    (["--set", "hidden_units=0"], "hidden_units = 0 is not allowed: an integer with 1 <="),
    (["--set", "lr=abc"], "lr = 'abc' is not allowed"),
    (["--set", "rho=0,05"], "use a dot as the decimal separator"),
    (["--set", "colour=blue"], "unknown setting 'colour'"),
    (["--set", "rho"], "not of the form key=value"),
    (["--set", "penalty=kl", "--set", "encoder_activation=relu"], "penalty = 'kl' needs"),
    (["--preset", "nope"], "preset = 'nope' is not allowed: one of kl-demo"),
    (["--steps", "0"], "--steps = 0 is not allowed: an integer >= 1"),
    (["--epochs", "-2"], "--epochs = '-2' is not allowed"),
    (["--device", "tpu"], "invalid choice: 'tpu'"),
    (["--set", "batch_size=5000"], "batch_size = 5000 is not allowed: the data set holds 900"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, field):
    code, out, err = run_main(capsys, "train", *SMALL, *args, "--out", str(tmp_path / "o"))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("rhoscope: error: ")
    assert field in lines[0]


def test_a_missing_data_folder_says_how_to_get_it(tmp_path, capsys):
    code, _, err = run_main(capsys, "train", "--preset", "ufldl-mnist", "--data-dir",
                            str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"))
    assert code == 2
    assert str(tmp_path / "nowhere") in err and "--dataset digits" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("content, reason", [
    (b"garbage" * 100, "not a readable Rhoscope run file"),
    (None, "not a Rhoscope run file"),
])
def test_corrupt_or_foreign_checkpoints_exit_2(tmp_path, capsys, content, reason):
    path = tmp_path / "run.pt"
    if content is None:
        torch.save({"state_dict": {"w": torch.zeros(2)}}, path)
    else:
        path.write_bytes(content)
    code, _, err = run_main(capsys, "train", "--resume", str(path), "--out", str(tmp_path / "o"))
    assert code == 2 and reason in err
    assert len(err.strip().splitlines()) == 1


def test_divergence_exits_3_and_keeps_the_last_good_weights(tmp_path, capsys):
    code, _, err = run_main(capsys, "train", "--steps", "200", "--device", "cpu", *SMALL,
                            "--set", "optimizer=sgd", "--set", "lr=1000", "--set",
                            "momentum=0", "--set", "penalty=none", "--set",
                            "encoder_activation=relu", "--set", "decoder_activation=identity",
                            "--out", str(tmp_path))
    assert code == 3
    assert "diverged at step" in err and "Lower the learning rate" in err
    state = torch.load(tmp_path / "run.pt", weights_only=True)
    assert all(torch.isfinite(t).all() for t in state["model"].values())
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "diverged"


def test_presets_lists_every_preset(capsys):
    code, out, _ = run_main(capsys, "presets")
    assert code == 0
    for name in ("notes-l1", "ufldl-mnist", "kl-demo"):
        assert name in out
    assert "400 L-BFGS iterations" in out


def test_gradcheck_command_passes(capsys):
    code, out, _ = run_main(capsys, "gradcheck")
    assert code == 0
    assert "all passed" in out and "FAIL" not in out


def test_a_real_process_reports_bad_input_without_a_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "main.py", "train", "--set", "rho=2", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == ("rhoscope: error: rho = 2 is not allowed: a number with "
                                     "0 < rho < 1")


@pytest.mark.slow
def test_kl_preset_on_real_mnist_pulls_rho_hat_toward_rho(mnist_dir, tmp_path, capsys):
    code, _, _ = run_main(capsys, "train", "--preset", "ufldl-mnist", "--data-dir",
                          str(mnist_dir), "--steps", "40", "--set", "samples=3000",
                          "--device", "cpu", "--quiet", "--out", str(tmp_path))
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["dataset"] == "mnist" and summary["rho"] == 0.1
    with open(tmp_path / "metrics.csv") as file:
        rows = list(csv.DictReader(file))
    start = float(rows[0]["rho_hat_mean"])
    assert abs(start - 0.1) > 0.3  # sigmoid units start near 0.5
    assert abs(summary["rho_hat_mean"] - 0.1) < 0.25 * abs(start - 0.1)
    assert summary["final"]["loss"] < float(rows[0]["total"])


def test_resume_keeps_the_preset_and_refuses_other_data(tmp_path, capsys):
    first = tmp_path / "a"
    assert run_main(capsys, "train", "--preset", "ufldl-mnist", "--dataset", "digits",
                    "--set", "samples=600", "--set", "hidden_units=9", "--steps", "2",
                    "--device", "cpu", "--quiet", "--out", str(first))[0] == 0
    code, _, _ = run_main(capsys, "train", "--resume", str(first / "run.pt"), "--device", "cpu",
                          "--quiet", "--out", str(tmp_path / "b"))
    assert code == 0
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["preset"] == "ufldl-mnist" and summary["steps"] == 402  # its 400 more
    code, _, err = run_main(capsys, "train", "--resume", str(first / "run.pt"), "--dataset",
                            "patches", "--out", str(tmp_path / "c"))
    assert code == 2 and "cannot change a resumed run" in err


def test_resume_on_different_data_is_refused(tmp_path, capsys):
    from tests.test_mnist import fake_mnist

    fake_mnist(tmp_path / "m1", count=40)
    fake_mnist(tmp_path / "m2", count=60)
    assert run_main(capsys, "train", "--preset", "notes-l1", "--data-dir", str(tmp_path / "m1"),
                    "--steps", "2", "--set", "batch_size=10", "--quiet",
                    "--out", str(tmp_path / "a"))[0] == 0
    code, _, err = run_main(capsys, "train", "--resume", str(tmp_path / "a" / "run.pt"),
                            "--data-dir", str(tmp_path / "m2"), "--steps", "2",
                            "--out", str(tmp_path / "b"))
    assert code == 2
    assert "trained on 36 images of 28x28, but this data set holds 54" in err
    assert len(err.strip().splitlines()) == 1


def test_datasets_lists_every_set_with_where_and_how(tmp_path, capsys, mnist_dir):
    code, out, _ = run_main(capsys, "datasets", "--data-dir", str(mnist_dir))
    assert code == 0
    for name in ("digits", "patches", "mnist", "fashion-mnist", "kmnist", "emnist", "folder",
                 "npz"):
        assert f"  {name} " in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")
             and line.split()}
    assert "present" in lines["mnist"] and "missing" in lines["fashion-mnist"]
    assert "built in" in lines["digits"] and "built in" in lines["patches"]
    assert "--download fashion-mnist" in out


def test_download_refuses_an_unknown_set(capsys):
    code, _, err = run_main(capsys, "datasets", "--download", "cifar")
    assert code == 2 and "--download = 'cifar' is not allowed: one of mnist" in err


@pytest.mark.parametrize("dataset", ["patches", "folder", "npz"])
def test_any_preset_runs_on_the_other_data_sets(tmp_path, capsys, dataset):
    args = []
    if dataset == "folder":
        from tests.test_window_data import write_pngs

        write_pngs(tmp_path / "images", [(16, 16)] * 40)
        args = ["--data-dir", str(tmp_path / "images")]
    elif dataset == "npz":
        np.save(tmp_path / "x.npy", np.random.default_rng(0).random((50, 10, 10)))
        args = ["--data-dir", str(tmp_path / "x.npy")]
    code, _, err = run_main(capsys, "train", "--preset", "kl-demo", "--dataset", dataset,
                            *args, "--steps", "3", "--set", "batch_size=10", "--set",
                            "hidden_units=9", "--quiet", "--out", str(tmp_path / "o"))
    assert code == 0, err
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["dataset"] == dataset


@pytest.mark.parametrize("dataset, data_dir, message", [
    ("folder", None, "dataset = 'folder' needs --data-dir naming a folder of PNG/JPEG images"),
    ("npz", "missing.npz", "missing.npz"),
    ("folder", "empty", "no PNG or JPEG images"),
])
def test_own_data_problems_exit_2_with_one_line(tmp_path, capsys, dataset, data_dir, message):
    args = []
    if data_dir is not None:
        (tmp_path / "empty").mkdir()
        args = ["--data-dir", str(tmp_path / data_dir)]
    code, _, err = run_main(capsys, "train", "--dataset", dataset, *args, "--quiet",
                            "--out", str(tmp_path / "o"))
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err
