"""Typed, nested configs: each family's keys, flat and dotted overrides, the CLI's coercion, the
nested config.json and the flat one of earlier runs (the shipped model's among them)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from mri_gan import pretrained
from mri_gan.commands.sets import coerce, typed_sets
from mri_gan.config import MODELS, PRESETS, TrainConfig, differences, resolve
from mri_gan.errors import UserError
from mri_gan.models.dcgan_config import DCGANConfig
from mri_gan.models.pggan_config import PGGANConfig
from mri_gan.models.pix2pix_config import Pix2PixConfig
from mri_gan.paper_table import PAPER_FAMILY, PAPER_TABLE1

FAMILY = {"dcgan": DCGANConfig, "cdcgan": DCGANConfig, "pix2pix": Pix2PixConfig, "pggan": PGGANConfig}


@pytest.mark.parametrize("model", MODELS)
def test_only_the_active_family_is_held(model):
    cfg = resolve(model, "smoke", "synthetic")
    held = {name: getattr(cfg, name) for name in ("pix2pix", "dcgan", "pggan")}
    assert [type(v) for v in held.values() if v is not None] == [FAMILY[model]]
    assert cfg.family is next(v for v in held.values() if v is not None)
    assert set(cfg.to_dict()) & set(held) == {next(k for k, v in held.items() if v is not None)}


def test_flat_and_dotted_keys_set_the_same_field():
    flat = resolve("pix2pix", "smoke", "synthetic", {"unet_filters": 48, "hide_weights": [6, 1, 1], "context": 1})
    dotted = resolve("pix2pix", "smoke", "synthetic", {"pix2pix.unet_filters": 48, "pix2pix.hide_weights": [6, 1, 1],
                                                       "pix2pix.context": 1})
    assert flat == dotted
    assert (flat.pix2pix.unet_filters, flat.pix2pix.hide_weights, flat.pix2pix.context) == (48, [6.0, 1.0, 1.0], 1)
    with pytest.raises(UserError, match="pggan.start_size is for pggan, not pix2pix"):
        resolve("pix2pix", "smoke", "synthetic", {"pggan.start_size": 8})
    with pytest.raises(UserError, match="unknown config key 'dcgan.unet_filters'"):
        resolve("pix2pix", "smoke", "synthetic", {"dcgan.unet_filters": 8})
    with pytest.raises(UserError, match="unknown config key 'pix2pix.steps'"):
        resolve("pix2pix", "smoke", "synthetic", {"pix2pix.steps": 8})


def test_resolve_takes_typed_values_only():
    for key, value in [("steps", "2"), ("flip", "true"), ("hide_weights", "6,1,1"), ("lr_g", True),
                       ("unet_filters", 8.0), ("source", "t1")]:
        with pytest.raises(TypeError, match=key):
            resolve("pix2pix", "smoke", "synthetic", {key: value})
    cfg = resolve("pix2pix", "smoke", "synthetic", {"lr_g": 1, "steps": None, "dropout": 0})
    assert cfg.lr_g == 1.0 and isinstance(cfg.lr_g, float) and cfg.steps is None
    assert isinstance(cfg.pix2pix.dropout, float)


def test_the_cli_coerces_set_strings_by_the_field_type():
    typed = typed_sets("pix2pix", {"hide_weights": "6,1,1", "context": "1", "pix2pix.unet_filters": "48",
                                   "flip": "yes", "steps": "none", "source": "t1,t2", "unet_norm": "instance"})
    assert typed == {"hide_weights": [6.0, 1.0, 1.0], "context": 1, "pix2pix.unet_filters": 48, "flip": True,
                     "steps": None, "source": ["t1", "t2"], "unet_norm": "instance"}
    assert resolve("pix2pix", "smoke", "synthetic", typed).pix2pix.unet_filters == 48
    with pytest.raises(UserError, match="context='x' is not a valid int"):
        coerce("int", "x", "context")
    with pytest.raises(UserError, match="flip='maybe' is not a valid bool"):
        coerce("bool", "maybe", "flip")
    with pytest.raises(UserError, match="z_dim is for dcgan, cdcgan, pggan, not pix2pix"):
        typed_sets("pix2pix", {"z_dim": "8"})


@pytest.mark.parametrize("model", MODELS)
def test_config_json_is_nested_and_reads_back(tmp_path, model):
    cfg = resolve(model, "smoke", "synthetic")
    cfg.save(tmp_path / "config.json")
    saved = json.loads((tmp_path / "config.json").read_text())
    family = next(k for k in ("pix2pix", "dcgan", "pggan") if k in saved)
    assert saved[family] == dataclasses.asdict(cfg.family) and not set(saved[family]) & set(saved) - {family}
    assert TrainConfig.load(tmp_path / "config.json") == cfg


@pytest.mark.parametrize("model", MODELS)
def test_the_flat_config_of_earlier_runs_reads_as_the_nested_one(tmp_path, model):
    """Earlier runs saved every family's key at the top, those of other families at their defaults."""
    cfg = resolve(model, "smoke", "synthetic", {"steps": 3})
    old = {}
    for cls in (DCGANConfig, Pix2PixConfig, PGGANConfig):
        old.update(dataclasses.asdict(cls()))
    old.update(cfg.flat(), conditional=model == "cdcgan")
    (tmp_path / "config.json").write_text(json.dumps(old))
    assert TrainConfig.load(tmp_path / "config.json") == cfg
    with pytest.raises(UserError, match="unknown config key.s.: colour"):
        TrainConfig.from_dict({**old, "colour": "red"})
    nested = cfg.to_dict()
    family = next(k for k in ("pix2pix", "dcgan", "pggan") if k in nested)
    with pytest.raises(UserError, match="unknown config key.s.: colour"):
        TrainConfig.from_dict({**nested, family: {**nested[family], "colour": 1}})
    key = next(iter(nested[family]))
    with pytest.raises(UserError, match=f"{key} given both at the top and in {family}"):
        TrainConfig.from_dict({**nested, key: nested[family][key]})


