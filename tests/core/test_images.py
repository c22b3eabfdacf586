import io

import numpy as np
import pytest
from PIL import Image

from mlcls_gui.core.data import images
from mlcls_gui.core.data.images import ImageLoadError, load_rgb, probe_image


def _save(img: Image.Image, path, **kw):
    img.save(path, **kw)
    return path


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    path = _save(img, tmp_path / "r.jpg", exif=exif)
    assert load_rgb(path).size == (20, 40)


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "CMYK", "1", "LA"])
def test_modes_become_rgb(tmp_path, mode):
    img = Image.new("RGB", (8, 8), (10, 200, 30)).convert(mode)
    suffix = ".jpg" if mode == "CMYK" else ".png"
    out = load_rgb(_save(img, tmp_path / f"x{suffix}"))
    assert out.mode == "RGB" and out.size == (8, 8)


def test_cmyk_colours_are_kept(tmp_path):
    img = Image.new("RGB", (8, 8), (200, 30, 30)).convert("CMYK")
    r, g, b = load_rgb(_save(img, tmp_path / "c.jpg", quality=100)).getpixel((4, 4))
    assert r > 150 and g < 80 and b < 80


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path):
    array = np.full((6, 6), 32768, dtype=np.uint16)  # mid grey in 16 bits
    path = _save(Image.fromarray(array), tmp_path / "g16.png")
    value = load_rgb(path).getpixel((2, 2))
    assert 120 <= value[0] <= 135 and value[0] == value[1] == value[2]


def test_transparent_palette_on_white(tmp_path):
    img = Image.new("RGBA", (6, 6), (0, 0, 0, 0)).convert("P")
    img.info["transparency"] = 0
    out = load_rgb(_save(img, tmp_path / "t.png", transparency=0))
    assert out.getpixel((1, 1)) == (255, 255, 255)


def test_animated_gif_first_frame(tmp_path):
    frames = [Image.new("RGB", (8, 8), c) for c in [(255, 0, 0), (0, 0, 255)]]
    path = tmp_path / "a.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    r, g, b = load_rgb(path).getpixel((3, 3))
    assert r > 200 and b < 50


def test_one_pixel_image(tmp_path):
    assert load_rgb(_save(Image.new("RGB", (1, 1)), tmp_path / "p.png")).size == (1, 1)


def test_bad_files_raise_with_a_reason(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "text.jpg"
    text.write_text("hello, I am not a picture")
    buf = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buf, "JPEG")
    truncated = tmp_path / "trunc.jpg"
    truncated.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageLoadError, match="empty"):
        probe_image(empty)
    with pytest.raises(ImageLoadError, match="not an image"):
        probe_image(text)
    probe_image(truncated)  # the header is fine…
    with pytest.raises(ImageLoadError, match="truncated"):
        load_rgb(truncated)  # …the pixels are not


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "MAX_PIXELS", 100 * 100)
    path = _save(Image.new("L", (200, 200)), tmp_path / "big.png")
    with pytest.raises(ImageLoadError, match="too large"):
        probe_image(path)
