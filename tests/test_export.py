"""SavedModel export: layout and atomicity, signatures as TF Serving reads them, parity in a
fresh process without mri_gan, input refusals, uint8 variants, inference from an export."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
import tensorflow as tf
from conftest import ROOT, make_slices

from mri_gan import export, serving
from mri_gan.cli import main
from mri_gan.config import resolve
from mri_gan.data.preprocess import to_uint8
from mri_gan.data.records import SEQUENCES
from mri_gan.errors import UserError
from mri_gan.inference import load_task
from mri_gan.models.imputation import imputation_input
from mri_gan.training.trainer import Trainer

#: export name -> (model, config overrides); every one is a smoke run trained in-process
RUNS = {
    "dcgan": ("dcgan", {}),
    "cdcgan": ("cdcgan", {}),
    "pix2pix": ("pix2pix", {"source": ["t1", "t2"], "target": "flair"}),
    "impute": ("pix2pix", {"target": "any"}),
    # stops mid fade-in to 16 px of a 32 px model: alpha and the upsampling to 32 px are exported
    "pggan": ("pggan", {"steps": 4, "image_size": 32, "images_per_stage": 16}),
}
TOL = 1e-5


@pytest.fixture(scope="module")
def data():
    return make_slices(subjects=6, per_subject=3, size=32)


@pytest.fixture(scope="module")
def built(tmp_path_factory, data):
    """name -> (run dir, task restored from the run, export version folder)."""
    root = tmp_path_factory.mktemp("export")
    out = {}
    for name, (model, overrides) in RUNS.items():
        cfg = resolve(model, "smoke", "synthetic", {"steps": 1, "val_every": 0, "sample_every": 100,
                                                    **overrides})
        run = root / "runs" / name
        Trainer(cfg, run, data=data, progress=False).fit()
        folder = export.export_run(run, root / "saved_models" / name)
        out[name] = (run, load_task(run), folder)
    return out


def generative_case(task, n=5, seed=3):
    z = task.noise(np.random.default_rng(seed), n)
    labels = (np.arange(n, dtype=np.int32) + 1) % task.num_classes if task.num_classes else None
    return z, labels


def source_case(data, task):
    images = data.images[:5]
    return images[..., [SEQUENCES.index(s) for s in task.sources]]


def impute_case(data):
    given = np.array([[1, 0, 1, 0], [0, 1, 1, 1], [1, 1, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0]], bool)
    return data.images[:5] * given[:, None, None, :], given


def expected_impute(task, images, given):
    out = task.generator(tf.constant(imputation_input(images, given)), training=False).numpy()
    g = given[:, None, None, :].astype(np.float32)
    return images * g + out * (1 - g)


def test_layout_versions_and_metadata(built, tmp_path):
    run, task, folder = built["cdcgan"]
    assert folder.name == "1" and (folder / "saved_model.pb").is_file()
    info = json.loads((folder / "assets" / "metadata.json").read_text())
    assert info["config"] == task.cfg.to_dict()
    assert info["sequences"] == ["t1"] and info["image_size"] == 32
    assert info["label_names"] == task.meta["label_names"] and info["num_classes"] == 2
    assert "[-1, 1]" in info["normalisation"] and info["value_range"] == [-1.0, 1.0]
    assert info["noise"] == {"distribution": "uniform", "z_dim": 16, "low": -1.0, "high": 1.0}
    assert set(info["signatures"]) == {"serving_default", "generate", "generate_uint8", "sample"}
    assert info["signatures"]["generate"]["inputs"]["label"] == {
        "dtype": "int32", "shape": [-1], "meaning": info["signatures"]["generate"]["inputs"]["label"]["meaning"]}
    second = export.export_run(run, folder.parent)
    assert second.name == "2"
    chosen = export.export_run(run, folder.parent, version=7)
    assert chosen.name == "7" and export.export_run(run, folder.parent).name == "8"
    assert sorted(p.name for p in folder.parent.iterdir()) == ["1", "2", "7", "8"]   # no temporaries
    assert serving.export_dir(folder.parent) == folder.parent / "8"
    pg = json.loads((built["pggan"][2] / "assets" / "metadata.json").read_text())
    assert pg["noise"]["distribution"] == "normal" and pg["growth"] == {"level": 1, "alpha": 0.5, "resolution": 16}


def test_existing_version_is_a_one_line_error(built, capsys):
    run, _, folder = built["dcgan"]
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*")}
    code = main(["export", "--run", str(run), "--out", str(folder.parent), "--version", "1"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "version exists already" in err
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*")} == before
    with pytest.raises(UserError, match="not a run directory"):
        export.export_run(folder.parent, folder.parent.parent / "other")
    with pytest.raises(UserError, match="is a SavedModel version folder"):
        export.export_run(run, folder)


def test_failed_export_leaves_nothing(built, tmp_path, monkeypatch):
    import keras

    run, _, folder = built["pix2pix"]
    archive = type(keras.export.ExportArchive())   # the backend's class
    original = archive.write_out

    def broken(self, path, *args, **kwargs):
        original(self, path, *args, **kwargs)   # a complete SavedModel in the temporary folder ...
        raise OSError("disk full")               # ... then a failure before the rename

    monkeypatch.setattr(archive, "write_out", broken)
    before = sorted(p.relative_to(folder.parent) for p in folder.parent.rglob("*"))
    with pytest.raises(OSError, match="disk full"):
        export.export_run(run, folder.parent)
    assert sorted(p.relative_to(folder.parent) for p in folder.parent.rglob("*")) == before
    with pytest.raises(OSError):
        export.export_run(run, tmp_path / "fresh" / "model")
    assert not (tmp_path / "fresh").exists()


def test_saved_model_cli_lists_static_signatures(built):
    cli = Path(sys.executable).parent / "saved_model_cli"
    shown = {}
    for name in ("cdcgan", "impute"):
        proc = subprocess.run([str(cli), "show", "--all", "--dir", str(built[name][2])],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        shown[name] = proc.stdout
    for name, sig in [("cdcgan", "serving_default"), ("cdcgan", "generate"), ("cdcgan", "generate_uint8"),
                      ("cdcgan", "sample"), ("impute", "serving_default"), ("impute", "impute_uint8")]:
        assert f"signature_def['{sig}']" in shown[name]
    block = shown["cdcgan"].split("signature_def['generate_uint8']")[1].split("signature_def[")[0]
    assert "inputs['z']" in block and "inputs['label']" in block and "DT_INT32" in block
    assert "outputs['image']" in block and "DT_UINT8" in block and "shape: (-1, 32, 32, 1)" in block
    block = shown["impute"].split("signature_def['serving_default']")[1].split("signature_def[")[0]
    assert "DT_BOOL" in block and "shape: (-1, 4)" in block and "shape: (-1, 32, 32, 4)" in block
    assert "DT_INVALID" not in block and "unknown_rank" not in block


def test_fresh_process_without_mri_gan_reproduces_outputs(built, data, tmp_path):
    plan, arrays, expected = [], {}, {}

    def ask(name, signature, inputs, outputs):
        i = len(plan)
        plan.append([str(built[name][2]), signature, {k: f"{i}.{k}" for k in inputs}])
        arrays.update({f"{i}.{k}": v for k, v in inputs.items()})
        expected.update({f"{i}/{k}": v for k, v in outputs.items()})

    for name in ("dcgan", "cdcgan", "pggan"):
        task = built[name][1]
        z, labels = generative_case(task)
        images = task.generate(z, labels)
        cycled = np.arange(len(z)) % task.num_classes if task.num_classes else None
        ask(name, "serving_default", {"z": z}, {"image": task.generate(z, cycled)})
        ask(name, "generate", {"z": z, **({"label": labels} if task.num_classes else {})}, {"image": images})
        ask(name, "generate_uint8", {"z": z, **({"label": labels} if task.num_classes else {})},
            {"image": to_uint8(images)})
        zs = tf.random.stateless_uniform if name != "pggan" else tf.random.stateless_normal
        z4 = zs([4, task.cfg.family.z_dim], tf.constant([9, 0], tf.int64), **({"minval": -1.0, "maxval": 1.0}
                                                                        if name != "pggan" else {})).numpy()
        ask(name, "sample", {"n": np.int32(4), "seed": np.int64(9)},
            {"z": z4, "image": task.generate(z4, np.arange(4) % task.num_classes if task.num_classes else None)})
    task = built["pix2pix"][1]
    source = source_case(data, task)
    reference = task.translate(data.images[:5], data.available[:5], "flair")
    ask("pix2pix", "serving_default", {"source": source}, {"image": reference[..., None]})
    u8 = to_uint8(source)
    ask("pix2pix", "translate_uint8", {"source": u8},
        {"image": to_uint8(task.generator(tf.constant(u8 / 255.0 * 2 - 1, tf.float32), training=False).numpy())})
    task = built["impute"][1]
    images, given = impute_case(data)
    ask("impute", "serving_default", {"image": images, "available": given},
        {"image": expected_impute(task, images, given)})

    np.savez(tmp_path / "inputs.npz", **arrays)
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    script = textwrap.dedent("""
        import json, sys
        import numpy as np, tensorflow as tf
        plan = json.load(open("plan.json"))
        arrays = np.load("inputs.npz")
        loaded, out = {}, {}
        for i, (path, signature, inputs) in enumerate(plan):
            model = loaded.setdefault(path, tf.saved_model.load(path))
            result = model.signatures[signature](**{k: tf.constant(arrays[v]) for k, v in inputs.items()})
            out.update({f"{i}/{k}": v.numpy() for k, v in result.items()})
        assert not [m for m in sys.modules if m.split(".")[0] == "mri_gan"]
        np.savez("outputs.npz", **out)
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = np.load(tmp_path / "outputs.npz")
    for key, want in expected.items():
        have = got[key]
        assert have.shape == want.shape, key
        if want.dtype == np.uint8:
            assert have.dtype == np.uint8 and np.abs(have.astype(int) - want).max() <= 1, key
            assert np.mean(have != want) < 0.01, key
        else:
            assert np.abs(have - want).max() <= TOL, key
    for i, (path, _, _) in enumerate(plan):   # labels of serving_default and sample
        if f"{i}/label" in got:
            n = len(got[f"{i}/image"])
            task = built[Path(path).parent.name][1]
            want = np.arange(n) % task.num_classes if task.num_classes else -np.ones(n)
            assert np.array_equal(got[f"{i}/label"], want)


