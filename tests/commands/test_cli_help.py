"""Every sub-command of `mri-gan` tells a user what it does, shows an example and explains every option."""

from __future__ import annotations

import argparse

import pytest

from mri_gan.cli import build_parser


def sub_parsers(parser: argparse.ArgumentParser, prefix=()):
    """(command words, parser) of every leaf sub-command below ``parser``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from sub_parsers(sub, prefix + (name,))
            return
    yield prefix, parser


COMMANDS = list(sub_parsers(build_parser()))


def test_the_program_describes_itself_to_a_user(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    text = capsys.readouterr().out
    assert "Synthesize missing brain-MRI sequences" in text and "argument parsing" not in text
    assert len(COMMANDS) >= 15


@pytest.mark.parametrize("words, parser", COMMANDS, ids=[" ".join(w) for w, _ in COMMANDS])
def test_every_command_has_a_description_an_example_and_help_on_every_option(words, parser):
    assert parser.description and "\n" not in parser.description.strip(), words
    assert parser.epilog and parser.epilog.startswith("example"), words
    assert isinstance(parser.formatter_class, type) and issubclass(parser.formatter_class,
                                                                  argparse.RawDescriptionHelpFormatter)
    for line in parser.epilog.splitlines()[1:]:
        assert line.strip().startswith("mri-gan " + " ".join(words)), line
    for action in parser._actions:
        if not isinstance(action, argparse._HelpAction):
            assert action.help, f"mri-gan {' '.join(words)}: {action.dest} has no help"
    assert parser.format_help()
