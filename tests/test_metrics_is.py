"""The Inception Score against closed forms and an independent computation (scipy's entropy), and through
gankit eval on a random-weights Inception network."""

import numpy as np
import pytest
import torch
from scipy.special import softmax
from scipy.stats import entropy

from gankit.metrics.inception_score import inception_score


def test_closed_forms():
    assert inception_score(np.zeros((20, 7)), splits=2)["mean"] == pytest.approx(1.0)  # unsure: p(y|x) = p(y)
    sure_same = np.tile([50.0, 0, 0], (12, 1))
    assert inception_score(sure_same, splits=3)["mean"] == pytest.approx(1.0, abs=1e-6)  # sure, one class
    sure_even = np.eye(6).repeat(4, 0) * 60.0  # 24 samples, 4 per class, sure of each
    res = inception_score(sure_even, splits=1)
    assert res["mean"] == pytest.approx(6.0, rel=1e-6) and res["std"] == 0 and res["n"] == 24


def test_matches_an_independent_computation():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 12)) * 3
    want = []
    for part in np.array_split(logits, 5):
        p = softmax(part, axis=1)
        py = p.mean(0)
        want.append(np.exp(np.mean([entropy(row, py) for row in p])))  # entropy(p, q) = KL(p || q)
    res = inception_score(logits, splits=5)
    assert res["mean"] == pytest.approx(np.mean(want), rel=1e-10) and res["std"] == pytest.approx(np.std(want))
    with pytest.raises(ValueError, match="N >= splits"):
        inception_score(logits[:3], splits=5)


def test_gankit_eval_reports_it_with_the_inception_network(tmp_path):
    from gankit.config import apply_overrides, load_preset
    from gankit.evaluate import evaluate
    from gankit.features.inception_net import InceptionV3FID
    from gankit.train import train

    cfg = apply_overrides(load_preset("quick-mlp"), ["data.name=digits", "G.hidden=[16]", "D.hidden=[16]", "z_dim=4",
                                                 "train.steps=2", "train.batch=16", "train.precision=fp32"])
    run = train(cfg, out=tmp_path, progress=False, report=False).run_dir
    torch.manual_seed(0)
    net = InceptionV3FID().eval()  # random weights: the test checks the plumbing, not a value
    res = evaluate(run, metrics="is", n=20, features=net, record=False)["is"]
    assert res["splits"] == 10 and res["n"] == 20 and 1.0 <= res["mean"] <= 1008
    with torch.no_grad():  # the same numbers from the network's own logits
        from gankit.generate import generate, load_generator

        x = generate(load_generator(run)[0], 20, seed=0)
        want = inception_score(net.fc(net(x).double().float()), splits=10)
    assert res["mean"] == pytest.approx(want["mean"], rel=1e-4)
    skipped = evaluate(run, metrics="is", n=20, record=False)["is"]
    assert "use --features inception" in skipped["skipped"]
