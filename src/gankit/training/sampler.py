"""Batch samplers and image buffers that every system's training shares.

:class:`BatchSampler` draws minibatch indices from seeded random permutations: every rank of a
DDP run draws the *global* batch and keeps its own slice, so the order (and a checkpoint of it)
does not depend on the number of processes. :class:`ImageHistory` is the pool of earlier
generated images of SimGAN and CycleGAN.

Example:
    >>> from gankit.training.sampler import BatchSampler
    >>> s = BatchSampler(10, 4, seed=0)
    >>> len(s.next()), len(s.next()), len(s.next())  # the ragged end of an epoch is dropped
    (4, 4, 4)
"""

from __future__ import annotations

import torch

from gankit.errors import UserError

__all__ = ["BatchSampler", "ImageHistory"]


class BatchSampler:
    """Minibatch indices from seeded random permutations (epochs without replacement)."""

    def __init__(self, n: int, batch: int, seed: int):
        if batch > n:
            raise UserError(f"train.batch ({batch}) is larger than the dataset ({n} examples); lower --set train.batch")
        self.n, self.batch = n, batch
        self.gen = torch.Generator().manual_seed(seed)
        self.perm = torch.randperm(n, generator=self.gen)
        self.pos = 0

    def next(self) -> torch.Tensor:
        if self.pos + self.batch > self.n:  # drop the ragged end of an epoch, start a new one
            self.perm, self.pos = torch.randperm(self.n, generator=self.gen), 0
        idx = self.perm[self.pos: self.pos + self.batch]  # [batch]
        self.pos += self.batch
        return idx

    def state_dict(self) -> dict:
        return {"perm": self.perm, "pos": self.pos, "gen": self.gen.get_state()}

    def load_state_dict(self, s: dict) -> None:
        self.perm, self.pos = s["perm"], int(s["pos"])
        self.gen.set_state(s["gen"])


# The history buffer (Shrivastava et al. 2017, section 2.4; used by CycleGAN, section 4).


class ImageHistory:
    """A pool of earlier generated images, so D also sees what G made in the past.

    ``query(x)`` returns a batch of ``len(x)`` images: while the pool fills, ``x`` itself (each
    image is also stored); once full, each position is, with probability 1/2, an image from the
    pool (replaced in the pool by the new one), else the new image. This is CycleGAN's rule
    (pool of 50). SimGAN's, "half the batch from the buffer", is ``query(x, half=True)``: a random
    half of the positions is always drawn from the full pool, and as many random pool slots are
    overwritten by new images.

    ``size`` 0 turns the buffer off (``query`` returns ``x``).
    """

    def __init__(self, size: int, seed: int = 0):
        self.size = size
        self.images: torch.Tensor | None = None  # [n, C, H, W], n <= size
        self.gen = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return 0 if self.images is None else len(self.images)

    @torch.no_grad()
    def query(self, x: torch.Tensor, half: bool = False) -> torch.Tensor:
        x = x.detach()
        if self.size == 0:
            return x
        out = x.clone()
        n = len(x)
        if len(self) < self.size:  # fill first
            take = min(self.size - len(self), n)
            self.images = x[:take].clone() if self.images is None else torch.cat([self.images, x[:take]])
            return out
        if half:
            pos = torch.randperm(n, generator=self.gen)[: n // 2]
            slots = torch.randint(self.size, (len(pos),), generator=self.gen)
            out[pos.to(x.device)] = self.images[slots.to(x.device)]
            self.images[slots.to(x.device)] = x[pos.to(x.device)]
            return out
        for i in range(n):
            if torch.rand((), generator=self.gen) < 0.5:
                slot = int(torch.randint(self.size, (), generator=self.gen))
                out[i] = self.images[slot]
                self.images[slot] = x[i]
        return out

    def state_dict(self) -> dict:
        return {"images": None if self.images is None else self.images.clone(), "gen": self.gen.get_state()}

    def load_state_dict(self, s: dict) -> None:
        self.images = None if s["images"] is None else s["images"].clone()
        self.gen.set_state(s["gen"])
