"""The size an image header claims, read without decoding, agrees with OpenCV's encoder."""

import cv2
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mri_gan.data.image_header import dimensions

FORMATS = [".png", ".jpg", ".bmp", ".tif"]


@settings(max_examples=40, deadline=None)
@given(width=st.integers(1, 300), height=st.integers(1, 300), ext=st.sampled_from(FORMATS),
       channels=st.sampled_from([1, 3]), depth=st.sampled_from([np.uint8, np.uint16]))
def test_claimed_size_is_the_encoded_size(width, height, ext, channels, depth):
    if ext in (".jpg", ".bmp"):
        depth = np.uint8  # 8-bit formats
    ok, data = cv2.imencode(ext, np.zeros((height, width, channels), depth))
    assert ok and dimensions(data) == (width, height)


@settings(max_examples=60, deadline=None)
@given(magic=st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8", b"BM", b"II*\0", b"MM\0*"]),
       rest=st.binary(max_size=64))
def test_any_bytes_after_a_magic_number_give_a_size_or_none(magic, rest):
    size = dimensions(magic + rest)
    assert size is None or (len(size) == 2 and all(isinstance(n, int) and n >= 0 for n in size))
