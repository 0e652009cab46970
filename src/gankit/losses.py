"""GAN losses as pure functions of D's logits (never probabilities), and the gradient penalties.

The 2014 losses (bce D, minimax and non-saturating G) and the relativistic pairing loss (RpGAN) read
D's output l as a logit; the modern ones (Wasserstein, hinge, least squares) read it as a raw score
("critic" output), so D needs no sigmoid either way. Every D loss is minimised by D; every G loss is
minimised by G.

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


# Wasserstein GAN: Arjovsky, Chintala & Bottou (2017), "Wasserstein GAN", eq. 3 and Algorithm 1.
# The critic f estimates W(P_r, P_g) = max_{||f||_L <= 1} E_x[f(x)] - E_z[f(G(z))] (Kantorovich-Rubinstein).


def d_loss_wasserstein(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """The critic maximises E f(x) - E f(G(z)), i.e. minimises E f(G(z)) - E f(x).

    f must stay (close to) 1-Lipschitz: clip its weights (``loss.clip``, Arjovsky et al.) or add the
    gradient penalty (``loss.gp_lambda``, Gulrajani et al.); otherwise this loss is unbounded below.
    """
    return logits_fake.mean() - logits_real.mean()  # mean f(G(z)) - mean f(x)


def g_loss_wasserstein(logits_fake: torch.Tensor) -> torch.Tensor:
    """G minimises -E f(G(z)) (the only term of the critic's objective that depends on G)."""
    return -logits_fake.mean()  # -mean f(G(z))


# Hinge loss: Lim & Ye (2017), "Geometric GAN", eq. 9-10; Miyato et al. (2018), "Spectral
# Normalization for GANs", eq. 16-17 (the form used with spectral normalisation).


def d_loss_hinge(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """D minimises E max(0, 1 - D(x)) + E max(0, 1 + D(G(z))): a margin of 1 on either side."""
    return (F.relu(1.0 - logits_real).mean()  # mean max(0, 1 - D(x)): real scores pushed above +1
            + F.relu(1.0 + logits_fake).mean())  # mean max(0, 1 + D(G(z))): fake scores pushed below -1


def g_loss_hinge(logits_fake: torch.Tensor) -> torch.Tensor:
    """G minimises -E D(G(z)) (Lim & Ye's eq. 10; no margin on G's side)."""
    return -logits_fake.mean()  # -mean D(G(z))


# Least squares GAN: Mao et al. (2017), "Least Squares Generative Adversarial Networks", eq. 2
# with the 0-1 coding a = 0 (fake), b = 1 (real), c = 1 (the value G wants D to give fakes).


def d_loss_ls(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """D minimises 1/2 E (D(x) - b)^2 + 1/2 E (D(G(z)) - a)^2 with b = 1, a = 0."""
    return (0.5 * (logits_real - 1.0).pow(2).mean()  # 1/2 mean (D(x) - 1)^2
            + 0.5 * logits_fake.pow(2).mean())  # 1/2 mean (D(G(z)) - 0)^2


def g_loss_ls(logits_fake: torch.Tensor) -> torch.Tensor:
    """G minimises 1/2 E (D(G(z)) - c)^2 with c = 1."""
    return 0.5 * (logits_fake - 1.0).pow(2).mean()  # 1/2 mean (D(G(z)) - 1)^2


# Relativistic pairing GAN (RpGAN): Jolicoeur-Martineau (2018), "The relativistic discriminator: a key
# element missing from standard GAN", section 4.1 (RSGAN); Huang et al. (2024), "The GAN is dead; long
# live the GAN! A Modern GAN Baseline" (R3GAN), eq. 2 with f = softplus(-t). Each real sample is paired
# with one fake (pair i = real i, fake i), and D judges whether the real one is more real than its partner.


def d_loss_rpgan(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """D minimises E_pairs softplus(-(D(x_r) - D(x_f))) = -E log sigmoid(D(x_r) - D(x_f)).

    Args:
        logits_real, logits_fake: [N] D's outputs on N real samples and N fakes; sample i of each is a pair.
    """
    return F.softplus(-(logits_real - logits_fake)).mean()  # mean_i softplus(D(x_f,i) - D(x_r,i))


def g_loss_rpgan(logits_fake: torch.Tensor, logits_real: torch.Tensor) -> torch.Tensor:
    """G minimises E_pairs softplus(-(D(x_f) - D(x_r))): D's loss with the roles of real and fake swapped.

    ``logits_real`` are D's outputs on a real batch in the G step (no gradient reaches D's weights there);
    G's gradient flows only through ``logits_fake``.

    Args:
        logits_fake, logits_real: [N] D's outputs on N fakes and N real samples, paired by index.
    """
    return F.softplus(-(logits_fake - logits_real)).mean()  # mean_i softplus(D(x_r,i) - D(x_f,i))


# Penalties on D's input gradient. Both differentiate D's output with respect to its input and keep
# the graph (create_graph=True), so the penalty's own gradient reaches D's weights.


def gradient_penalty(D, x_real: torch.Tensor, x_fake: torch.Tensor, generator: torch.Generator | None = None,
                     lam: float = 10.0, c: torch.Tensor | None = None, eps: torch.Tensor | None = None) -> torch.Tensor:
    """WGAN-GP: lam * E[(||grad_x_hat D(x_hat)||_2 - 1)^2] on random interpolates of real and fake.

    Gulrajani et al. (2017), "Improved Training of Wasserstein GANs", eq. 3 and Algorithm 1
    (lam = 10 there). ``generator`` draws eps, so a run that saves its state resumes exactly.

    Args:
        D: any module with ``D(x) -> [N]`` scores.
        x_real, x_fake: [N, *shape] batches of the same shape (x_fake detached from G).
        generator: the torch.Generator for eps ~ U[0, 1]; None uses the global one.
        lam: the penalty weight lambda.
        c: class labels for a conditional D (the real batch's; None for an unconditional D).
        eps: the interpolation weights [N, 1, ...] to use instead of drawing them (distributed training
            draws the global batch's and passes each rank its slice).

    Returns:
        A scalar tensor that back-propagates to D's parameters.
    """
    n = x_real.shape[0]
    if eps is None:
        eps = torch.rand(n, *([1] * (x_real.dim() - 1)), generator=generator, device=x_real.device,
                         dtype=x_real.dtype)  # [N, 1, ...]: eps ~ U[0, 1] per sample
    x_hat = (eps * x_real.detach() + (1 - eps) * x_fake.detach()).requires_grad_(True)  # eps x + (1 - eps) G(z)
    # [N, *shape]: grad_x_hat D(x_hat)
    (grad,) = torch.autograd.grad((D(x_hat) if c is None else D(x_hat, c)).sum(), x_hat, create_graph=True)
    norm = grad.flatten(1).norm(2, dim=1)  # [N]: ||grad||_2 per sample
    return lam * (norm - 1.0).pow(2).mean()  # lam * E[(||grad|| - 1)^2]


def zero_centred_penalties(outputs: torch.Tensor, inputs: list[torch.Tensor],
                           gammas: list[float]) -> list[torch.Tensor]:
    """gamma_k/2 * E[||grad_{x_k} D||_2^2] for each input x_k of D's outputs, from one backward of their graph.

    This lets the penalties share D's forward pass with the loss, as R3GAN's trainer does: make the real and
    the fake batch require grad, compute the loss's logits from them, and pass those logits here. The
    gradient of sum(outputs) is each sample's own input gradient when D scores samples independently.

    Args:
        outputs: [N] D's outputs, computed (in the graph) from every tensor in ``inputs``.
        inputs: tensors [N_k, *shape] that require grad: R1's real batch, R2's fake batch.
        gammas: the weight gamma of each input's penalty.

    Returns:
        One scalar per input; each back-propagates to D's parameters (the graph of the gradient is kept).
    """
    grads = torch.autograd.grad(outputs.sum(), inputs, create_graph=True)  # [N_k, *shape] each
    return [0.5 * gamma * grad.float().flatten(1).pow(2).sum(1).mean()  # gamma/2 * E ||grad||^2
            for gamma, grad in zip(gammas, grads)]


def zero_centred_penalty(D, x: torch.Tensor, gamma: float, c: torch.Tensor | None = None) -> torch.Tensor:
    """gamma/2 * E[||grad_x D(x)||_2^2]: the zero-centred gradient penalty at the samples x, in a pass of its own.

    R1 when x is real data, R2 when x is generated (Mescheder, Geiger & Nowozin 2018, eq. 9 and 10).

    Args:
        D: any callable with ``D(x) -> [N]`` scores (``D(x, c)`` when c is given).
        x: [N, *shape] the samples where D's input gradient is penalised (detached here).
        gamma: the penalty weight gamma.
        c: class labels for a conditional D (None for an unconditional D).

    Returns:
        A scalar tensor that back-propagates to D's parameters (the graph of the gradient is kept).
    """
    x = x.detach().requires_grad_(True)  # [N, *shape]
    (penalty,) = zero_centred_penalties(D(x) if c is None else D(x, c), [x], [gamma])
    return penalty


def r1_penalty(D, x_real: torch.Tensor, gamma: float = 10.0, c: torch.Tensor | None = None) -> torch.Tensor:
    """R1: gamma/2 * E[||grad_x D(x)||_2^2] on real data only.

    Mescheder, Geiger & Nowozin (2018), "Which Training Methods for GANs do actually Converge?",
    eq. 9 (gamma = 10 in most of its experiments).

    Args:
        D: any module with ``D(x) -> [N]`` scores.
        x_real: [N, *shape] real data.
        gamma: the penalty weight gamma.
        c: the real batch's class labels for a conditional D (None: unconditional).

    Returns:
        A scalar tensor that back-propagates to D's parameters.
    """
    return zero_centred_penalty(D, x_real, gamma, c)


def r2_penalty(D, x_fake: torch.Tensor, gamma: float = 10.0, c: torch.Tensor | None = None) -> torch.Tensor:
    """R2: gamma/2 * E[||grad_x D(x)||_2^2] on generated samples x = G(z).

    Mescheder, Geiger & Nowozin (2018), eq. 10; R3GAN (Huang et al. 2024, eq. 5) adds gamma/2 (R1 + R2)
    to the RpGAN loss and finds that RpGAN with R1 alone diverges on its Stacked MNIST ablation.

    Args:
        D: any module with ``D(x) -> [N]`` scores.
        x_fake: [N, *shape] generated samples (detached here: the penalty trains D only).
        gamma: the penalty weight gamma.
        c: the fakes' class labels for a conditional D (None: unconditional).

    Returns:
        A scalar tensor that back-propagates to D's parameters.
    """
    return zero_centred_penalty(D, x_fake, gamma, c)


G_LOSSES = {"nonsaturating": g_loss_nonsaturating, "minimax": g_loss_minimax,
            "wasserstein": g_loss_wasserstein, "hinge": g_loss_hinge, "ls": g_loss_ls, "rpgan": g_loss_rpgan}
D_LOSSES = {"bce": d_loss_bce, "wasserstein": d_loss_wasserstein, "hinge": d_loss_hinge, "ls": d_loss_ls,
            "rpgan": d_loss_rpgan}
# The G losses that also read D's logits on a real batch: G_LOSSES[name](logits_fake, logits_real).
RELATIVISTIC_G_LOSSES = ("rpgan",)
