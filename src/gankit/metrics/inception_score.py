"""The Inception Score (Salimans et al. 2016, "Improved Techniques for Training GANs", section 4).

IS = exp(E_x KL(p(y|x) || p(y))), with p(y|x) the Inception network's softmax on a sample and p(y)
its mean over the samples; the samples are cut into ``splits`` equal parts (the paper's protocol:
50,000 samples, 10 splits), the score is computed on each, and the mean and standard deviation
over the parts are reported (torch-fidelity's ``inception_score_mean`` / ``_std``, which also
divides by the number of parts, not one less). gankit's FID network has 1,008 outputs (the
graph's class count); the score uses all of them, as torch-fidelity does.

Example:
    >>> import numpy as np
    >>> round(inception_score(np.eye(4).repeat(5, 0) * 50, splits=1)["mean"], 4)  # 4 classes, sure and even
    4.0
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["inception_score"]


def inception_score(logits: np.ndarray | torch.Tensor, splits: int = 10) -> dict:
    """IS of ``logits`` [N, K] (one row per sample): {"mean", "std", "splits", "n"}.

    Raises:
        ValueError: fewer samples than splits, or not a 2-d array.
    """
    x = torch.as_tensor(logits, dtype=torch.float64)
    if x.dim() != 2 or len(x) < splits or splits < 1:
        raise ValueError(f"the Inception Score needs logits [N, K] with N >= splits ({splits}); got {list(x.shape)}")
    log_p = torch.log_softmax(x, dim=1)  # [N, K]
    scores = []
    for part in torch.tensor_split(log_p, splits):
        log_py = torch.logsumexp(part, dim=0) - np.log(len(part))  # log of the mean of p(y|x) over the part
        kl = (part.exp() * (part - log_py)).sum(1).mean()  # E_x KL(p(y|x) || p(y))
        scores.append(float(torch.exp(kl)))
    return {"mean": float(np.mean(scores)), "std": float(np.std(scores)), "splits": splits, "n": len(x)}
