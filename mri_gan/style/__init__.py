"""VGG19 style-transfer refinement of generated samples (the paper's "Style Transfer GAN")."""
