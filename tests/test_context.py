"""2.5-D input (``context``): neighbour rows, the channel layout per task and context, training
batches and inference reading the same neighbours, the linear base unaffected, synthesis of
volumes and the refusals (thin volumes, 2-D slices, a bad context)."""

import json

import numpy as np
import pytest
from conftest import make_slices
from make_data import gray_u8, write_image, write_nifti

from mri_gan.commands.sets import typed_sets
from mri_gan.config import resolve
from mri_gan.data import context
from mri_gan.data.records import SEQUENCES
from mri_gan.errors import UserError
from mri_gan.models.pix2pix import Pix2Pix
from mri_gan.synthesis import synthesize_volume, task_translator


def small_task(target="any", **sets):
    typed = typed_sets("pix2pix", {k: str(v) for k, v in sets.items()})
    cfg = resolve("pix2pix", "smoke", "synthetic", {"target": target, **typed})
    task = Pix2Pix(cfg, {})
    task.build()
    return task


@pytest.fixture(scope="module")
def data():
    return make_slices(subjects=3, per_subject=5, size=32)


def test_neighbour_rows_stay_in_the_subject_in_slice_order_and_repeat_the_edges():
    subjects = np.array(["b", "a", "a", "b", "a", "a"])
    index = np.array([7, 3, 1, 5, 2, 9])        # a: rows 2 (1), 4 (2), 1 (3), 5 (9, after a gap); b: 3 (5), 0 (7)
    rows = context.neighbour_rows(subjects, index, 2)
    assert context.offsets(2) == [-2, -1, 1, 2]
    np.testing.assert_array_equal(rows[2], [2, 2, 4, 1])      # first slice of a: itself below
    np.testing.assert_array_equal(rows[1], [2, 4, 5, 5])      # third of a: the gap bridged, the end repeated
    np.testing.assert_array_equal(rows[5], [4, 1, 5, 5])
    np.testing.assert_array_equal(rows[0], [3, 3, 0, 0])      # b has two slices
    assert context.neighbour_rows(subjects, index, 0).shape == (6, 0)


def test_with_context_appends_each_neighbours_channels_in_offset_order(data):
    stack = data.with_context(1, [0, 4])
    assert stack.shape == (2, 32, 32, 12)
    rows = data.neighbours(1)
    for n, row in enumerate([0, 4]):
        np.testing.assert_array_equal(stack[n, ..., :4], data.images[row])
        np.testing.assert_array_equal(stack[n, ..., 4:8], data.images[rows[row, 0]])
        np.testing.assert_array_equal(stack[n, ..., 8:], data.images[rows[row, 1]])
        assert data.slice_index[rows[row, 0]] <= data.slice_index[row] <= data.slice_index[rows[row, 1]]
    np.testing.assert_array_equal(data.with_context(0, [3]), data.images[[3]])
    assert context.block_channels([0, 2], 4, 1) == [0, 2, 4, 6, 8, 10]


# the input channel table: (target, sources) -> (inputs of one slice, per neighbour)
CHANNELS = {("any", "t1"): (8, 4), ("flair", "t1"): (1, 1), ("flair", "t1,t2"): (2, 2)}


@pytest.mark.parametrize("k", [0, 1, 2])
@pytest.mark.parametrize("target,sources", list(CHANNELS))
def test_channel_table_for_batches_and_inference(data, k, target, sources):
    task = small_task(target, source=sources, context=k)
    own, per_neighbour = CHANNELS[(target, sources)]
    assert task.in_channels == own + 2 * k * per_neighbour
    batch = task.make_batch(data, np.arange(6), np.random.default_rng(0))
    assert batch["cond"].shape == (6, 32, 32, task.in_channels)
    assert batch["target"].shape == (6, 32, 32, 4 if target == "any" else 1)
    out = task.translate(data.with_context(k, np.arange(3)), data.available[0], "flair")
    assert out.shape == (3, 32, 32) and np.isfinite(out).all()