def serve_raw(folder, signature, **inputs):
    """Run a signature the way TF Serving does: the graph loaded by the SavedModel loader and raw
    tensors fed to the signature's placeholders with no client-side shape check (the Python
    Session.run check is bypassed on purpose)."""
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as sess:
        meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], str(folder))
        sig = meta.signature_def[signature]
        feeds = {graph.get_tensor_by_name(sig.inputs[k].name)._as_tf_output(): v for k, v in inputs.items()}
        keys = sorted(sig.outputs)
        fetch = [graph.get_tensor_by_name(sig.outputs[k].name)._as_tf_output() for k in keys]
        return dict(zip(keys, sess._call_tf_sessionrun(None, feeds, fetch, [], None)))


def test_serving_path_answers_and_refuses_bad_inputs(built, data):
    folder = built["pix2pix"][2]
    task = built["pix2pix"][1]
    x = source_case(data, task)
    got = serve_raw(folder, "serving_default", source=x)["image"]
    assert np.abs(got[..., 0] - task.translate(data.images[:5], data.available[:5], "flair")).max() <= TOL
    bad = {"channels": (x[..., :1], r"source: expected shape \[N, 32, 32, 2\]; got \[5,32,32,1\]"),
           "rank": (x[0], r"source: expected shape \[N, 32, 32, 2\]; got \[32,32,2\]"),
           "size": (x[:, :16, :16], r"got \[5,16,16,2\]"),
           "range": (x * 255, r"source: float values must lie in \[-1, 1\]")}
    for value, message in bad.values():
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            serve_raw(folder, "serving_default", source=np.ascontiguousarray(value))
    with pytest.raises(tf.errors.InvalidArgumentError, match="to be float but uint8"):
        serve_raw(folder, "serving_default", source=to_uint8(x))
    cfolder = built["cdcgan"][2]
    z = np.zeros((3, 16), np.float32)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"label: class indices must lie in \[0, 2\)"):
        serve_raw(cfolder, "generate", z=z, label=np.array([0, 1, 2], np.int32))
    with pytest.raises(tf.errors.InvalidArgumentError, match="z, label: batch sizes differ"):
        serve_raw(cfolder, "generate", z=z, label=np.array([0, 1], np.int32))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"z: expected shape \[N, 16\]; got \[3,8\]"):
        serve_raw(cfolder, "serving_default", z=np.zeros((3, 8), np.float32))
    ifolder = built["impute"][2]
    images, given = impute_case(data)
    given[1] = False
    with pytest.raises(tf.errors.InvalidArgumentError, match="every row needs at least one given sequence"):
        serve_raw(ifolder, "serving_default", image=images, available=given)


