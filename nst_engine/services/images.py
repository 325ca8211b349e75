"""Reading and writing images: Pillow in, tensors in between, Pillow out (atomically).

Alpha is split off before stylisation and put back afterwards; grayscale input
is remembered so the result can be returned grayscale-looking.
"""
from __future__ import annotations

import errno
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from nst_contract.events import EngineError, bad_input
from nst_contract.options import fit_longest

from . import devices


def open_image(path, what: str, longest: int | None = None) -> Image.Image:
    """Open and decode an image file, or raise a ``bad_input`` error that says what is wrong.

    The header is read first (Pillow's lazy open), so an image bomb or an image too large for
    the free memory is refused before its pixels are decoded; ``longest``: the largest side the
    caller will use, so a JPEG much larger than that is decoded reduced (draft mode).
    """
    if isinstance(path, Image.Image):
        return path
    path = Path(path)
    if not path.exists():
        raise bad_input(f"{what} {str(path)!r} does not exist: check the path")
    if path.is_dir():
        raise bad_input(f"{what} {str(path)!r} is a folder, not an image file")
    if not path.is_file():  # a FIFO would block open() forever, a device would never end
        raise bad_input(f"{what} {str(path)!r} is not a regular file (a pipe, device or socket); "
                        "give an image file")
    try:
        with warnings.catch_warnings():
            # Between Pillow's warning and its error (1× and 2× MAX_IMAGE_PIXELS: 89 and 179 MP) are
            # real photos too: the memory check below decides for those, not a warning on stderr.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                declared = img.size
                _reduce_while_decoding(img, longest)
                _check_decode_memory(img, path, what)
                img.load()
                decoded = img.size
                img = ImageOps.exif_transpose(img)
                if img.size != decoded:  # turned a quarter by its EXIF orientation
                    declared = declared[::-1]
                img.info["declared_size"] = declared  # the file's size, also when decoded reduced
    except Image.DecompressionBombError as exc:
        raise bad_input(f"{what} {str(path)!r} is too large to open safely ({exc}); scale it down below "
                        f"{2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels first")
    except UnidentifiedImageError:
        raise bad_input(f"{what} {str(path)!r} is not an image Pillow can read (PNG, JPEG, TIFF, WebP, ...)")
    except (OSError, ValueError, SyntaxError) as exc:
        raise bad_input(f"{what} {str(path)!r} could not be read ({exc}); is it truncated or corrupt?")
    if img.width == 0 or img.height == 0:
        raise bad_input(f"{what} {str(path)!r} is empty (0 pixels)")
    return img


def _reduce_while_decoding(img: Image.Image, longest: int | None) -> None:
    """JPEG can decode at 1/2, 1/4 or 1/8 size: do so when the caller needs at most ``longest``."""
    if longest and img.format == "JPEG" and max(img.size) >= 2 * longest:
        img.draft(img.mode, fit_longest(*img.size, longest))


def _check_decode_memory(img: Image.Image, path: Path, what: str) -> None:
    """Refuse, before decoding, an image whose pixels would not fit in the free memory."""
    need = decode_bytes(img.size, img.mode)
    have = devices.available_bytes(torch.device("cpu"))
    if not devices.fits(need, have):
        raise EngineError("out_of_memory",
                          f"{what} {str(path)!r} is {img.width}x{img.height}: decoding it needs about "
                          f"{need / 2**30:.1f} GiB but only {have / 2**30:.1f} GiB is free; "
                          "scale it down first (or free memory)")


def decode_bytes(size, mode: str) -> int:
    """Peak memory of decoding an image of ``size`` (w, h) in Pillow ``mode`` and splitting it
    into RGB and alpha (``split``): the decoded pixels (Pillow keeps 1, 2 or 4 bytes per
    pixel), an RGB copy (4) and an alpha plane (1)."""
    per_pixel = 1 if mode in ("1", "L", "P") else 2 if mode.startswith("I;16") else 4
    return size[0] * size[1] * (per_pixel + 5)


