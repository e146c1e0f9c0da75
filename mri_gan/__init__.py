"""mri_gan: synthesize missing brain-MRI sequences and balance tumour datasets with GANs."""

__version__ = "0.1.0"

from mri_gan.errors import UserError  # noqa: E402

__all__ = ["UserError", "__version__"]