def test_adapter_refuses_with_user_errors(built, data):
    gen = serving.load_export(built["cdcgan"][2].parent)
    with pytest.raises(UserError, match=r"generate: z must be \[N, 16\] float32; got \[3, 8\] float32"):
        gen.call("generate", z=np.zeros((3, 8), np.float32), label=np.zeros(3, np.int32))
    with pytest.raises(UserError, match="generate takes label, z"):
        gen.call("generate", z=np.zeros((3, 16), np.float32))
    tr = serving.load_export(built["pix2pix"][2])
    with pytest.raises(UserError, match=r"source must be \[N, 32, 32, 2\] float32; got \[5, 32, 32, 2\] uint8"):
        tr.call("serving_default", source=to_uint8(source_case(data, tr)))
    with pytest.raises(UserError, match="this model needs t1, t2; missing: t2"):
        tr.translate(data.images[:2], [True, False, False, False], "flair")
    with pytest.raises(UserError, match="not an exported model"):
        serving.load_export(built["pix2pix"][0])


def test_uint8_variants_and_inference_mode(built, data):
    gen = serving.load_export(built["cdcgan"][2])
    task = load_task(built["cdcgan"][0])   # a copy: a training-mode call updates its moving statistics
    z, labels = generative_case(task)
    floats = gen.call("generate", z=z, label=labels)["image"]
    assert np.array_equal(gen.call("generate_uint8", z=z, label=labels)["image"], to_uint8(floats))
    # batch norm in inference mode: the moving statistics, not the batch's
    trained = task.generator(tf.constant(z), tf.constant(labels), training=True).numpy()
    assert np.abs(floats - trained).max() > 1e-3
    imp = serving.load_export(built["impute"][2])
    images, given = impute_case(data)
    u8 = imp.call("impute_uint8", image=to_uint8(images), available=given)["image"]
    f = imp.impute(to_uint8(images) / 255.0 * 2 - 1, given)
    assert np.abs(u8.astype(int) - to_uint8(f)).max() <= 1
    first, again = imp.impute(images, given), imp.impute(images, given)   # dropout off: deterministic
    assert np.array_equal(first, again)
    g = given[:, None, None, :]
    assert np.array_equal(np.where(g, first, 0), np.where(g, images, 0))   # given sequences pass through


