"""VGG19 style transfer: losses against hand-computed values, the feature network, the loop, weights
policy errors through the CLI, pretrain-vgg, stylize outputs and the notebook."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from conftest import ROOT
from network_harness import Network, check_network

from mri_gan.cli import main
from mri_gan.errors import UserError


@pytest.fixture(autouse=True)
def offline_keras(tmp_path_factory, monkeypatch):
    """An empty Keras cache and a download address that refuses at once: no test touches the network."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path_factory.mktemp("keras_home")))
    monkeypatch.setenv("MRI_GAN_VGG19_URL", "http://127.0.0.1:9/vgg19_notop.h5")


@pytest.fixture(scope="module")
def random_extractor():
    from mri_gan.style import vgg

    return vgg.feature_extractor("random")[0]


def _pairs(n, size=32, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    content = np.stack([np.sin(6 * xx + i) * np.cos(4 * yy) for i in range(n)])[..., None]
    style = rng.uniform(-1, 1, (n, size, size, 1))
    return content.astype(np.float32), style.astype(np.float32)


# --- pure losses ---------------------------------------------------------------------------

def test_gram_matrix_by_hand():
    from mri_gan.style.transfer import gram_matrix

    f = np.array([[[[1.0, 2.0], [3.0, 4.0]]]], np.float32)  # [1, 1, 2, 2]: positions (1,2) and (3,4)
    expected = np.array([[1 + 9, 2 + 12], [2 + 12, 4 + 16]]) / 2.0
    np.testing.assert_allclose(gram_matrix(f).numpy()[0], expected, rtol=1e-6)


def test_content_loss_by_hand():
    from mri_gan.style.transfer import content_loss

    target = np.array([[[[1.0, 1.0], [1.0, 3.0]]]], np.float32)
    value = np.array([[[[2.0, 1.0], [1.0, 1.0]]]], np.float32)
    # mean((v - t)^2) = (1 + 0 + 0 + 4) / 4, mean(t^2) = (1 + 1 + 1 + 9) / 4
    expected = (5 / 4) / (12 / 4)
    got = content_loss({"a": value}, {"a": target}).numpy()
    np.testing.assert_allclose(got, [expected], rtol=1e-5)


def test_style_loss_by_hand_averages_layers():
    from mri_gan.style.transfer import gram_matrix, style_loss

    f1 = np.array([[[[1.0, 0.0], [0.0, 1.0]]]], np.float32)   # G = [[.5, 0], [0, .5]]
    s1 = np.array([[[[1.0, 1.0], [1.0, 1.0]]]], np.float32)   # A = [[1, 1], [1, 1]]
    f2 = np.array([[[[2.0]]]], np.float32)                    # G = [[4]]
    s2 = np.array([[[[1.0]]]], np.float32)                    # A = [[1]]
    layer1 = ((0.5 ** 2 * 2 + 1 + 1) / 4) / 1.0
    layer2 = 9.0 / 1.0
    got = style_loss({"l1": f1, "l2": f2}, {"l1": gram_matrix(s1), "l2": gram_matrix(s2)}).numpy()
    np.testing.assert_allclose(got, [(layer1 + layer2) / 2], rtol=1e-5)


def test_tv_loss_by_hand():
    from mri_gan.style.transfer import tv_loss

    img = np.array([[0.0, 1.0], [2.0, 4.0]], np.float32)[None, ..., None]
    # |1-0| + |4-2| across, |2-0| + |4-1| down = 8, over 4 pixels
    np.testing.assert_allclose(tv_loss(img).numpy(), [2.0], rtol=1e-6)


def test_total_loss_weights_terms():
    from mri_gan.style.transfer import total_loss

    parts = {"content": np.float32(2.0), "style": np.float32(3.0), "tv": np.float32(5.0)}
    assert float(total_loss(parts, 1.0, 10.0, 0.1)) == pytest.approx(2 + 30 + 0.5)


# --- the feature network -------------------------------------------------------------------

def test_feature_network_has_average_pooling_only(random_extractor):
    import keras

    from mri_gan.style import vgg

    trunk = vgg.build_trunk()
    kinds = [type(layer).__name__ for layer in trunk.layers]
    assert "MaxPooling2D" not in kinds and kinds.count("AveragePooling2D") == 5
    assert [layer.name for layer in trunk.layers if isinstance(layer, keras.layers.Conv2D)] == list(vgg.CONV_LAYERS)
    assert not any(isinstance(layer, keras.layers.MaxPooling2D) for layer in random_extractor.layers)
    out = random_extractor(np.zeros((2, 32, 32, 1), np.float32))
    assert set(out) == set(vgg.STYLE_LAYERS + vgg.CONTENT_LAYERS)
    assert out["block5_conv2"].shape == (2, 2, 2, 512) and out["block1_conv1"].shape == (2, 32, 32, 64)


def test_gray_to_caffe_preprocessing():
    from mri_gan.style.vgg import CAFFE_MEAN_BGR, GrayToCaffe

    out = GrayToCaffe()(np.array([-1.0, 1.0], np.float32).reshape(1, 1, 2, 1)).numpy()[0, 0]
    np.testing.assert_allclose(out[0], -np.array(CAFFE_MEAN_BGR), rtol=1e-6)
    np.testing.assert_allclose(out[1], 255.0 - np.array(CAFFE_MEAN_BGR), rtol=1e-6)
    gray = Network(GrayToCaffe, {}, lambda rng: (rng.uniform(-1, 1, (2, 8, 8, 1)).astype(np.float32),),
                   (2, 8, 8, 3), float32_out=False)
    check_network(gray)


def test_imagenet_weights_from_keras_cache(tmp_path, monkeypatch):
    """A VGG19 no-top file in Keras's legacy format, where Keras caches it, loads unchanged."""
    import h5py
    import keras
    from keras.src.legacy.saving.legacy_h5_format import save_weights_to_hdf5_group

    from mri_gan.style import vgg

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    reference = keras.applications.VGG19(weights=None, include_top=False)
    (tmp_path / "models").mkdir()
    with h5py.File(tmp_path / "models" / vgg.IMAGENET_FILE, "w") as f:
        save_weights_to_hdf5_group(f, reference)
    model, info = vgg.feature_extractor("auto", layers=("block1_conv1",))
    assert info["weights"] == "imagenet" and info["requested"] == "auto"
    np.testing.assert_array_equal(model.get_layer("block1_conv1").get_weights()[0],
                                  reference.get_layer("block1_conv1").get_weights()[0])


# --- the loop ------------------------------------------------------------------------------

def test_optimisation_lowers_total_loss(random_extractor):
    from mri_gan.style.transfer import StyleTransfer

    content, style = _pairs(2)
    result = StyleTransfer(random_extractor).run(content, style, steps=8)
    total = result.history["total"]
    assert total.shape == (9, 2)
    assert (total[-1] < 0.8 * total[0]).all()
    assert result.history["content"][0].max() == pytest.approx(0.0, abs=1e-6)  # starts at the content
    assert result.images.min() >= -1.0 and result.images.max() <= 1.0


def test_lbfgs_lowers_total_loss(random_extractor):
    from mri_gan.style.transfer import StyleTransfer

    content, style = _pairs(1)
    result = StyleTransfer(random_extractor, optimizer="lbfgs").run(content, style, steps=5)
    assert result.history["total"].shape == (6, 1)
    assert result.history["total"][-1, 0] < result.history["total"][0, 0]


def test_batch_equals_pairs_one_by_one(random_extractor):
    from mri_gan.style.transfer import StyleTransfer, stylize

    content, style = _pairs(2, seed=1)
    loop = StyleTransfer(random_extractor)
    batched = stylize(loop, content, style, steps=3, batch_size=2)
    single = stylize(loop, content, style, steps=3, batch_size=1)
    np.testing.assert_allclose(batched.images, single.images, atol=1e-4)
    np.testing.assert_allclose(batched.history["total"], single.history["total"], rtol=1e-3, atol=1e-6)


def test_pairing():
    from mri_gan.style.transfer import pair_indices

    np.testing.assert_array_equal(pair_indices(5, 3, "index"), [0, 1, 2])
    with pytest.raises(UserError, match="index pairing"):
        pair_indices(2, 3, "index")
    random = pair_indices(10, 4, "random", seed=3)
    np.testing.assert_array_equal(random, pair_indices(10, 4, "random", seed=3))
    assert len(set(random.tolist())) == 4 and random.max() < 10
    assert pair_indices(2, 5, "random").max() < 2


def test_smooth_edges_softens_edges_only():
    from mri_gan.style.transfer import smooth_edges

    img = -np.ones((1, 32, 32, 1), np.float32)
    img[0, :, 16:] = 1.0
    np.testing.assert_array_equal(smooth_edges(img, 0.0), img)
    out = smooth_edges(img, 1.5)
    assert np.abs(np.diff(out[0, 10, :, 0])).max() < np.abs(np.diff(img[0, 10, :, 0])).max()
    np.testing.assert_allclose(out[0, :, :4], img[0, :, :4], atol=1e-4)  # flat far from the edge


# --- the CLI -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """content/: five 32x32 PNGs in a class sub-folder; style/: samples.npz of three images."""
    root = tmp_path_factory.mktemp("style_inputs")
    content, style = _pairs(5)
    (root / "content" / "a").mkdir(parents=True)
    for i, img in enumerate(content):
        cv2.imwrite(str(root / "content" / "a" / f"{i}.png"), np.round((img[..., 0] + 1) * 127.5).astype(np.uint8))
    (root / "style").mkdir()
    np.savez(root / "style" / "samples.npz", images=style[:3], labels=np.full(3, -1, np.int32))
    return root


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("mri-gan: error: ")
    return err[0]


def test_stylize_writes_all_outputs(inputs, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["stylize", "--content", str(inputs / "content"), "--style", str(inputs / "style"),
                 "--out", str(out), "--steps", "3", "--vgg-weights", "random", "--pairing", "index"])
    assert code == 0
    assert "VGG19 weights: random" in capsys.readouterr().out
    pngs = sorted((out / "stylized").glob("*.png"))
    assert len(pngs) == 3
    png = cv2.imread(str(pngs[0]), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint8 and png.shape == (32, 32)
    with np.load(out / "stylized.npz") as data:
        assert data["stylized"].shape == data["content"].shape == data["style"].shape == (3, 32, 32, 1)
        assert data["stylized"].dtype == np.float32 and np.abs(data["stylized"]).max() <= 1.0
        np.testing.assert_array_equal(data["content_index"], [0, 1, 2])
        assert data["loss_total"].shape == (4, 3)
    losses = json.loads((out / "losses.json").read_text())
    assert all(len(losses[n]) == 4 for n in ("content", "style", "tv", "total"))
    assert losses["total"][-1] < losses["total"][0]
    info = json.loads((out / "style_info.json").read_text())
    assert info["vgg"]["weights"] == "random" and info["steps"] == 3 and info["smooth_sigma"] == 0.0
    for fig in ("loss_curves.png", "before_after.png"):
        assert cv2.imread(str(out / fig)) is not None
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left
    # a non-empty --out is refused, nothing written
    assert main(["stylize", "--content", str(inputs / "content"), "--style", str(inputs / "style"),
                 "--out", str(out), "--vgg-weights", "random"]) == 2
    assert "not empty" in _error_line(capsys)


def test_stylize_run_with_generated_samples_of_pix2pix(inputs, tmp_path, capsys):
    from mri_gan.config import resolve

    run = tmp_path / "run"
    (run / "generated").mkdir(parents=True)
    resolve("pix2pix", "smoke").save(run / "config.json")
    (run / "model.json").write_text("{}")
    np.savez(run / "generated" / "samples.npz", images=_pairs(2)[1])
    out = tmp_path / "out"
    assert main(["stylize", "--content", str(inputs / "content"), "--run", str(run), "--out", str(out),
                 "--steps", "2", "--vgg-weights", "random", "--size", "16"]) == 0
    info = json.loads((out / "style_info.json").read_text())
    assert info["smooth_sigma"] == 1.0 and info["style"]["run_model"] == "pix2pix" and info["size"] == 16


def test_stylize_run_generates_when_it_has_no_samples(inputs, tmp_path, cli, capsys):
    run = tmp_path / "dcgan"
    cli("train", "--model", "dcgan", "--data", "phantom?subjects=4&size=32", "--preset", "smoke",
        "--set", "steps=1", "--out", run, check=0)
    out = tmp_path / "out"
    assert main(["stylize", "--content", str(inputs / "content"), "--run", str(run), "--n", "2", "--out", str(out),
                 "--steps", "1", "--vgg-weights", "random"]) == 0
    info = json.loads((out / "style_info.json").read_text())
    assert info["style"]["run_model"] == "dcgan" and info["style"]["count"] == 2 and info["smooth_sigma"] == 0.0
    assert len(list((out / "stylized").glob("*.png"))) == 2


def test_stylized_labels_come_from_the_generate_output(tmp_path):
    from mri_gan.style.output import style_labels

    np.savez(tmp_path / "samples.npz", images=np.zeros((3, 4, 4, 1)), labels=np.array([1, 0, 1]))
    labels = style_labels({"style": {"input": str(tmp_path)}}, np.array([2, 1, 1, 0]))
    assert labels.tolist() == [1, 0, 0, 1]
    assert style_labels({"style": {"input": str(tmp_path / "nowhere")}}, np.array([0])) is None


@pytest.mark.parametrize("weights, message", [
    ("imagenet", "ImageNet VGG19 weights are not in the Keras cache"),
    ("auto", "download failed"),
    ("mri", "no MRI VGG19 weights"),
    ("{tmp}/missing.weights.h5", "no such VGG19 weights file"),
    ("{tmp}/wrong.weights.h5", "block1_conv1 needs shape (3, 3, 3, 64), the file has (3, 3, 3, 8)"),
    ("{tmp}/legacy.h5", "Layer count mismatch"),
])
def test_weights_errors_are_one_line_exit_2(weights, message, inputs, tmp_path, capsys, monkeypatch):
    import keras

    monkeypatch.chdir(tmp_path)  # no saved_models/vgg19_mri here
    small = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(8, 3)])
    small.save_weights(tmp_path / "wrong.weights.h5")
    small.save(tmp_path / "legacy.h5")
    out = tmp_path / "out"
    code = main(["stylize", "--content", str(inputs / "content"), "--style", str(inputs / "style"),
                 "--out", str(out), "--steps", "1", "--vgg-weights", weights.format(tmp=tmp_path)])
    assert code == 2
    assert message in _error_line(capsys)
    assert not out.exists()


