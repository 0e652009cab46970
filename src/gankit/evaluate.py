"""``gankit eval``: sample a trained generator and score it with the metrics library.

Each metric follows its paper's protocol and its result is returned together with that protocol
(sample counts, reference data and split, feature extractor, seed, chosen sigma or k), and, for a
run directory, appended to ``metric-<name>.jsonl`` there.

Example:
    >>> from gankit.evaluate import evaluate                                  # doctest: +SKIP
    >>> res = evaluate("runs/00000-quick", metrics=["fid", "pr"], n=2000)    # doctest: +SKIP
    >>> res["fid"]["value"], res["pr"]["precision"]                            # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from gankit.checkpoint import find_checkpoint
from gankit.config import DataConfig
from gankit.errors import UserError

METRICS: dict[str, str] = {
    "parzen": "Parzen-window log-likelihood of test data under G's samples (Goodfellow et al. 2014)",
    "fid": "Fréchet distance between feature Gaussians (Heusel et al. 2017)",
    "kid": "kernel inception distance, unbiased MMD^2 with a cubic kernel (Binkowski et al. 2018)",
    "pr": "precision and recall of k-NN manifolds, k=3 (Kynkäänniemi et al. 2019)",
    "dc": "density and coverage, k=5 (Naeem et al. 2020)",
    "modes": "modes covered, high-quality share, KL to uniform on toy mixtures (VEEGAN / PacGAN)",
    "classes": "digit classes generated and KL to uniform, by the digits classifier",
    "ndb": "number of statistically different bins and JS divergence (Richardson & Weiss 2018)",
    "is": "Inception Score, 10 splits, needs --features inception (Salimans et al. 2016)",
}
MAX_REAL = 10_000  # reference examples used at most (Lucic et al. 2018: 10k real vs 10k generated)


class NotApplicable(Exception):
    """A metric that cannot apply to this generator or data; the message says why."""


def parse_metrics(spec: str | Sequence[str]) -> list[str]:
    """'fid,pr' or ['fid', 'pr'] -> validated list; 'all' -> every metric."""
    names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    if names == ["all"]:
        return list(METRICS)
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise UserError(
            f"unknown metric {', '.join(unknown) or '(none given)'}; known metrics: {', '.join(METRICS)}, or all"
        )
    return list(dict.fromkeys(names))


class _Context:
    """Everything the metrics share, computed at most once: samples, reference data, features."""

    def __init__(self, G, cfg, info: dict, n: int, seed: int, data_cfg: DataConfig, split: str,
                 features: str | torch.nn.Module, inception_weights: str | None, progress: bool,
                 inception_precision: str = "fp32"):
        self.G, self.cfg, self.info, self.n, self.seed = G, cfg, info, n, seed
        self.data_cfg, self.split, self.features_name = data_cfg, split, features
        self.inception_weights, self.progress = inception_weights, progress
        self.inception_precision = inception_precision
        self.cached: dict[str, bool] = {}  # which feature sets came from the on-disk cache
        self._cache: dict[str, Any] = {}

    def once(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    @property
    def samples(self) -> torch.Tensor:
        from gankit.generate import generate

        return self.once("samples", lambda: generate(self.G, self.n, seed=self.seed))  # [n, *shape] in [-1, 1]

    def data(self, split: str):
        from gankit.data import build_dataset

        def load():
            d = build_dataset(self.data_cfg, split)
            if tuple(d.shape) != tuple(self.G.data_shape):
                raise UserError(f"reference data {d.name!r} has shape {list(d.shape)} but the generator makes "
                                f"{list(self.G.data_shape)}; pass --data with matching data (and data.size)")
            if len(d.x) > MAX_REAL and not (split == "train" and self.data_cfg.name == "mnist"):
                keep = torch.randperm(len(d.x), generator=torch.Generator().manual_seed(self.seed))[:MAX_REAL]
                d = replace(d, x=d.x[keep], y=None if d.y is None else d.y[keep])
            return d
        return self.once(f"data:{split}", load)

    @property
    def is_image(self) -> bool:
        return len(self.G.data_shape) == 3

    def extractor(self):
        def make():
            name = self.features_name
            if isinstance(name, torch.nn.Module):
                return name.eval()
            if name == "raw":
                return None
            from gankit.features import get_feature_extractor

            if name == "inception":
                return get_feature_extractor(name, weights=self.inception_weights, progress=self.progress,
                                             precision=self.inception_precision)
            return get_feature_extractor(name)
        return self.once("extractor", make)

    @property
    def features_label(self) -> str:
        f = self.features_name
        if f == "inception":
            return f"inception ({self.extractor().precision})"
        return type(f).__name__ if isinstance(f, torch.nn.Module) else f

    def features(self, which: str) -> torch.Tensor:
        def make():
            x = self.samples if which == "gen" else self.data(self.split).x
            if self.features_name == "raw":
                return x.flatten(1).float()
            if not self.is_image and not isinstance(self.features_name, torch.nn.Module):
                raise NotApplicable(
                    f"feature extractor {self.features_name!r} reads images; use --features raw for vector data"
                )
            from gankit.features import cached_features, extract_features

            batch = 50 if self.features_name == "inception" else 500  # 299x299 activations are large
            if which == "real" and self.features_name == "inception":
                # The reference side is the same every time: its features are kept, keyed by data and weights.
                from gankit.data import resolve_cache_dir

                net = self.extractor()
                feats, self.cached[which] = cached_features(
                    net, x, resolve_cache_dir(self.data_cfg.cache_dir), f"inception-{net.precision}",
                    batch_size=batch, progress=self.progress)
                return feats
            return extract_features(self.extractor(), x, batch_size=batch, progress=self.progress)
        return self.once(f"features:{which}", make)


def _parzen(ctx: _Context) -> dict:
    from gankit.metrics import parzen_evaluate

    valid, test, how = _parzen_splits(ctx)
    res = parzen_evaluate(ctx.samples.flatten(1), valid.flatten(1), test.flatten(1), from_minus1=ctx.is_image)
    return {"mean": res["mean"], "sem": res["sem"], "sigma": res["sigma"], "n_samples": res["n_samples"],
            "n_test": res["n_test"], "n_valid": len(valid), "valid_test": how,
            "space": "[0, 1] pixels" if ctx.is_image else "model space",
            "sigmas_tried": list(res["sigmas_tried"])}


def _parzen_splits(ctx: _Context) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Validation data picks sigma, test data is scored (parzen_ll.py's protocol).

    Full MNIST: valid = training images 50,000-59,999 and test = the test set, as the paper. Smaller
    sets: the evaluation split is cut in two halves by a seeded permutation, valid then test.
    """
    data = ctx.data(ctx.split)
    if ctx.split == "test" and ctx.data_cfg.name == "mnist":
        train = ctx.data("train")
        return train.x[50_000:60_000], data.x, "valid = train[50000:60000], test = the test split (the paper's)"
    perm = torch.randperm(len(data.x), generator=torch.Generator().manual_seed(ctx.seed))
    half = len(perm) // 2
    if half < 2:
        raise NotApplicable(f"the {ctx.split} split has {len(perm)} examples; "
                            "the Parzen protocol needs a validation and a test half")
    return data.x[perm[:half]], data.x[perm[half:]], f"halves of the {ctx.split} split (seed {ctx.seed})"


