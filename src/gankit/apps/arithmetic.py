"""Latent arithmetic: ``gankit arithmetic`` draws z = sum(plus) - sum(minus) (docs/latent.md).

Radford et al. (2016), "Unsupervised Representation Learning with Deep Convolutional GANs",
section 6.3, add and subtract z vectors ("smiling woman" - "neutral woman" + "neutral man") and
find that G draws the sum as the concept's sum. Operands here are a prior draw (``seed:N``), the z
of a real example (``real:test:I``, found by :func:`gankit.apps.invert.invert`) or a class's mean
z (``class:K``).

Example:
    >>> parse_operand("seed:3"), parse_operand("real:train:7"), parse_operand("class:1")
    (('seed', 3), ('real', 'train', 7), ('class', 1))
    >>> seed_z(3, 4, "normal").shape
    torch.Size([4])
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import torch

from gankit.apps.invert import invert, tile_scale
from gankit.errors import UserError, check_out_folder
from gankit.models import sample_z

__all__ = ["PER_CLASS", "ARITHMETIC_NOISE", "parse_operand", "seed_z", "arithmetic"]

#: Real images averaged per ``class:K`` operand of an unconditional G, as Radford et al. (2016),
#: section 6.3, average the z of three exemplars per concept.
PER_CLASS = 3

#: Half-width of the uniform noise added to the result z for the extra samples (Radford et al.
#: 2016, Figure 7: the other samples are the result plus noise of scale +-0.25).
ARITHMETIC_NOISE = 0.25

_OPERAND = {"seed": re.compile(r"^seed:(\d+)$"), "real": re.compile(r"^real:(?:(train|test|all):)?(\d+)$"),
            "class": re.compile(r"^class:(\d+)$")}


def parse_operand(spec: str) -> tuple:
    """One z operand: ``seed:N`` -> ("seed", N); ``real:test:I`` -> ("real", split, I); ``class:K`` -> ("class", K).

    ``real:I`` without a split means the test split; ``real:train:I`` and ``real:all:I`` name one.

    Example:
        >>> parse_operand("seed:3"), parse_operand("real:train:7"), parse_operand("class:1")
        (('seed', 3), ('real', 'train', 7), ('class', 1))
    """
    text = str(spec).strip()
    for kind, rx in _OPERAND.items():
        m = rx.match(text)
        if m:
            if kind == "real":
                return ("real", m.group(1) or "test", int(m.group(2)))
            return (kind, int(m.group(1)))
    raise UserError(f"bad z operand {spec!r}: expected seed:N (a draw from the prior), real:test:I (or real:train:I; "
                    f"a real example, inverted) or class:K (a class's mean z)")


def seed_z(seed: int, z_dim: int, dist: str) -> torch.Tensor:
    """The z of ``seed:N``: the first draw [z_dim] of the prior from a generator seeded with N."""
    return sample_z(1, z_dim, dist, torch.Generator().manual_seed(int(seed)))[0]


def arithmetic(run_or_ckpt: str | os.PathLike, plus: list[str], minus: list[str] = (),
               out: str | os.PathLike = "arithmetic.png", n: int = 8, seed: int = 0, noise: float = ARITHMETIC_NOISE,
               per_class: int = PER_CLASS, invert_steps: int = 500, restarts: int = 4) -> dict:
    """What ``gankit arithmetic`` does: z = sum(plus) - sum(minus), drawn with its operands.

    Operands (:func:`parse_operand`): ``seed:N`` is the prior draw :func:`seed_z`;
    ``real:SPLIT:I`` is the z :func:`invert` finds for example I of the run's dataset (seed
    ``seed``, ``invert_steps``, ``restarts``); ``class:K`` is, for an unconditional G, the mean z
    of the inversions of the first ``per_class`` examples of class K in the test split (the
    dataset needs labels). A conditional G keeps the class in c, not in z: there ``class:K``
    adds nothing to z and sets the result's label (the last ``--plus`` operand that carries a
    label, class:K or a real example, decides it; one is needed), and every operand is drawn
    with its own label (seed operands with the result's).

    The picture (``out`` .png): the first row holds each plus operand's G(z), then each minus
    operand's, then the result G(z); with ``n`` > 0 a second row holds ``n`` samples of G at the
    result plus uniform noise in [-noise, noise] per coordinate (seeded by ``seed``). Blank tiles
    fill the shorter row. ``out`` ending in .npz writes the arrays instead: z_ops [K, z_dim],
    signs [K] (+1 / -1), ops [K], z [z_dim], x [*shape] (G of the result), samples [n, *shape],
    z_samples [n, z_dim], and c_ops / c for a conditional G.

    Returns:
        dict with "out", "operands" (list of dicts: spec, sign, z, label, error for real or class
        operands), "z" (the result), "label" (or None), "columns", "rows".
    """
    from gankit.data import build_dataset
    from gankit.data.images import parse_indices
    from gankit.generate import load_generator

    out = Path(out)
    if out.suffix.lower() not in (".png", ".npz"):
        raise UserError(f"--out must end in .png (a picture) or .npz (arrays); got {str(out)!r}")
    check_out_folder(out)
    if not plus:
        raise UserError("latent arithmetic needs at least one --plus operand")
    if not isinstance(n, int) or n < 0:
        raise UserError(f"--n must be an integer >= 0; got {n!r}")
    if not isinstance(per_class, int) or per_class < 1:
        raise UserError(f"per_class must be >= 1; got {per_class!r}")
    if not noise >= 0:
        raise UserError(f"--noise must be >= 0; got {noise}")
    ops = [(s, +1, parse_operand(s)) for s in plus] + [(s, -1, parse_operand(s)) for s in minus]
    G, cfg, _ = load_generator(run_or_ckpt)
    shape = tuple(G.data_shape)
    if len(shape) != 3:
        raise UserError(f"gankit arithmetic draws images; this run's data are vectors of shape {list(shape)}")
    dist = G.z_dist
    cache: dict = {}

    def split_data(split: str):
        """The run's dataset split, built once per call."""
        if split not in cache:
            cache[split] = build_dataset(cfg.data, split)
        return cache[split]

    operands = []
    for spec, sign, op in ops:
        entry = {"spec": spec, "sign": sign, "label": None, "error": None}
        if op[0] == "seed":
            entry["z"] = seed_z(op[1], G.z_dim, dist)
        elif op[0] == "real":
            split, i = op[1], op[2]
            data = split_data(split)
            parse_indices(str(i), len(data), f"the {split} split of {data.name}", context=spec)
            y = None if data.y is None else data.y[i:i + 1]
            if G.c_dim and y is None:
                raise UserError(f"this generator is conditional but the {split} split of {data.name} has no labels")
            z, err = invert(G, data.x[i:i + 1], steps=invert_steps, restarts=restarts, seed=seed,
                            c=y if G.c_dim else None, z_dist=dist)
            entry.update(z=z[0], error=[float(err[0])], label=None if y is None else int(y[0]))
        else:
            k = op[1]
            if G.c_dim:
                if not 0 <= k < G.c_dim:
                    raise UserError(f"{spec}: this conditional generator has classes 0..{G.c_dim - 1}")
                entry.update(z=torch.zeros(G.z_dim), label=k)
            else:
                data = split_data("test")
                if data.y is None:
                    raise UserError(f"{spec} needs labelled data, but the test split of {data.name} has no labels")
                idx = torch.nonzero(data.y == k).flatten()[:per_class]
                if len(idx) == 0:
                    raise UserError(f"{spec}: the test split of {data.name} has no example of class {k} "
                                    f"(labels 0..{int(data.y.max())})")
                z, err = invert(G, data.x[idx], steps=invert_steps, restarts=restarts, seed=seed, z_dist=dist)
                entry.update(z=z.mean(0), error=[float(e) for e in err], index=[int(v) for v in idx])
        operands.append(entry)
    z_plus = torch.stack([o["z"] for o in operands if o["sign"] > 0]).sum(0)
    z_minus = [o["z"] for o in operands if o["sign"] < 0]
    z_res = z_plus - torch.stack(z_minus).sum(0) if z_minus else z_plus  # [z_dim]
    label = None
    if G.c_dim:
        carried = [o["label"] for o in operands if o["sign"] > 0 and o["label"] is not None]
        if not carried:
            raise UserError("this generator is conditional: give the result a class with --plus class:K "
                            "(or a --plus real:SPLIT:I operand)")
        label = carried[-1]
    gen = torch.Generator().manual_seed(seed)
    z_samples = z_res + noise * (2 * torch.rand(n, G.z_dim, generator=gen) - 1)  # [n, z_dim]
    z_ops = torch.stack([o["z"] for o in operands])  # [K, z_dim]
    c_ops = c_res = c_samples = None
    if G.c_dim:
        c_ops = torch.tensor([label if o["label"] is None else o["label"] for o in operands])
        c_res, c_samples = torch.tensor([label]), torch.full((n,), label)
    was_training = G.training
    G.eval()
    try:
        with torch.no_grad():
            x_ops = G(z_ops, c_ops)  # [K, *shape]
            x_res = G(z_res[None], c_res)  # [1, *shape]
            x_samples = G(z_samples, c_samples) if n else torch.empty(0, *shape)
    finally:
        G.train(was_training)
    first = torch.cat([x_ops, x_res])  # [K + 1, *shape]
    columns = max(len(first), n)
    rows = 1 + (n > 0)
    if out.suffix.lower() == ".npz":
        arrays = {"z_ops": z_ops.numpy(), "signs": np.array([o["sign"] for o in operands], dtype=np.int64),
                  "ops": np.array([o["spec"] for o in operands], dtype=np.str_), "z": z_res.numpy(),
                  "x": x_res[0].numpy(), "x_ops": x_ops.numpy(), "samples": x_samples.numpy(),
                  "z_samples": z_samples.numpy(), "seed": np.int64(seed), "noise": np.float64(noise)}
        if G.c_dim:
            arrays.update(c_ops=c_ops.numpy(), c=np.int64(label))
        np.savez_compressed(out, **arrays)
    else:
        from gankit.viz import save_labelled_grid

        def padded(t):
            return torch.cat([t, -torch.ones(columns - len(t), *shape)])

        tiles = torch.cat([padded(first)] + ([padded(x_samples)] if n else []))
        formula = " ".join(("+ " if o["sign"] > 0 else "- ") + o["spec"] for o in operands).removeprefix("+ ")
        title = f"z = {formula}" + ("" if label is None else f" (class {label})")
        heads = [("+ " if o["sign"] > 0 else "- ") + o["spec"] for o in operands] + ["= z"]
        rows_words = ["G(operand)", f"G(z + U(+-{noise:g}))"][:rows]
        save_labelled_grid(tiles, out, nrow=columns, scale=tile_scale(shape[-1]), title=title,
                           row_labels=rows_words, col_labels=heads + [""] * (columns - len(heads)))
    return {"out": out, "operands": operands, "z": z_res, "label": label, "columns": columns, "rows": rows,
            "x": x_res[0], "samples": x_samples, "z_samples": z_samples}