def _to_8bit(img: Image.Image) -> Image.Image:
    """16-bit and float grayscale to 8-bit 'L' without clipping to the first 256 levels."""
    if img.mode.startswith("I;16"):
        return Image.fromarray((np.asarray(img, dtype=np.uint32) >> 8).astype(np.uint8), "L")
    if img.mode in ("I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = arr.max() if arr.max() > 255 else 255.0
        return Image.fromarray(np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    return img


@dataclass
class SplitImage:
    """An image as the engine uses it: RGB pixels, plus what to restore at the end."""

    rgb: Image.Image
    alpha: Image.Image | None
    gray: bool


def split(img: Image.Image) -> SplitImage:
    img = _to_8bit(img)
    gray = img.mode in ("1", "L", "LA") or (img.mode == "P" and _palette_is_gray(img))
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    if has_alpha:
        img = img if img.mode == "RGBA" else img.convert("RGBA")  # no needless full-size copy
        return SplitImage(img.convert("RGB"), img.getchannel("A"), gray)
    return SplitImage(img.convert("RGB"), None, gray)


def _palette_is_gray(img: Image.Image) -> bool:
    pal = np.asarray(img.convert("RGB"))
    return bool((pal[..., 0] == pal[..., 1]).all() and (pal[..., 1] == pal[..., 2]).all())


def resize(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    if img.size == tuple(size):
        return img
    return img.resize(size, Image.Resampling.LANCZOS)


def to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL RGB/L image → float tensor (1, C, H, W) in [0, 1]."""
    arr = np.asarray(img, dtype=np.float32) / 255.0
    if arr.ndim == 2:
        arr = arr[..., None]
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).contiguous()


def to_pil(tensor: torch.Tensor) -> Image.Image:
    """Float tensor (1, 3, H, W) in [0, 1] → PIL RGB, rounded to the nearest level."""
    arr = tensor.detach().clamp(0, 1).mul(255).round().to(torch.uint8)[0].permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(arr, "RGB")


def resize_tensor(t: torch.Tensor, size_hw: tuple[int, int]) -> torch.Tensor:
    if tuple(t.shape[-2:]) == tuple(size_hw):
        return t
    return F.interpolate(t, size=size_hw, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)


def load_mask(path, expected_size: tuple[int, int], what: str = "mask") -> Image.Image:
    """A grayscale mask the size of the content: white = stylise, black = keep."""
    img = open_image(path, what)
    if img.size != tuple(expected_size):
        raise bad_input(f"{what} {str(path)!r} is {img.width}x{img.height} but the content image is "
                        f"{expected_size[0]}x{expected_size[1]}; the mask must have the content's size")
    if img.mode in ("RGBA", "LA"):
        # A mask with transparency: transparent counts as black (not stylised).
        bg = Image.new("L", img.size, 0)
        bg.paste(img.convert("L"), mask=img.getchannel("A"))
        return bg
    return _to_8bit(img).convert("L")


def write_atomic(path, write) -> None:
    """Call ``write(binary file)`` on a temp file in the destination folder, then rename it over ``path``.

    A crash or cancel never leaves a half-written output, and the temp file is
    removed on any failure.
    """
    path = Path(path)
    fd, tmp = _temp_beside(path)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; an output is an ordinary file
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise EngineError("disk_full", f"the disk holding {str(path.parent)!r} is full ({exc.strerror}) "
                              f"while writing {path.name}; free some space or choose another folder. "
                              "Nothing was written.") from exc
        raise


def _temp_beside(path: Path) -> tuple:
    """(fd, name) of a new temp file in ``path``'s folder, named after it (stem cut to 64
    characters, so that any name that fits the folder has a temp file that fits too)."""
    return tempfile.mkstemp(prefix=f".{path.stem[:64]}.", suffix=path.suffix[:16], dir=path.parent)


def _check_name_fits(path: Path) -> None:
    """The output's name and path within what its folder's file system takes: a name that
    cannot be written fails now, not after the work."""
    name_max = os.pathconf(path.parent, "PC_NAME_MAX")
    if len(os.fsencode(path.name)) > name_max:
        raise bad_input(f"the output name {path.name[:40]!r}… is {len(os.fsencode(path.name))} bytes long, "
                        f"but this folder takes names of at most {name_max}; choose a shorter name")
    path_max = os.pathconf(path.parent, "PC_PATH_MAX")
    if len(os.fsencode(str(path.resolve()))) >= path_max:
        raise bad_input(f"the output path is longer than the {path_max} bytes the system takes; choose a shorter one")


def _try_temp_beside(path: Path) -> None:
    """Make (and remove) the temp file the output will be written through: what the folder
    refuses (a read-only file system, a quota) is said now, not after the work."""
    try:
        fd, tmp = _temp_beside(path)
    except OSError as exc:
        raise bad_input(f"cannot write into output folder {str(path.parent)!r} ({exc.strerror})") from exc
    os.close(fd)
    os.unlink(tmp)


def _umask() -> int:
    """The process's umask (os.umask can only be read by setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save_atomic(img: Image.Image, path) -> None:
    """Save an image atomically, in the format its file name says."""
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise bad_input(f"cannot tell the output format from {path.name!r}; use .png, .jpg, .tif or .webp")
    if fmt == "JPEG" and img.mode in ("RGBA", "LA"):
        img = img.convert(img.mode[:-1])
    write_atomic(path, lambda fh: img.save(fh, format=fmt))


def check_output_path(path, inputs) -> Path:
    """``path`` as an output, checked before any work: a name this folder can hold, a format
    from its suffix, a writable folder, no input overwritten; else ``bad_input`` saying what to change."""
    if "\0" in str(path):
        raise bad_input(f"the output name {str(path)!r} holds a NUL byte, which no file name can; choose another name")
    path = Path(path)
    if Image.registered_extensions().get(path.suffix.lower()) is None:
        raise bad_input(f"cannot tell the output format from {path.name!r}; use .png, .jpg, .tif or .webp")
    if not path.parent.is_dir():
        raise bad_input(f"output folder {str(path.parent)!r} does not exist")
    _check_name_fits(path)
    if path.is_dir():
        raise bad_input(f"the output {str(path)!r} is an existing folder; give a file name")
    if not os.access(path.parent, os.W_OK):
        raise bad_input(f"output folder {str(path.parent)!r} is not writable")
    _try_temp_beside(path)
    if path.exists():
        for inp in inputs:
            if isinstance(inp, (str, os.PathLike)) and Path(inp).exists() and os.path.samefile(inp, path):
                raise bad_input(f"the output {str(path)!r} would overwrite an input; choose another name")
    return path
