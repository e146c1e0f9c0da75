"""Sub-commands of `mri-gan`, one module each (see mri_gan.cli)."""

from mri_gan.commands import (
    balance,
    data,
    demo,
    evaluate,
    export,
    fill,
    generate,
    launch_local,
    pretrain_vgg,
    pretrained,
    report,
    stylize,
    synthesize,
    train,
)

COMMANDS = [data, train, generate, balance, launch_local, stylize, pretrain_vgg, export, pretrained, synthesize,
            fill, evaluate, report, demo]