def test_generate_and_synthesize_accept_an_export(built, tmp_path):
    run, _, folder = built["cdcgan"]
    for source, out in [(run, "from_run"), (folder.parent, "from_export")]:
        assert main(["generate", "--run", str(source), "--n", "6", "--label", "tumor", "--seed", "4",
                     "--out", str(tmp_path / out)]) == 0
    a, b = np.load(tmp_path / "from_run" / "samples.npz"), np.load(tmp_path / "from_export" / "samples.npz")
    assert np.abs(a["images"] - b["images"]).max() <= TOL and np.array_equal(a["labels"], b["labels"])
    assert sorted(os.listdir(tmp_path / "from_export" / "tumor")) == [f"{i:05d}.png" for i in range(6)]

    run, task, folder = built["pix2pix"]
    slices = make_slices(subjects=1, per_subject=3, size=40, seed=5)
    for seq in ("t1", "t2"):
        (tmp_path / seq).mkdir()
        for k, image in enumerate(slices.channels([seq])[..., 0]):
            cv2.imwrite(str(tmp_path / seq / f"s{k}.png"), to_uint8(image))
    for source, out in [(run, "syn_run"), (folder, "syn_export")]:
        assert main(["synthesize", "--run", str(source), "--input", f"t1={tmp_path / 't1'}",
                     f"t2={tmp_path / 't2'}", "--target", "flair", "--out", str(tmp_path / out)]) == 0
    for k in range(3):
        a = cv2.imread(str(tmp_path / "syn_run" / f"s{k}.png"), cv2.IMREAD_UNCHANGED)
        b = cv2.imread(str(tmp_path / "syn_export" / f"s{k}.png"), cv2.IMREAD_UNCHANGED)
        assert a.shape == (40, 40) and np.abs(a.astype(int) - b).max() <= 1


