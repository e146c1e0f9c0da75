"""The one input check of translate, for trained and exported Pix2Pix models alike."""

from types import SimpleNamespace

import numpy as np
import pytest

from mri_gan.errors import UserError
from mri_gan.translate_checks import check_translate

IMPUTE = SimpleNamespace(imputation=True, sources=["t1", "t1ce", "t2", "flair"], target="any", context=0)
T1_T2_TO_FLAIR = SimpleNamespace(imputation=False, sources=["t1", "t2"], target="flair", context=0)


def _images(n: int = 3) -> np.ndarray:
    return np.arange(n * 2 * 2 * 4, dtype=np.float64).reshape(n, 2, 2, 4)


def test_imputation_never_reads_the_target_and_needs_another_sequence():
    available = np.array([[1, 0, 1, 1], [0, 1, 0, 1], [1, 1, 1, 1]], bool)
    x = check_translate(IMPUTE, _images(), available, "FLAIR")
    assert x.target == 3 and x.channels is None and x.images.dtype == np.float32
    np.testing.assert_array_equal(x.given, available & [True, True, True, False])
    only_flair = available.copy()
    only_flair[1] = [0, 0, 0, 1]
    with pytest.raises(UserError, match="imputing flair needs at least one other sequence"):
        check_translate(IMPUTE, _images(), only_flair, "flair")


def test_translation_checks_target_and_sources_and_reads_the_sources():
    x = check_translate(T1_T2_TO_FLAIR, _images(), [True, False, True, False], "t2f")   # an alias of flair
    assert x.channels == [0, 2] and x.given.shape == (3, 4) and x.target == 3
    with pytest.raises(UserError, match="synthesizes flair, not t1ce"):
        check_translate(T1_T2_TO_FLAIR, _images(), [True, True, True, True], "t1ce")
    with pytest.raises(UserError, match="needs t1, t2; missing: t2"):
        check_translate(T1_T2_TO_FLAIR, _images(), [[1, 0, 1, 0], [1, 0, 0, 0], [1, 0, 1, 0]], "flair")
    with pytest.raises(UserError, match="--target"):
        check_translate(T1_T2_TO_FLAIR, _images(), [True] * 4, "pd")


def test_a_2_5d_model_needs_each_slice_with_its_neighbours():
    deep = SimpleNamespace(imputation=True, sources=IMPUTE.sources, target="any", context=1)
    with pytest.raises(UserError, match=r"reads 3 axial slice\(s\) of the 4 sequences \(12 channels\)"):
        check_translate(deep, _images(), [True] * 4, "t1")
    stacked = np.concatenate([_images()] * 3, axis=-1)
    assert check_translate(deep, stacked, [True] * 4, "t1").images.shape == (3, 2, 2, 12)
    with pytest.raises(UserError, match="4 channels"):
        check_translate(IMPUTE, stacked, [True] * 4, "t1")
