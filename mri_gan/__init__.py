"""mri_gan: synthesize missing brain-MRI sequences and balance tumour datasets with GANs."""

from mri_gan.errors import UserError

__version__ = "0.1.0"

__all__ = ["UserError", "__version__"]
