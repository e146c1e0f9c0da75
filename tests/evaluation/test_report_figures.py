"""Report figures say what they show: captions built from their columns, colour scales on error
maps, named rows and columns on training sample grids, labelled axes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mri_gan.evaluation import figures
from mri_gan.evaluation.evaluate import Evaluation


@pytest.fixture
def drawn(monkeypatch):
    """The matplotlib figures drawn (not saved)."""
    out = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: out.append(fig) or path)
    return out


def _images(n: int, value: float) -> np.ndarray:
    return np.full((n, 8, 8), value, np.float32)


def _titles(fig) -> list[str]:
    return [ax.get_title() for ax in fig.axes if ax.get_title()]


def test_grid6_caption_names_every_column(drawn, tmp_path):
    gen = Evaluation("cdcgan", {"run": {"model": "cdcgan"}}, {},
                     {"content": _images(3, 0), "style": _images(3, 1), "stylized": _images(3, -1)})
    par = Evaluation("pix2pix", {"run": {"model": "pix2pix"}}, {},
                     {"source": _images(2, 0), "prediction": _images(2, 1), "stylized": _images(2, -1)})
    _, caption = figures.fig_grid6([gen, par], tmp_path / "g.png")
    columns = _titles(drawn[0])
    assert len(columns) == 6 and f"{len(columns)} columns: " + " | ".join(columns) in caption
    _, caption = figures.fig_grid6([gen], tmp_path / "h.png")
    assert "3 columns: real (cdcgan) | cDCGAN | cDCGAN + style" in caption


def test_error_maps_have_a_colour_scale(drawn, tmp_path):
    a = {"source": _images(2, 0), "prediction": _images(2, 0.5), "target": _images(2, -0.5)}
    _, caption = figures.fig_paired_examples(Evaluation("p", {"run": {"model": "pix2pix"}}, {}, a), tmp_path / "e.png")
    fig = drawn[0]
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 1 and "|synthesized - real|" in bars[0].get_ylabel()
    errors = [ax.get_images()[0] for ax in fig.axes if ax.get_images() and ax.get_images()[0].get_cmap().name
              == figures.ERROR_MAP]
    assert len(errors) == 2 and np.allclose(errors[0].get_array(), 1.0) and errors[0].get_clim() == (0.0, 1.0)
    assert caption.endswith("and |Pix2Pix - real target| with its colour scale")


def _run_with_grid(tmp_path, model: str, grid: np.ndarray, labels=()) -> Evaluation:
    run = tmp_path / model
    (run / "samples").mkdir(parents=True)
    cv2.imwrite(str(run / "samples" / "step_0000100.png"), grid)
    return Evaluation(model, {"run": {"model": model, "dir": str(run), "label_names": list(labels)}}, {}, {})


def test_training_samples_name_rows_and_columns(drawn, tmp_path):
    grid = np.zeros((2 * 8, 8 * 8), np.uint8)
    ev = _run_with_grid(tmp_path, "cdcgan", grid, ("no_tumor", "tumor"))
    _, caption = figures.fig_training_samples(ev, tmp_path / "s.png")
    assert [ax.get_ylabel() for ax in drawn[0].axes if ax.get_ylabel()] == ["no_tumor", "tumor"]
    assert "at step 100" in caption and "one row per class of 8 samples" in caption

    tiles = np.zeros((3 * 8, 4 * 8), np.uint8)
    tiles[:, 24:] = 64                      # |error| 64 / 127.5 on the [-1, 1] scale
    ev = _run_with_grid(tmp_path, "pix2pix", tiles)
    _, caption = figures.fig_training_samples(ev, tmp_path / "p.png")
    fig = drawn[1]
    assert _titles(fig)[:4] == ["input", "synthesized", "real target", "|error|"]
    assert any(ax.get_label() == "<colorbar>" for ax in fig.axes)
    errors = [ax.get_images()[0] for ax in fig.axes if ax.get_images()
              and ax.get_images()[0].get_cmap().name == figures.ERROR_MAP]
    assert len(errors) == 3 and np.allclose(errors[0].get_array(), 64 / 127.5)
    assert "one validation slice per row" in caption


def test_no_training_samples_no_figure(tmp_path):
    ev = Evaluation("g", {"run": {"model": "dcgan", "dir": str(tmp_path / "gone")}}, {}, {})
    assert figures.fig_training_samples(ev, tmp_path / "x.png") is None


def test_feature_projection_axes_are_named(drawn, tmp_path):
    a = {"hist_real": np.ones(4), "hist_synthetic": np.ones(4), "proj_real": np.zeros((5, 2)),
         "proj_synthetic": np.ones((5, 2))}
    ev = Evaluation("g", {"run": {"model": "dcgan"}, "distribution": {"feature_network": "vgg19-mri"}}, {}, a)
    _, caption = figures.fig_distribution(ev, tmp_path / "d.png")
    labels = [(ax.get_xlabel(), ax.get_ylabel()) for ax in drawn[0].axes]
    assert ("principal component 1", "principal component 2") in labels
    assert "vgg19-mri features" in caption and "synthetic + style" not in caption


def test_the_subjects_legend_sits_outside_the_bars(drawn, tmp_path):
    row = {"per_subject": {"s1": {"ssim": 0.5, "psnr": 20.0}, "s2": {"ssim": 0.6, "psnr": 21.0}}}
    ev = Evaluation("p", {"run": {"model": "pix2pix"}, "paired": dict(row, baselines={"identity": row})}, {}, {})
    _, caption = figures.fig_paired_subjects(ev, tmp_path / "b.png")
    fig = drawn[0]
    assert len(fig.legends) == 1 and not any(ax.get_legend() for ax in fig.axes)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["model", "identity"]
    assert caption.endswith("each trivial baseline (identity)")