def test_imputation_batch_reads_the_neighbours_and_hides_in_them_what_the_slice_hides(data):
    task = small_task("any", context=1)
    index = np.array([0, 5, 7, 14])
    batch = task.make_batch(data, index, np.random.default_rng(1))
    hidden = batch["weight"].astype(bool)
    given = batch["cond"][:, 0, 0, 4:8].astype(bool)
    assert not (hidden & given).any() and hidden.any(axis=1).all()
    expected = data.with_context(1, index) * np.tile(given, 3)[:, None, None, :]
    np.testing.assert_allclose(batch["cond"][..., :4], expected[..., :4])
    np.testing.assert_allclose(batch["cond"][..., 8:], expected[..., 4:])
    np.testing.assert_allclose(batch["target"], data.images[index])


def test_translation_batch_takes_the_sources_of_every_slice_block(data):
    task = small_task("flair", source="t2,t1", context=1)
    index = np.array([2, 9])
    batch = task.make_batch(data, index, np.random.default_rng(2))
    stack = data.with_context(1, index)
    order = [SEQUENCES.index("t2"), SEQUENCES.index("t1")]
    np.testing.assert_allclose(batch["cond"], stack[..., [b * 4 + c for b in range(3) for c in order]])
    np.testing.assert_allclose(batch["target"][..., 0], data.images[index, ..., SEQUENCES.index("flair")])


def test_warp_and_flip_move_the_neighbours_with_the_slice(data):
    sets = dict(flip="true", rotate=20, zoom=0.1)
    deep = small_task("flair", source="t1", context=1, **sets)
    flat = small_task("flair", source="t1", context=0, **sets)
    row = 7
    below, above = data.neighbours(1)[row]
    index = np.full(3, row)
    batch = deep.make_batch(data, index, np.random.default_rng(5))
    for block, r in enumerate((row, below, above)):    # the draws of a 2-D task from the same seed
        alone = flat.make_batch(data, np.full(3, r), np.random.default_rng(5))
        np.testing.assert_allclose(batch["cond"][..., block], alone["cond"][..., 0], atol=1e-5)
    assert not np.allclose(batch["cond"][..., 0], data.images[index, ..., 0], atol=1e-2)   # warped


@pytest.mark.parametrize("target,sources", [("any", "t1"), ("flair", "t1,t2")])
def test_the_linear_base_reads_the_slice_alone(data, target, sources):
    """Untrained (the last layers start at zero), a 2.5-D generator with a linear base predicts
    what the 2-D one does: the base reads the slice's own channels and flags, not its neighbours."""
    flat, deep = (small_task(target, source=sources, context=k, linear_base="true", unet_input_skip="true")
                  for k in (0, 2))
    flat.initialise(data)
    deep.initialise(data)
    np.testing.assert_allclose(deep.generator.base.table.numpy(), flat.generator.base.table.numpy())
    have = np.array([True, False, True, True])
    rows = np.arange(6)
    np.testing.assert_allclose(deep.translate(data.with_context(2, rows), have, "flair"),
                               flat.translate(data.images[rows], have, "flair"), atol=1e-5)


def test_translate_refuses_slices_without_their_neighbours(data):
    task = small_task("any", context=1)
    with pytest.raises(UserError, match="reads 3 axial slice"):
        task.translate(data.images[:2], data.available[0], "t2")


@pytest.mark.parametrize("k", [-1, 5])
def test_context_out_of_range_is_refused(k):
    with pytest.raises(UserError, match="context"):
        resolve("pix2pix", "smoke", "synthetic", {"target": "any", "context": k})


def volumes(slices: int, size: int = 24) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size] / size
    brain = ((xx - 0.5) ** 2 + (yy - 0.5) ** 2 < 0.15)[..., None] * np.ones(slices, bool)
    return {s: (brain * (100 + 50 * i + 20 * rng.standard_normal(brain.shape))).astype(np.float32)
            for i, s in enumerate(("t1", "t2", "flair"))}