def test_offline_imagenet_through_the_program(inputs, tmp_path, cli):
    proc = cli("stylize", "--content", inputs / "content", "--style", inputs / "style", "--out", tmp_path / "o",
               "--vgg-weights", "imagenet", check=2, cwd=tmp_path,
               env={"KERAS_HOME": str(tmp_path / "keras"), "MRI_GAN_VGG19_URL": "http://127.0.0.1:9/x.h5"})
    lines = [line for line in proc.stderr.splitlines() if "error" in line.lower() or "Traceback" in line]
    assert len(lines) == 1 and lines[0].startswith("mri-gan: error: --vgg-weights: ImageNet")
    assert "--vgg-weights PATH" in lines[0] and "pretrain-vgg" in lines[0]


def test_pretrain_vgg_weights_are_accepted(inputs, tmp_path, capsys, monkeypatch):
    from mri_gan.style import vgg

    monkeypatch.chdir(tmp_path)
    assert main(["pretrain-vgg", "--data", "phantom?subjects=4", "--size", "32", "--steps", "3",
                 "--batch", "4"]) == 0
    folder = tmp_path / vgg.MRI_DIR
    described = json.loads((folder / vgg.MRI_INFO).read_text())
    assert described["format"] == vgg.MRI_FORMAT and described["steps"] == 3
    assert described["heads"]["sequence"] == ["t1", "t1ce", "t2", "flair"]
    assert set(described["val"]["accuracy"]) >= {"sequence"}
    model, info = vgg.feature_extractor("auto", layers=("block5_pool",))
    assert info["weights"] == "mri" and info["trained"]["data"] == "phantom?subjects=4"
    assert model(np.zeros((1, 32, 32, 1), np.float32))["block5_pool"].shape == (1, 1, 1, 512)
    assert vgg.feature_extractor(str(folder))[1]["weights"] == "mri"
    assert vgg.feature_extractor(str(folder / vgg.MRI_WEIGHTS))[1]["weights"] == "file"
    capsys.readouterr()
    assert main(["stylize", "--content", str(inputs / "content"), "--style", str(inputs / "style"),
                 "--out", "styled", "--steps", "2", "--vgg-weights", "mri"]) == 0
    assert json.loads((tmp_path / "styled" / "style_info.json").read_text())["vgg"]["weights"] == "mri"


def test_pretrain_vgg_refuses_a_source_without_heads(tmp_path, capsys):
    folder = tmp_path / "one_class" / "only"
    folder.mkdir(parents=True)
    for i in range(4):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((16, 16), 60 * i, np.uint8))
    assert main(["pretrain-vgg", "--data", str(tmp_path / "one_class"), "--size", "16", "--steps", "1",
                 "--out", str(tmp_path / "w")]) == 2
    assert "two or more classes or sequences" in _error_line(capsys)


@pytest.mark.slow
def test_notebook_runs_in_smoke_mode(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / "notebooks" / "04_style_transfer.ipynb", as_version=4)
    assert not any(cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")
    monkeypatch.setenv("MRI_GAN_SMOKE", "1")
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3  # loss curves, before/after, smoothing
