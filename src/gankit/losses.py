"""GAN losses as pure functions of D's logits (never probabilities).

With a logit l and D = sigmoid(l):  log D = -softplus(-l)  and  log(1 - D) = -softplus(l).
These softplus forms stay finite where log(sigmoid(l)) would underflow.

Goodfellow et al. (2014), eq. 1:  V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))].

Example:
    >>> import torch, math
    >>> from gankit.losses import value
    >>> round(value(torch.zeros(8), torch.zeros(8)).item(), 6) == round(-math.log(4), 6)
    True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def value(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """V(D, G) = mean log D(x) + mean log(1 - D(G(z))); equals -log 4 when D = 1/2 everywhere."""
    return -F.softplus(-logits_real).mean() - F.softplus(logits_fake).mean()


def d_loss_bce(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """D maximises V, so it minimises -V = -log D(x) - log(1 - D(G(z))) (binary cross-entropy)."""
    return F.softplus(-logits_real).mean() + F.softplus(logits_fake).mean()


def g_loss_minimax(logits_fake: torch.Tensor) -> torch.Tensor:
    """The saturating loss of the minimax game: G minimises log(1 - D(G(z))) = -softplus(l).

    d/dl = -sigmoid(l) -> 0 as D(G(z)) -> 0: early in training, when D rejects samples
    confidently, G receives almost no gradient (the paper's section 3).
    """
    return -F.softplus(logits_fake).mean()


def g_loss_nonsaturating(logits_fake: torch.Tensor) -> torch.Tensor:
    """The paper's practical loss: G maximises log D(G(z)), i.e. minimises softplus(-l).

    d/dl = -sigmoid(-l) -> -1 as D(G(z)) -> 0: strong gradients exactly when G is worst.
    """
    return F.softplus(-logits_fake).mean()


G_LOSSES = {"nonsaturating": g_loss_nonsaturating, "minimax": g_loss_minimax}
D_LOSSES = {"bce": d_loss_bce}