def test_volume_synthesis_gives_each_slice_its_neighbours(data, monkeypatch):
    task = small_task("any", context=1)
    translator = task_translator(task)
    assert translator.context == 1
    seen = []
    original = task.translate

    def spy(images, available, target, sample=False):
        seen.append(images)
        return original(images, available, target, sample)

    monkeypatch.setattr(task, "translate", spy)
    result = synthesize_volume(volumes(6), np.eye(4), "t1ce", task_translator(task))
    stack = np.concatenate(seen)
    assert stack.shape[-1] == 12 and len(stack) == 6 == result.slices
    np.testing.assert_array_equal(stack[1:, ..., 4:8], stack[:-1, ..., :4])    # below = the previous slice
    np.testing.assert_array_equal(stack[:-1, ..., 8:], stack[1:, ..., :4])     # above = the next one
    np.testing.assert_array_equal(stack[0, ..., 4:8], stack[0, ..., :4])       # the edges repeat
    assert np.isfinite(result.volume).all()


def test_a_volume_thinner_than_the_context_is_refused(data):
    translator = task_translator(small_task("any", context=2))
    with pytest.raises(UserError, match="needs at least 5"):
        synthesize_volume(volumes(4), np.eye(4), "t1ce", translator)


@pytest.mark.parametrize("target,sources", [("any", "t1"), ("flair", "t1,t2")])
def test_an_export_of_a_2_5d_model_takes_the_same_stacks_and_answers_the_same(data, tmp_path, target, sources):
    from mri_gan import export, serving

    task = small_task(target, source=sources, context=1)
    loaded = serving.load_export(export.write_export(task, tmp_path / "model"))
    assert loaded.context == 1 and loaded.info["context"] == 1
    stack, have = data.with_context(1, np.arange(4)), np.array([True, False, True, True])
    np.testing.assert_allclose(loaded.translate(stack, have, "flair"), task.translate(stack, have, "flair"),
                               atol=1e-5)
    with pytest.raises(UserError, match="reads 3 axial slice"):
        loaded.translate(data.images[:2], have, "flair")


def test_a_2_5d_run_trains_and_synthesizes_volumes_and_refuses_what_has_no_neighbours(cli, tmp_path):
    from mri_gan.training.trainer import Trainer

    run = tmp_path / "run"
    Trainer(resolve("pix2pix", "smoke", "phantom?subjects=4&size=32&slices=3", {"target": "any", "context": 1}),
            run, progress=False).fit()
    assert json.loads((run / "config.json").read_text())["pix2pix"]["context"] == 1
    validated = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert np.isfinite([e["val_ssim"] for e in validated if "val_ssim" in e]).all()
    case = tmp_path / "case"
    for seq in ("t1", "t2", "flair"):
        write_nifti(case / f"c1_{seq}.nii.gz", volumes(5)[seq])
    out = tmp_path / "t1ce.nii.gz"
    cli("synthesize", "--run", run, "--input", case, "--target", "t1ce", "--out", out, check=0)
    assert out.is_file()
    thin = tmp_path / "thin"
    for seq in ("t1", "t2"):
        write_nifti(thin / f"c2_{seq}.nii.gz", volumes(5)[seq][..., :2])
    proc = cli("synthesize", "--run", run, "--input", thin, "--target", "flair", "--out", tmp_path / "x.nii.gz",
               check=2)
    assert "needs at least 3" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    folder = tmp_path / "slices"
    write_image(folder / "a.png", gray_u8())
    proc = cli("synthesize", "--run", run, "--input", f"t1={folder}", "--target", "flair", "--out", tmp_path / "png",
               check=2)
    assert "no axial neighbours" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.nii.gz").exists() and not (tmp_path / "png").exists()
