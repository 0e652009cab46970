"""gankit: Generative Adversarial Networks from Goodfellow et al. (2014) to the lineage people use."""

from gankit.errors import UserError

__version__ = "0.1.0"

__all__ = ["UserError", "__version__"]
