"""The report as a document: a list of blocks (headings, paragraphs, tables, figures) written both
as Markdown (figures as files) and as HTML (figures embedded as base64), so the two say the same.

Every number printed comes from metrics.json, already rounded there (``tables.clean``) and printed
with ``tables.fmt``; the flags (``flags.flags``) open the document, one table line each.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path

from mri_gan.evaluation.classifiers import DOWNSTREAM_DEFINITIONS, TWO_SAMPLE_DEFINITION
from mri_gan.evaluation.figures import REPORT_FIGURES, RUN_FIGURES
from mri_gan.evaluation.tables import PAPER_DIGITS, fmt, interval, lookup, percent
from mri_gan.training.runtime import describe


@dataclass
class Picture:
    """A PNG made by another command, shown in a section of its own after the summary (its heading,
    text and caption are kept in metrics.json's ``figures``)."""

    key: str
    path: Path
    heading: str
    text: str
    caption: str


# ------------------------------------------------------------------------------ blocks

def _runs_section(name: str, m: dict, figures: dict) -> list:
    blocks = [("h", 2, f"Run {name}")]
    run, data = m["run"], m["data"]
    tr = run["training"]
    blocks.append(("ul", [f"run directory `{run['dir']}`, model {run['model']}, task: {run['task']}",
                          f"evaluated on `{data['source']}` at {fmt(data['image_size'])} px "
                          f"({fmt(data['slices'])} slices; split subjects: "
                          + ", ".join(f"{k} {fmt(v)}" for k, v in data["subjects"].items()) + ")",
                          f"trained {fmt(tr['steps_trained'])} steps, {fmt(tr['epochs_trained'])} epochs "
                          f"(evaluated checkpoint {run.get('checkpoint')}); "
                          f"last D loss {fmt(tr.get('last_d_loss'))}, last G loss {fmt(tr.get('last_g_loss'))}",
                          f"trained with {describe(run.get('runtime', []))}",
                          f"command: `{m['command']}`"]))
    if "paired" in m:
        blocks += _paired_blocks(m)
    else:
        blocks += _generative_blocks(m)
    blocks += _style_blocks(m)
    for key, *_ in RUN_FIGURES:
        if (name, key) in figures:
            blocks.append(("fig", *figures[name, key]))
    return blocks


def _paired_blocks(m: dict) -> list:
    p = m["paired"]
    lesion = "lesion_contrast" in p
    keys = ("ssim", "psnr", "mae", "nmse") + (("lesion_contrast",) if lesion else ())

    def row(name, r):
        return [name, *(fmt(r.get(k)) for k in keys), fmt(r["subjects"])]

    rows = [row("model", p)]
    styled = lookup(m, "with_style", "paired")
    if styled:
        rows.append(row("model + style", styled))
    for name, r in (p.get("baselines") or {}).items():
        rows.append(row(f"baseline: {name}", r))
    blocks = [("h", 3, f"Paired fidelity: {p['task']}"),
              ("p", f"Per test subject, then mean ± std over subjects; {p['split']}; intensities {p['scale']}, "
                    f"inside the brain mask: {fmt(p['masked'])}."),
              ("table", ["", "SSIM", "PSNR (dB)", "MAE", "NMSE", *(["lesion contrast"] if lesion else []),
                         "subjects"], rows)]
    if p.get("targets"):
        blocks.append(("p", "Per imputed sequence (the others given), beside the baselines fitted for "
                            "that sequence; brain, then inside the tumour mask:"))
        for seq, t in p["targets"].items():
            blocks.append(("table", [f"{seq} from {' + '.join(t.get('given', []))}", "SSIM", "PSNR (dB)",
                                     "MAE", "tumour SSIM", "tumour PSNR (dB)", "lesion contrast"],
                           [_region_row(name, r) for name, r in
                            {"model": t, **(t.get("baselines") or {})}.items()]))
            blocks += _case_blocks(f"{seq}, per case", t.get("cases"))
            blocks += _subject_blocks(seq, t)
    blocks += _case_blocks("per case", p.get("cases"))
    spreads = {seq: t["uncertainty"] for seq, t in (p.get("targets") or {}).items() if t.get("uncertainty")}
    if p.get("uncertainty"):
        spreads[p["task"]] = p["uncertainty"]
    if spreads:
        blocks += [("p", "Uncertainty (test-time spread) against the error, inside the brain:"),
                   ("table", ["synthesis", "Spearman", "mean |error| by spread fifth (lowest first)",
                              "top / bottom fifth", "mean spread"],
                    [[seq, fmt(u["spearman"]), " / ".join(fmt(v) for v in u["error_by_spread_fifth"]),
                      fmt(u["top_over_bottom"]), fmt(u["mean_spread"])] for seq, u in spreads.items()])]
    if p.get("below_baseline") or (styled or {}).get("below_baseline"):
        blocks.append(("p", "**The model is below a trivial baseline** in the comparisons listed, one a line, "
                            "among the flags at the top."))
    elif p.get("baselines"):
        blocks.append(("p", "The model beats every trivial baseline on every metric."))
    baselines = p.get("baselines") or {}
    definitions = dict(p["definitions"], **{f"baseline {k}": r["definition"] for k, r in baselines.items()})
    blocks.append(("ul", [f"{k}: {v}" for k, v in definitions.items()]))
    return blocks


def _generative_blocks(m: dict) -> list:
    style = m.get("with_style", {})
    blocks = [("h", 3, "Distribution against the held-out real slices")]
    dist = m["distribution"]
    if "skipped" in dist:
        blocks.append(("p", f"Not computed: {dist['skipped']}"))
    else:
        network = dist["feature_network"]
        header = ["", "FID", "KID", "precision", "recall", "density", "coverage", "real / synthetic images"]
        rows = []
        for label, d in (("synthetic", dist), ("synthetic + style", style.get("distribution")),
                         ("real training images (copy of the training set)", m.get("distribution_reference"))):
            if d and "fid" in d:
                rows.append([label, fmt(d["fid"]), fmt(d["kid"]), fmt(d["precision"]), fmt(d["recall"]),
                             fmt(d["density"]), fmt(d["coverage"]), f"{fmt(d['n_real'])} / {fmt(d['n_fake'])}"])
        blocks += [("p", f"Feature network: **{network}** ({dist['definitions']['feature_network']}); k = "
                         f"{fmt(dist['k'])} neighbours; {m['split']}."),
                   ("table", header, rows),
                   ("ul", [f"{k}: {v}" for k, v in dist["definitions"].items() if k != "feature_network"]
                    + [f"real training images row: {m['distribution_reference'].get('definition', '')}",
                       f"synthetic images: {m['synthetic']['definition']}"])]
    blocks.append(("h", 3, "Two-sample test (realism)"))
    rows = []
    for label, t in (("synthetic", m["two_sample"]), ("synthetic + style", style.get("two_sample"))):
        if t and "accuracy" in t:
            rows.append([label, fmt(t["accuracy"]), interval(t), fmt(t.get("p_value")),
                         fmt(t.get("train_accuracy")), fmt(t["realism"]), fmt(t["n_train_per_class"]),
                         fmt(t["n_test_per_class"])])
        elif t:
            rows.append([label, "—", "—", "—", "—", "—", "—", f"not computed: {t.get('skipped')}"])
    blocks += [("table", ["", "accuracy", "95 % interval", "p (accuracy > 0.5)", "training accuracy", "realism",
                          "train images per class", "test images per class"], rows),
               ("p", TWO_SAMPLE_DEFINITION + ".")]
    blocks.append(("h", 3, "Downstream tumour classifier"))
    classes = m["classes"]
    blocks.append(("p", "Classes no_tumor / tumor; training split " + " / ".join(
        fmt(classes["train"][c]) for c in ("no_tumor", "tumor")) + " slices, held-out test " + " / ".join(
        fmt(classes["held_out"][c]) for c in ("no_tumor", "tumor")) + f" slices; seeds {fmt(m['budget']['seeds'])}."))
    rows = []
    for label, source in (("", m.get("downstream", {})), (" + style", style.get("downstream", {}))):
        for mode, d in source.items():
            if label and mode == "real":
                continue
            name = {"real": "(a) real only", "real+synthetic": "(b) real + synthetic",
                    "synthetic": "(c) synthetic only"}[mode] + label
            if "skipped" in d:
                rows.append([name, "—", "—", "—", "—", "—", f"not computed: {d['skipped']}"])
            else:
                names = classes["downstream"]
                added = " / ".join(f"{names[int(c)]} {fmt(n)}" for c, n in d["synthetic_added"].items()) or "—"
                rows.append([name, *(fmt(d[k]) for k in ("accuracy", "balanced_accuracy", "f1", "roc_auc")),
                             fmt(d["n_train"]), added])
    blocks += [("table", ["training set", "accuracy", "balanced accuracy", "F1", "ROC AUC", "training images",
                          "synthetic added per class"], rows),
               ("ul", [f"{k}: {v}" for k, v in DOWNSTREAM_DEFINITIONS.items()])]
    return blocks


def _style_blocks(m: dict) -> list:
    s = m.get("style", {})
    if not s.get("applied"):
        return [("p", f"Style transfer: not applied ({s.get('reason', 'no stylized images')}).")]
    vgg = s.get("vgg", {})
    items = [f"source: {s.get('source')}", f"what it does: {s.get('definition')}",
             f"VGG19 weights: {vgg.get('weights')} ({vgg.get('file') or 'no file'})",
             f"iterations: {fmt(s.get('steps'))}"]
    caveat = ("The stylized image starts from the real source slice (the model's input): compare the rows with "
              "style to the identity baseline, which copies that input." if "paired" in m else
              "With the paper's pairing every stylized image starts from a real training-split slice: where the "
              "\"synthetic + style\" rows come close to the \"real training images\" row, the style step kept "
              "its real content and says little about the generator.")
    return [("h", 3, "Style transfer"), ("ul", items), ("p", caveat)]


def _case_blocks(title: str, cases: dict | None) -> list:
    """The BraSyn-style per-case table (volume sources), or nothing."""
    if not cases:
        return []
    keys = ("ssim_tumour", "ssim_healthy", "psnr", "mse")
    return [("p", f"BraSyn-style figures, {title} (mean ± std over {cases['model']['cases']} cases; "
                  "definition \"brasyn\" below):"),
            ("table", ["", "SSIM tumour", "SSIM healthy", "PSNR (dB)", "MSE"],
             [[name, *(fmt(r.get(k)) for k in keys)] for name, r in cases.items()])]


def _subject_blocks(seq: str, t: dict) -> list:
    """Per subject: the model's SSIM and PSNR beside the baseline best on that metric over all
    subjects (which subject decides a mean), or nothing without baselines."""
    baselines = t.get("baselines") or {}
    if not baselines or len(t["per_subject"]) < 2:
        return []
    best = {k: max(baselines, key=lambda n: baselines[n][k]["mean"]) for k in ("ssim", "psnr")}
    rows = []
    for subject, r in t["per_subject"].items():
        row = [subject]
        for k in ("ssim", "psnr"):
            b = baselines[best[k]]["per_subject"].get(subject, {}).get(k)
            row += [fmt(r[k]), fmt(b), fmt(None if b is None else r[k] - b)]
        rows.append(row)
    return [("p", f"{seq} per subject, beside the best baseline on each metric ({best['ssim']} for SSIM, "
                  f"{best['psnr']} for PSNR):"),
            ("table", ["subject", "SSIM", "baseline SSIM", "margin", "PSNR (dB)", "baseline PSNR", "margin (dB)"],
             rows)]


def _region_row(name: str, r: dict) -> list:
    """A table row: SSIM, PSNR, MAE in the brain, SSIM and PSNR inside the tumour, lesion contrast."""
    tumour = r.get("tumour") or {}
    return [name, *(fmt(r.get(k)) for k in ("ssim", "psnr", "mae")),
            *(fmt(tumour.get(k)) for k in ("ssim", "psnr")), fmt(r.get("lesion_contrast"))]


def summary(name: str, m: dict) -> str:
    """One sentence per run with its headline numbers."""
    w = m.get("with_style", {})
    if "paired" in m:
        p = m["paired"]
        text = (f"**{name}** ({p['task']}): SSIM {fmt(p['ssim']['mean'])}, PSNR {fmt(p['psnr']['mean'])} dB "
                f"over {fmt(p['subjects'])} test subjects")
        rows = p.get("baselines") or {}
        if rows:
            best = max(rows, key=lambda k: rows[k]["ssim"]["mean"])
            text += (f"; best trivial baseline {best}: SSIM {fmt(rows[best]['ssim']['mean'])}, PSNR "
                     f"{fmt(rows[best]['psnr']['mean'])} dB — "
                     + ("**below a baseline**" if p["below_baseline"] else "above every baseline"))
        if w:
            text += f"; with style transfer SSIM {fmt(w['paired']['ssim']['mean'])}"
        return text + "."
    parts = [f"**{name}** ({m['run']['task']})"]
    t, d = m["two_sample"], m["distribution"]
    if "accuracy" in t:
        parts.append(f"a real-vs-synthetic classifier is right {percent(t['accuracy'])} of the time (realism "
                     f"{percent(t['realism'])}; its 95 % interval is in the two-sample table)")
    if "fid" in d:
        ref = m.get("distribution_reference", {})
        parts.append(f"FID {fmt(d['fid'])} ({d['feature_network']} features; real training images score "
                     f"{fmt(ref.get('fid'))}), precision {fmt(d['precision'])} / recall {fmt(d['recall'])}")
    down = m.get("downstream", {})
    scores = [f"{label} {percent(down[mode]['balanced_accuracy']['mean'])}" for mode, label in
              (("real", "(a) real"), ("real+synthetic", "(b) real + synthetic"), ("synthetic", "(c) synthetic"))
              if "balanced_accuracy" in down.get(mode, {})]
    if scores:
        parts.append("tumour classifier balanced accuracy " + ", ".join(scores))
    if "two_sample" in w and "accuracy" in w["two_sample"]:
        parts.append(f"with style transfer the real-vs-synthetic classifier is right "
                     f"{percent(w['two_sample']['accuracy'])} of the time")
    return "; ".join(parts) + "."


def _flag_blocks(flags: list[dict]) -> list:
    """The flags table, or a line saying there is none."""
    if not flags:
        return [("h", 2, "Flags"), ("p", "No figure below is flagged: none falls in a case where it means little "
                                         "(see metrics.json's flags_definition).")]
    return [("h", 2, "Flags: figures that mean little"),
            ("table", ["run", "figure", "why it means little"],
             [[f["run"] or "all", f["figure"], f["flag"]] for f in flags])]


def build_blocks(runs: dict[str, dict], table: dict, command: str, figures: dict, flags: list[dict],
                 pictures: list = ()) -> list:
    """The whole document: title, flags, summary, ``pictures`` (blocks of other commands' pictures),
    Table 1, the report's figures, then one section per run."""
    names = ", ".join(runs)
    blocks = [("h", 1, f"mri_gan evaluation: {names}"),
              ("p", f"Made by `{command}`. Every number below is in metrics.json beside its definition."),
              *_flag_blocks(flags),
              ("h", 2, "In short"),
              ("ul", [summary(name, m) for name, m in runs.items()]),
              *pictures,
              ("h", 2, "Table 1, side by side with the paper"),
              ("p", table["definition"] + "."),
              ("table", ["", *(c["title"] for c in table["columns"])],
               [[r["label"], *(fmt(r["cells"][c["key"]], PAPER_DIGITS if c["key"].startswith("paper:") else 4)
                               for c in table["columns"])] for r in table["rows"]]),
              ("ul", [f"{r['label']}: {r['definition']}" for r in table["rows"]])]
    for key, *_ in REPORT_FIGURES:
        if ("", key) in figures:
            blocks.append(("fig", *figures["", key]))
    for name, m in runs.items():
        blocks += _runs_section(name, m, figures)
    return blocks


def _inline(text: str) -> str:
    """Markdown inline code and bold to HTML (everything else escaped)."""
    out, parts = [], text.split("`")
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"<code>{html.escape(part)}</code>")
        else:
            bold = html.escape(part).split("**")
            out.append("".join(f"<strong>{b}</strong>" if j % 2 else b for j, b in enumerate(bold)))
    return "".join(out)


