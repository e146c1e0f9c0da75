"""The paper's Table 1 (Chithra & Dhivya) as printed: the one place its numbers are written.

The ``paper`` training preset takes its hyper-parameters from here; reports print it beside ours.
"""

#: Table 1 per model family, as printed
PAPER_TABLE1 = {
    "DCGAN": {"batch_size": 120, "epochs": 3750, "lr_d": 1e-4, "lr_g": 2e-4, "optimizer": "Adam",
              "d_loss": 4.2999, "g_loss": 8.2126, "paper_accuracy": [87.5, 95.6]},
    "Pix2Pix": {"batch_size": 80, "epochs": 2000, "lr_d": 1e-4, "lr_g": 2e-4, "optimizer": "Adam",
                "d_loss": 3.8712, "g_loss": 6.5682, "paper_accuracy": [89.02, 93.7]},
    "Progressive GAN": {"batch_size": 100, "epochs": 2500, "lr_d": 1e-4, "lr_g": 2e-4, "optimizer": "Adam",
                        "d_loss": 7.988, "g_loss": 9.128, "paper_accuracy": [83, 92.8]},
}
#: the Table 1 column of each model
PAPER_FAMILY = {"dcgan": "DCGAN", "cdcgan": "DCGAN", "pix2pix": "Pix2Pix", "pggan": "Progressive GAN"}
#: Table 1's training hyper-parameters (the rest are its results)
HYPER_PARAMETERS = ("batch_size", "epochs", "lr_d", "lr_g")
