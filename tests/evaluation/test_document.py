"""The per-subject table of an imputed sequence: model beside the baseline best on each metric."""

from mri_gan.evaluation import document


def _scores(per_subject: dict) -> dict:
    means = {k: sum(s[k] for s in per_subject.values()) / len(per_subject) for k in ("ssim", "psnr")}
    return {k: {"mean": v} for k, v in means.items()} | {"per_subject": per_subject}


def test_subject_table_names_the_best_baseline_per_metric_and_the_margins():
    model = _scores({"a": {"ssim": 0.80, "psnr": 25.0}, "b": {"ssim": 0.70, "psnr": 18.0}})
    model["baselines"] = {
        "identity t1": _scores({"a": {"ssim": 0.60, "psnr": 24.0}, "b": {"ssim": 0.85, "psnr": 24.0}}),
        "linear": _scores({"a": {"ssim": 0.75, "psnr": 23.0}, "b": {"ssim": 0.72, "psnr": 20.0}}),
    }
    (_, text), (_, header, rows) = document._subject_blocks("t1ce", model)
    assert "linear for SSIM" in text and "identity t1 for PSNR" in text
    assert header[0] == "subject" and len(header) == 7
    by_subject = {r[0]: r for r in rows}
    assert by_subject["a"][3] == document.fmt(0.80 - 0.75)
    assert by_subject["b"][6] == document.fmt(18.0 - 24.0)


def test_no_subject_table_without_baselines_or_with_one_subject():
    assert document._subject_blocks("t2", _scores({"a": {"ssim": 0.5, "psnr": 20.0}, "b": {"ssim": 0.6,
                                                                                         "psnr": 21.0}})) == []
    one = _scores({"a": {"ssim": 0.5, "psnr": 20.0}})
    one["baselines"] = {"linear": _scores({"a": {"ssim": 0.4, "psnr": 19.0}})}
    assert document._subject_blocks("t2", one) == []