def _fid(ctx: _Context) -> dict:
    from gankit.metrics import frechet_distance

    fg, fr = ctx.features("gen"), ctx.features("real")
    return {"value": frechet_distance(fg, fr), "features": ctx.features_label, "n_gen": len(fg), "n_real": len(fr)}


def _kid(ctx: _Context) -> dict:
    from gankit.metrics import kid

    fg, fr = ctx.features("gen"), ctx.features("real")
    size = min(1000, len(fg), len(fr))
    mean, std = kid(fg, fr, subsets=100, subset_size=size, seed=ctx.seed)
    return {"mean": mean, "std": std, "subsets": 100, "subset_size": size, "features": ctx.features_label,
            "n_gen": len(fg), "n_real": len(fr)}


def _pr(ctx: _Context) -> dict:
    from gankit.metrics import prdc

    res = ctx.once("prdc", lambda: prdc(ctx.features("gen"), ctx.features("real")))
    return {"precision": res["precision"], "recall": res["recall"], "k": res["k_pr"], "features": ctx.features_label,
            "n_gen": res["n_gen"], "n_real": res["n_real"]}


def _dc(ctx: _Context) -> dict:
    from gankit.metrics import prdc

    res = ctx.once("prdc", lambda: prdc(ctx.features("gen"), ctx.features("real")))
    return {"density": res["density"], "coverage": res["coverage"], "k": res["k_dc"], "features": ctx.features_label,
            "n_gen": res["n_gen"], "n_real": res["n_real"]}


