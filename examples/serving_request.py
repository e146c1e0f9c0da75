"""Build a TF Serving REST request for an exported mri_gan model and answer it locally.

    python examples/serving_request.py saved_models/NAME [--signature serving_default]
        [--format instances|inputs] [--batch 2] [--body request.json] [--save-body request.json]
        [--out response.json]

The body is what you would POST to ``http://HOST:8501/v1/models/NAME:predict`` (row format
``{"instances": [...]}`` or columnar ``{"inputs": {...}}``). Without ``--body`` one is made from
``assets/metadata.json``: random inputs of the declared shapes and dtypes. The script then
decodes the body the way TF Serving does (row format: each named input stacked over the
instances; columnar: each input as given), runs the signature of the SavedModel loaded with
``tf.saved_model.load`` and prints TF Serving's response: ``{"predictions": [...]}`` (one per
instance) or ``{"outputs": {...}}``. Only TensorFlow and NumPy are used, no mri_gan code.
Signatures with scalar inputs (``sample(n, seed)``) need the columnar format.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def version_folder(path: Path) -> Path:
    """The model folder's newest numbered version (or the version folder itself)."""
    if (path / "saved_model.pb").is_file():
        return path
    versions = [p for p in path.iterdir() if p.name.isdigit() and (p / "saved_model.pb").is_file()]
    if not versions:
        sys.exit(f"{path}: no SavedModel version folder here")
    return max(versions, key=lambda p: int(p.name))


def example_body(metadata: dict, signature: str, form: str, batch: int, seed: int = 0) -> dict:
    """A request body with random inputs of the shapes and dtypes ``metadata`` declares."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for name, spec in metadata["signatures"][signature]["inputs"].items():
        shape = [batch if d == -1 else d for d in spec["shape"]]
        if spec["dtype"] == "float32":
            value = rng.uniform(-1, 1, shape)
        elif spec["dtype"] == "uint8":
            value = rng.integers(0, 256, shape)
        elif spec["dtype"] == "bool":
            value = rng.random(shape) < 0.5
            if value.ndim == 2:
                value[:, 0] = True  # at least one given sequence per row
        elif name == "label":
            value = rng.integers(0, max(metadata.get("num_classes", 1), 1), shape)
        elif name == "n":
            value = np.array(batch)
        else:
            value = np.array(seed)
        inputs[name] = value.tolist()
    if form == "inputs":
        return {"signature_name": signature, "inputs": inputs}
    if any(np.ndim(v) == 0 for v in inputs.values()):
        sys.exit(f"{signature} has scalar inputs: use --format inputs")
    return {"signature_name": signature,
            "instances": [{k: v[i] for k, v in inputs.items()} for i in range(batch)]}


def decode(body: dict, fn) -> dict:
    """Tensors for the signature from a REST body, as TF Serving builds them."""
    import tensorflow as tf

    specs = fn.structured_input_signature[1]
    if "instances" in body:
        rows = body["instances"]
        if not isinstance(rows[0], dict):     # a single-input signature may list bare values
            (only,) = specs
            rows = [{only: r} for r in rows]
        columns = {k: [r[k] for r in rows] for k in specs}
    else:
        columns = body["inputs"] if isinstance(body["inputs"], dict) else {next(iter(specs)): body["inputs"]}
    missing = set(specs) - set(columns)
    if missing:
        sys.exit(f"request lacks input(s) {', '.join(sorted(missing))}")
    return {k: tf.constant(np.asarray(columns[k]), dtype=specs[k].dtype) for k in specs}


def answer(body: dict, loaded) -> dict:
    """TF Serving's response to a predict request."""
    name = body.get("signature_name", "serving_default")
    fn = loaded.signatures[name]
    outputs = {k: v.numpy().tolist() for k, v in fn(**decode(body, fn)).items()}
    if "instances" in body:
        n = len(body["instances"])
        rows = [{k: v[i] for k, v in outputs.items()} for i in range(n)]
        return {"predictions": [next(iter(r.values())) for r in rows] if len(outputs) == 1 else rows}
    return {"outputs": next(iter(outputs.values())) if len(outputs) == 1 else outputs}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="saved_models/NAME (or one version folder)")
    parser.add_argument("--signature", default="serving_default")
    parser.add_argument("--format", choices=["instances", "inputs"], default="instances")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--body", type=Path, help="a request body (JSON) to answer instead of a made-up one")
    parser.add_argument("--save-body", type=Path, help="write the request body here (for curl)")
    parser.add_argument("--out", type=Path, help="write the response here (default: print a summary)")
    args = parser.parse_args(argv)

    import tensorflow as tf

    folder = version_folder(args.model)
    metadata = json.loads((folder / "assets" / "metadata.json").read_text())
    body = (json.loads(args.body.read_text()) if args.body
            else example_body(metadata, args.signature, args.format, args.batch))
    response = answer(body, tf.saved_model.load(str(folder)))
    if args.save_body:
        args.save_body.write_text(json.dumps(body))
    if args.out:
        args.out.write_text(json.dumps(response))
    name = args.model.resolve().name if args.model.resolve().name != folder.name else folder.parent.name
    print(f"curl -d @{args.save_body or 'request.json'} http://localhost:8501/v1/models/{name}:predict")
    print(f"request: {json.dumps(body)[:200]}...")
    key = "predictions" if "predictions" in response else "outputs"
    shape = np.shape(response[key]) if not isinstance(response[key], dict) else \
        {k: np.shape(v) for k, v in response[key].items()}
    print(f"response: {key} {shape}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
