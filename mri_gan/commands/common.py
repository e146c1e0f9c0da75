"""What several sub-commands share: a parser with a description and examples, shared options, and
the command line that produced an output."""

from __future__ import annotations

import argparse
import shlex

CHECKPOINT_HELP = "the run's best checkpoint by validation (default; the newest where it kept none) or its newest"
FEATURE_HELP = ("feature network of FID / KID / precision / recall: auto (inception when its ImageNet weights "
                "are cached, else vgg19-mri when MRI VGG19 weights exist, else classifier), inception, "
                "vgg19-mri, classifier (default auto)")
VGG_HELP = ("VGG19 weights for running the style loop here when --stylized is not given: auto (ImageNet in "
            "the Keras cache, else saved_models/vgg19_mri, else skip), imagenet, mri, PATH, or none")


def add_parser(subparsers, name: str, help: str, description: str, examples: tuple[str, ...]):
    """A sub-command's parser: ``help`` in the list of commands, ``description`` (one line) and
    ``examples`` (command lines) in its own --help."""
    return subparsers.add_parser(name, help=help, description=description,
                                 epilog="example" + ("s" if len(examples) > 1 else "") + ":\n"
                                        + "\n".join(f"  {line}" for line in examples),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)


def _add(parser, flag: str, help: str, **options) -> None:
    """``flag``, required unless ``options`` give a default (None for an optional one)."""
    parser.add_argument(flag, **({"required": True} if "default" not in options else {}), **options, help=help)


def add_output(parser, help: str, replaces: str = "an existing --out", **out) -> None:
    """``--out`` (required unless ``out`` gives a default) and ``--overwrite`` (replace ``replaces``):
    nothing saved is replaced without it."""
    _add(parser, "--out", help, **out)
    parser.add_argument("--overwrite", action="store_true", help=f"replace {replaces}")


def add_run(parser, help: str, **options) -> None:
    """``--run`` (a run directory or what stands for one), required unless ``options`` give a default."""
    _add(parser, "--run", help, **options)


def add_data(parser, help: str, **options) -> None:
    """``--data`` (a data source string), required unless ``options`` give a default."""
    _add(parser, "--data", help, **options)


def add_seed(parser, of: str) -> None:
    """``--seed``, 0 by default: the seed of ``of``."""
    parser.add_argument("--seed", type=int, default=0, help=f"seed of {of} (default 0)")


def add_checkpoint(parser) -> None:
    parser.add_argument("--checkpoint", default="best", choices=("best", "latest"), help=CHECKPOINT_HELP)


def add_sampling_options(parser, run: str, out: str, seed_of: str) -> None:
    """What a command that samples a generative run takes: ``--run``, ``--seed`` (of ``seed_of``)
    and add_output's ``--out`` / ``--overwrite``."""
    add_run(parser, run)
    add_seed(parser, seed_of)
    add_output(parser, out)


def add_evaluation_options(parser) -> None:
    """Options shared by `evaluate` and `report` (beside add_output's)."""
    parser.add_argument("--feature-network", default="auto", choices=("auto", "inception", "vgg19-mri", "classifier"),
                        help=FEATURE_HELP)
    parser.add_argument("--budget", default="small", choices=("smoke", "small", "full"),
                        help="synthetic images, style iterations, classifier epochs and seeds (default small)")
    parser.add_argument("--vgg-weights", default="auto", help=VGG_HELP)
    add_seed(parser, "sampling, style pairing and classifiers")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bars (predictions, features, classifiers, style transfer)")


def command_line(name: str, args) -> str:
    """The command line of a parsed ``mri-gan NAME`` invocation, defaults spelled out: the command
    that produced an output."""
    parts = ["mri-gan", name]
    for key, value in vars(args).items():
        if key in ("func", "command") or value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            parts.append(flag)
        elif isinstance(value, (list, tuple)):
            parts += [flag, *map(str, value)]
        else:
            parts += [flag, str(value)]
    return " ".join(shlex.quote(p) for p in parts)