def _md_cell(value) -> str:
    """A Markdown table cell: the value as text, its pipes escaped."""
    return str(value).replace("|", "\\|")


def to_markdown(blocks: list, root: Path) -> str:
    lines = []
    for block in blocks:
        kind = block[0]
        if kind == "h":
            lines += ["#" * block[1] + " " + block[2], ""]
        elif kind == "p":
            lines += [block[1], ""]
        elif kind == "ul":
            lines += [f"- {item}" for item in block[1]] + [""]
        elif kind == "table":
            header, rows = block[1], block[2]
            lines += ["| " + " | ".join(_md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows] + [""]
        elif kind == "fig":
            lines += [f"![{block[2]}]({block[1].relative_to(root).as_posix()})", "", f"*{block[2]}*", ""]
    return "\n".join(lines)


STYLE = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
         "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}td,th{border:1px solid #ccc;padding:4px 8px;"
         "text-align:left;vertical-align:top}th{background:#f3f3f3}code{background:#f5f5f5;padding:1px 3px}"
         "figure{margin:1.5em 0}img{max-width:100%}figcaption{font-style:italic;font-size:0.9em}"
         "li{margin:0.2em 0}")


def to_html(blocks: list) -> str:
    out = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>",
           f"<title>{html.escape(blocks[0][2])}</title><style>{STYLE}</style></head><body>"]
    for block in blocks:
        kind = block[0]
        if kind == "h":
            out.append(f"<h{block[1]}>{_inline(block[2])}</h{block[1]}>")
        elif kind == "p":
            out.append(f"<p>{_inline(block[1])}</p>")
        elif kind == "ul":
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block[1]) + "</ul>")
        elif kind == "table":
            out.append("<table><tr>" + "".join(f"<th>{_inline(str(h))}</th>" for h in block[1]) + "</tr>")
            out += ["<tr>" + "".join(f"<td>{_inline(str(c))}</td>" for c in row) + "</tr>" for row in block[2]]
            out.append("</table>")
        elif kind == "fig":
            data = base64.b64encode(Path(block[1]).read_bytes()).decode("ascii")
            out.append(f"<figure><img alt='{html.escape(block[2])}' src='data:image/png;base64,{data}'>"
                       f"<figcaption>{_inline(block[2])}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out)


