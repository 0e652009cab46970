"""StatsLog: rows written in step order, means per flush, NaN detection, changing columns."""

import math

import torch

from gankit.stats import StatsLog, read_stats


def test_rows_and_means(tmp_path):
    log = StatsLog(tmp_path / "s.jsonl")
    for step in (1, 2, 3):
        log.add(step, loss=torch.tensor(float(step)), lr=0.5)
    assert log.flush() == {"loss": 2.0, "lr": 0.5}
    assert log.flush() == {}
    assert read_stats(tmp_path / "s.jsonl") == [{"step": s, "loss": float(s), "lr": 0.5} for s in (1, 2, 3)]
    assert log.first_nonfinite is None


def test_columns_may_change_between_rows(tmp_path):
    """A loss that starts after a warm-up: the rows before and after keep their own columns."""
    log = StatsLog(tmp_path / "s.jsonl")
    log.add(1, mse=torch.tensor(1.0))
    log.add(2, mse=torch.tensor(3.0))
    log.add(3, mse=torch.tensor(2.0), adv=torch.tensor(0.5))
    log.add(4, mse=torch.tensor(4.0), adv=torch.tensor(1.5))
    assert log.flush() == {"mse": 3.0, "adv": 1.0}  # the means of the last run of rows
    rows = read_stats(tmp_path / "s.jsonl")
    assert rows == [{"step": 1, "mse": 1.0}, {"step": 2, "mse": 3.0}, {"step": 3, "mse": 2.0, "adv": 0.5},
                    {"step": 4, "mse": 4.0, "adv": 1.5}]


def test_first_nonfinite_is_kept(tmp_path):
    log = StatsLog(None)  # counts but writes nothing
    log.add(1, a=torch.tensor(0.0))
    log.add(2, a=torch.tensor(float("nan")))
    log.add(3, a=torch.tensor(float("inf")), b=torch.tensor(1.0))
    means = log.flush()
    assert log.first_nonfinite == (2, "a") and math.isinf(means["a"])
    assert not list(tmp_path.iterdir())


def test_image_stats_closed_forms():
    from gankit.metrics.image_stats import gradient_magnitude, grey_share

    assert abs(grey_share(torch.tensor([-1.0, -0.6, -0.2, 0.3, 0.6, 1.0])) - 2 / 6) < 1e-7  # only -0.2 and 0.3 are grey
    x = torch.full((1, 1, 4, 4), -1.0)
    x[..., 2:] = 1.0  # a vertical edge: one unit step in x on each of the 3 rows compared, over 3 x 3 pixels
    assert abs(gradient_magnitude(x) - 3 / 9) < 1e-7
    assert gradient_magnitude(torch.zeros(2, 3, 5, 5)) == 0.0