def _modes(ctx: _Context) -> dict:
    from gankit.metrics import mode_coverage

    if "centers" not in ctx.info:
        raise NotApplicable("the training data has no known mode centres (only the toy sets ring8, grid25, gauss1d do)")
    n = 2500  # VEEGAN / PacGAN protocol: 2,500 samples
    x = ctx.samples[:n]
    res = mode_coverage(x, torch.tensor(ctx.info["centers"]), ctx.info["std"])
    return {"modes_covered": res["modes_covered"], "n_modes": res["n_modes"], "high_quality": res["high_quality"],
            "kl": res["kl"], "n_samples": len(x), "n_sigma": 3.0, "counts": list(res["counts"])}


def _classes(ctx: _Context) -> dict:
    if not ctx.is_image or ctx.G.data_shape[0] not in (1, 3):
        raise NotApplicable("the digits classifier reads 1-channel digits or 3-channel stacked digits")
    from gankit.metrics.classes import class_coverage, classify_digits, stacked_mnist_coverage

    pred = classify_digits(ctx.samples)
    if ctx.G.data_shape[0] == 3:
        res = stacked_mnist_coverage(pred)
        return {"modes_covered": res["modes_covered"], "n_modes": res["n_modes"], "kl": res["kl"],
                "n_samples": len(pred), "classifier": "digits"}
    res = class_coverage(pred, n_classes=10)
    return {"classes_covered": res["classes_covered"], "n_classes": res["n_classes"], "kl": res["kl"],
            "counts": list(res["counts"]), "n_samples": len(pred), "classifier": "digits"}