@pytest.mark.skipif(not pretrained.available(), reason="the package holds no shipped model")
def test_the_shipped_flat_config_builds_the_shipped_generator():
    text = (pretrained.FOLDER / "config.json").read_text()
    flat = json.loads(text)
    assert "pix2pix" not in flat                                # the flat form, read as it is
    cfg = TrainConfig.load(pretrained.FOLDER / "config.json")
    assert {k: v for k, v in cfg.flat().items() if k in flat} == {k: flat[k] for k in cfg.flat() if k in flat}
    assert cfg.pix2pix.context == 0                              # written before context existed
    task = pretrained.load()
    with np.load(pretrained.FOLDER / pretrained.WEIGHTS) as stored:
        shipped = {k: stored[k] for k in stored.files}
    rebuilt = list(pretrained.stored_weights(task.generator).values())   # in variable order; layer names
    stored = [shipped[k] for k in sorted(shipped)]                          # carry a per-process counter
    assert len(rebuilt) == len(stored)
    assert all(np.array_equal(r, s) for r, s in zip(rebuilt, stored))
    assert (pretrained.FOLDER / "config.json").read_text() == text


def test_differences_name_flat_keys_budget_excepted():
    a = resolve("pix2pix", "smoke", "synthetic")
    b = resolve("pix2pix", "smoke", "synthetic", {"steps": 9, "unet_filters": 16, "lr_g": 0.1})
    assert differences(a, b) == ["lr_g", "unet_filters"]


@pytest.mark.parametrize("model", MODELS)
def test_the_paper_preset_is_table_1(model):
    cfg = resolve(model, "paper", "synthetic")
    row = PAPER_TABLE1[PAPER_FAMILY[model]]
    assert (cfg.batch_size, cfg.epochs, cfg.lr_d, cfg.lr_g) == (row["batch_size"], row["epochs"], row["lr_d"],
                                                                 row["lr_g"])
    assert set(PRESETS) == {"paper", "quick", "smoke"}


def test_conditional_follows_the_model():
    assert resolve("cdcgan", "smoke", "synthetic").conditional
    assert not resolve("dcgan", "smoke", "synthetic").conditional
    assert resolve("pggan", "smoke", "synthetic", {"conditional": True}).conditional
    with pytest.raises(UserError, match="conditional is for pggan, not dcgan"):
        resolve("dcgan", "smoke", "synthetic", {"conditional": True})