def test_example_request_script(built, tmp_path):
    run, task, folder = built["cdcgan"]
    z, labels = generative_case(task, n=3)
    body = {"signature_name": "generate",
            "instances": [{"z": row.tolist(), "label": int(lab)} for row, lab in zip(z, labels)]}
    (tmp_path / "rows.json").write_text(json.dumps(body))
    script = ROOT / "examples" / "serving_request.py"
    proc = subprocess.run([sys.executable, str(script), str(folder.parent), "--body", str(tmp_path / "rows.json"),
                           "--out", str(tmp_path / "rows_out.json")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"v1/models/{folder.parent.name}:predict" in proc.stdout
    predictions = np.array(json.loads((tmp_path / "rows_out.json").read_text())["predictions"], np.float32)
    assert np.abs(predictions - task.generate(z, labels)).max() <= TOL
    proc = subprocess.run([sys.executable, str(script), str(built["impute"][2]), "--format", "inputs",
                           "--signature", "impute_uint8", "--save-body", str(tmp_path / "cols.json"),
                           "--out", str(tmp_path / "cols_out.json")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sent = json.loads((tmp_path / "cols.json").read_text())
    assert set(sent["inputs"]) == {"image", "available"} and sent["signature_name"] == "impute_uint8"
    answer = np.array(json.loads((tmp_path / "cols_out.json").read_text())["outputs"])
    image, given = np.array(sent["inputs"]["image"], np.uint8), np.array(sent["inputs"]["available"])
    assert answer.shape == image.shape
    assert np.array_equal(np.where(given[:, None, None, :], answer, 0), np.where(given[:, None, None, :], image, 0))


def test_notebook_runs_in_smoke_mode(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / "notebooks" / "06_export_serving.ipynb", as_version=4)
    assert not any(cell.get("outputs") for cell in nb.cells if cell.cell_type == "code")
    monkeypatch.setenv("MRI_GAN_SMOKE", "1")
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "\n".join(o.get("text", "") for cell in nb.cells for o in cell.get("outputs", []))
    diffs = re.findall(r"(generate|translate): max \|run - export\| = (\S+)", text)
    assert [d[0] for d in diffs] == ["generate", "translate"] and all(float(d[1]) <= TOL for d in diffs)
    assert "rows == columns: True" in text
    assert "source: expected shape [N, 32, 32, 1]; got [1,32,32,2]" in text