def _ndb(ctx: _Context) -> dict:
    from gankit.metrics import ndb

    real = ctx.data("train").x.flatten(1)  # bins are k-means clusters of the training data (the paper's)
    k = min(100, max(2, len(real) // 50))  # the paper's K = 100, fewer where bins would hold < 50 real points
    res = ndb(ctx.samples.flatten(1), real, k=k, seed=ctx.seed)
    return {"ndb": res["ndb"], "k": res["k"], "ndb_over_k": res["ndb_over_k"], "js": res["js"], "alpha": res["alpha"],
            "n_samples": res["n_samples"], "n_data": res["n_data"], "bins_from": "train split"}


def _is(ctx: _Context) -> dict:
    from gankit.metrics.inception_score import inception_score

    head = getattr(ctx.extractor(), "fc", None) if ctx.features_name != "raw" else None
    if not isinstance(head, torch.nn.Linear):
        raise NotApplicable("the Inception Score needs the Inception network's classifier: use --features inception")
    with torch.no_grad():
        logits = head(ctx.features("gen").to(head.weight.dtype))  # [n, 1008]
    splits = 10 if len(logits) >= 10 else 1
    return {**inception_score(logits, splits=splits), "features": ctx.features_label}


_RUNNERS: dict[str, Callable[[_Context], dict]] = {
    "parzen": _parzen, "fid": _fid, "kid": _kid, "pr": _pr, "dc": _dc,
    "modes": _modes, "classes": _classes, "ndb": _ndb, "is": _is,
}


def evaluate(run_or_ckpt: str | os.PathLike, metrics: str | Sequence[str] = ("fid", "pr", "dc"), n: int = 10_000,
             seed: int = 0, data: str | None = None, split: str = "test", features: str | torch.nn.Module = "digits",
             inception_weights: str | None = None, record: bool = True, progress: bool = False,
             device: str | torch.device = "cpu", inception_precision: str = "fp32") -> dict[str, dict]:
    """Score a trained generator (its G_ema) with the named metrics.

    Args:
        run_or_ckpt: a run directory or a checkpoint file.
        metrics: names from :data:`METRICS` ("parzen,fid,kid,pr,dc,modes,classes,ndb" or "all").
        n: generated samples (the protocols' 10,000; mode coverage uses the first 2,500).
        seed: seed of the generator's noise and of the metrics' own draws.
        data: reference dataset name or path; default the run's training data.
        split: reference split ("test" by default, "train" or "all").
        features: "digits" (shipped digit classifier), "inception" (FID Inception-v3), "raw" (the data
            itself, for vector data), or any torch.nn.Module mapping images to feature vectors.
        inception_weights: a local path to the Inception weights file (else cache / download).
        record: append each result with its protocol to ``metric-<name>.jsonl`` beside the checkpoint.
        progress: show progress bars.
        device: where G draws the samples ("cpu", "cuda", "cuda:N"; the metrics run on the CPU).
        inception_precision: how the Inception network runs: "fp32" (BatchNorm folded, channels-last; the
            plain network's features to float rounding) or "bf16" (about 2x faster on a CPU with native bf16;
            FID moves by about 1-4%, docs/inception.md). The reference data's Inception
            features are kept in the cache (``<cache>/features/``), keyed by the data, the weights and
            this precision, so a second evaluation against the same data computes only the samples'.

    Returns:
        {metric: {field: value, ..., "protocol": {...}}}; a metric that cannot apply maps to
        {"skipped": reason}.

    Raises:
        UserError: unknown metric or feature extractor, unusable checkpoint or data.
    """
    from gankit.run import load_run
    from gankit.training.runtime import resolve_device

    names = parse_metrics(metrics)
    if n <= 1:
        raise UserError(f"-n must be at least 2 samples; got {n}")
    if split not in ("train", "test", "all"):
        raise UserError(f"--split must be train, test or all; got {split!r}")
    if inception_precision not in ("fp32", "bf16"):
        raise UserError(f"--inception-precision must be fp32 or bf16; got {inception_precision!r}")
    if _foreign_samples(run_or_ckpt):
        return _evaluate_samples(Path(run_or_ckpt), names, n, seed, data, split, features, inception_weights,
                                 progress, inception_precision)
    ckpt_path = find_checkpoint(run_or_ckpt)
    saved = load_run(ckpt_path)
    G, cfg, info, step = saved.generator(device=resolve_device(device), command="eval"), saved.config, \
        saved.data_info, saved.step
    data_cfg = cfg.data if data is None else replace(cfg.data, name=data)
    if not isinstance(features, torch.nn.Module) and features not in ("digits", "inception", "raw"):
        raise UserError(f"--features must be digits, inception or raw; got {features!r}")
    if features == "digits" and len(G.data_shape) != 3:
        features = "raw"  # vector data: the coordinates themselves are the features
    ctx = _Context(G, cfg, info, n, seed, data_cfg, split, features, inception_weights, progress,
                   inception_precision)
    if data is not None:
        ctx.data("test" if split == "all" else split)  # a bad --data is one line before any sample is drawn
    protocol = {"n_generated": n, "seed": seed, "data": data_cfg.name, "split": split, "checkpoint": str(ckpt_path),
                "step": step}
    return _run_metrics(ctx, names, protocol, ckpt_path.parent if record else None)


def _run_metrics(ctx: _Context, names: list[str], protocol: dict, record_in: Path | None) -> dict[str, dict]:
    """Each metric on the shared context, with its protocol and seconds; appended to ``record_in/metric-*.jsonl``
    when given. A metric that cannot apply answers ``{"skipped": reason}``."""
    results: dict[str, dict] = {}
    for name in names:
        t0 = time.perf_counter()
        try:
            res = _RUNNERS[name](ctx)
        except NotApplicable as e:
            results[name] = {"skipped": str(e)}
            continue
        results[name] = {**res, "protocol": {**protocol, "seconds": round(time.perf_counter() - t0, 3)}}
        if "real" in ctx.cached:  # the reference features were read from the cache (True) or computed (False)
            results[name]["protocol"]["real_features_cached"] = ctx.cached["real"]
        if record_in is not None:
            line = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "metric": name, **results[name]}
            with open(record_in / f"metric-{name}.jsonl", "a") as f:
                f.write(json.dumps(_jsonable(line)) + "\n")
    return results


def _foreign_samples(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds samples made elsewhere (an array file, an image, a folder of images) rather than a run."""
    p = Path(path)
    if p.is_dir():
        return not (p / "checkpoint.pt").exists() and not (p / "config.json").exists()
    return p.suffix.lower() in (".npz", ".npy", ".png", ".jpg", ".jpeg", ".bmp", ".webp")


def _evaluate_samples(path: Path, names: list[str], n: int, seed: int, data: str | None, split: str,
                      features, inception_weights, progress: bool,
                      inception_precision: str = "fp32") -> dict[str, dict]:
    """The metrics of samples made by any tool (torch-fidelity's folder habit) against a dataset gankit knows."""
    from types import SimpleNamespace

    from gankit.data import build_dataset
    from gankit.data.images import read_images

    if data is None:
        raise UserError(f"{str(path)!r} holds samples, not a run, so it has no training data to compare with; "
                        "name the reference data with --data (e.g. --data mnist-5k)")
    data_cfg = DataConfig(name=data)
    reference = build_dataset(data_cfg, "test" if split == "all" else split)
    if len(reference.shape) != 3:
        raise UserError(f"--data {data!r} is vector data; samples from outside a run are scored against image data "
                        "only (vectors in a file carry no scale to match the data's)")
    x = read_images(str(path), tuple(reference.shape), what="the reference data has").x
    if len(x) < 2:
        raise UserError(f"{str(path)!r} holds {len(x)} sample; the metrics need at least 2")
    used = min(n, len(x))
    if features == "digits" and len(reference.shape) != 3:
        features = "raw"
    stand_in = SimpleNamespace(data_shape=tuple(reference.shape), c_dim=0)  # what the metrics ask of G
    ctx = _Context(stand_in, None, dict(getattr(reference, "info", {}) or {}), used, seed, data_cfg, split, features,
                   inception_weights, progress, inception_precision)
    ctx._cache["samples"] = x[:used]  # the first n, in the file's order
    protocol = {"n_generated": used, "seed": seed, "data": data, "split": split, "samples": str(path)}
    return _run_metrics(ctx, names, protocol, None)


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if hasattr(x, "item"):
        return _jsonable(x.item())
    return x


def format_table(results: dict[str, dict]) -> str:
    """A readable table: one line per metric with its main numbers."""
    main = {"parzen": ("mean", "sem", "sigma"), "fid": ("value",), "kid": ("mean", "std"),
            "pr": ("precision", "recall"), "dc": ("density", "coverage"),
            "modes": ("modes_covered", "n_modes", "high_quality", "kl"),
            "classes": ("classes_covered", "modes_covered", "kl"), "ndb": ("ndb", "k", "js")}
    lines = []
    for name, res in results.items():
        if "skipped" in res:
            lines.append(f"{name:8s} not applicable: {res['skipped']}")
            continue
        parts = [f"{k}={_fmt(res[k])}" for k in main[name] if k in res]
        extra = res.get("features") or res.get("classifier")
        lines.append(f"{name:8s} " + "  ".join(parts) + (f"  [{extra}]" if extra else ""))
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def to_json(results: dict[str, dict]) -> str:
    return json.dumps(_jsonable(results))
