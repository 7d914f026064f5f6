"""What a run leaves for people: the history it reads back, its curves and its summary line."""

from __future__ import annotations

import pytest

from zoo.training import report


def test_read_history_keeps_each_epochs_last_row(tmp_path):
    # A run killed after writing epoch 1's row but before its backup repeats epoch 1 when resumed.
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss,val_loss\n1,0.9,1.0\n2,0.7,NA\n2,0.6,0.8\n3,0.5,0.7\n")
    history = report.read_history(path)
    assert history["epoch"] == [1, 2, 3]
    assert history["loss"] == [0.9, 0.6, 0.5]
    assert history["val_loss"] == [1.0, 0.8, 0.7]


def test_plot_history_writes_a_png_and_refuses_an_empty_history(tmp_path):
    path = report.plot_history({"epoch": [1, 2], "loss": [0.9, 0.5], "val_loss": [1.0, 0.7]}, tmp_path / "c.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="No epochs to plot"):
        report.plot_history({"epoch": [], "loss": []}, tmp_path / "empty.png")
    assert not (tmp_path / "empty.png").exists()


def test_summary_line_says_how_many_epochs_a_resumed_run_trained():
    common = dict(metrics={"accuracy": 0.99}, epochs=12, seconds=1.25, strategy="default strategy (1 replica)",
                  export="saved_models/lenet/1")
    assert report.summary_line("lenet", "digits", **common) == (
        "lenet on digits: test accuracy 0.9900 | 12 epochs in 1.2 s on default strategy (1 replica) | "
        "export: saved_models/lenet/1")
    assert report.summary_line("lenet", "digits", **common, run_dir="runs/lenet-digits",
                               files=["curves.png", "metrics.json"]).endswith(
        "| export: saved_models/lenet/1 | run: runs/lenet-digits/ (curves.png, metrics.json) | "
        "TensorBoard: tensorboard --logdir runs/lenet-digits/logs")
    assert "| 12 epochs, 3 of them after resuming, in 1.2 s on" in report.summary_line(
        "lenet", "digits", **common, resumed_at=9)
    assert "| 12 epochs, 0 of them after resuming, in" in report.summary_line("lenet", "digits", **common,
                                                                            resumed_at=12)


def test_curves_count_epochs_from_1_on_integer_ticks_and_log_scale_a_loss_spanning_decades():
    figure = report.history_figure({"epoch": [1, 2, 3], "loss": [30.0, 2.0, 0.5], "accuracy": [0.5, 0.8, 0.9]},
                                   loss_label="negative log marginal likelihood per example")
    loss, accuracy = figure.axes
    assert loss.get_title() == "loss: negative log marginal likelihood per example"
    assert loss.get_yscale() == "log" and accuracy.get_yscale() == "linear"
    assert list(loss.lines[0].get_xdata()) == [1, 2, 3]
    ticks = [t for t in loss.get_xticks() if 1 <= t <= 3]
    assert ticks and all(float(t).is_integer() for t in ticks)


def test_a_bayesian_loss_is_plotted_as_its_data_term_and_its_kl_term():
    history = {"epoch": [1, 2], "loss": [242.0, 240.5], "data_nll": [2.0, 0.5],
               "val_loss": [242.5, 241.0], "val_data_nll": [2.5, 1.0]}
    titles = [axis.get_title() for axis in report.history_figure(history).axes]
    assert titles == ["data term: NLL per example", "KL term per example (loss - NLL)"]
    data, kl = report.history_figure(history).axes
    assert list(data.lines[0].get_ydata()) == [2.0, 0.5]
    assert list(kl.lines[0].get_ydata()) == [240.0, 240.0] and list(kl.lines[1].get_ydata()) == [240.0, 240.0]
    assert [line.get_label() for line in kl.lines] == ["train", "validation"]
