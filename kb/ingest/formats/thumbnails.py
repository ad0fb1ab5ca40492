"""Page thumbnails for the Chunks page: the page an OCR chunk was read from, as a small PNG.

A PDF page is rendered with pypdfium2 from the stored original at the thumbnail's width (never at
OCR resolution); an image document is the image itself, scaled down. Both are bounded: the longer
side is at most `MAX_SIDE` pixels whatever the page's shape, and an image is checked against the
same pixel limit as at ingest (`kb.ingest.formats.images.MAX_PIXELS`, with Pillow's
decompression-bomb guard turned into our message) before any pixel is decoded.

Thumbnails are content-addressed (`<sha256 of the file>-p<page>-w<width>.png`) in the data folder's
`cache/thumbnails/`, so a page is rendered once, whichever knowledge base holds the file; the cache
only saves time, so a folder that cannot be written costs a render, not an error.
"""
from __future__ import annotations

import io
import logging
import re
import warnings
from pathlib import Path

from kb.errors import KBError

log = logging.getLogger(__name__)

WIDTH = 320  # pixels; the Chunks page shows it in a column beside the text
MIN_WIDTH, MAX_WIDTH = 64, 1024
MAX_SIDE = 1600  # a page 1 pt wide and 200 inches tall must not become a 300-megapixel "thumbnail"
KINDS = ("pdf", "image")


def render(kind: str, data: bytes, page: int, width: int, file: str = "?") -> bytes:
    """PNG bytes of 1-based `page` of a PDF or image document, `width` pixels wide (capped by `MAX_SIDE`)."""
    if kind not in KINDS:
        raise KBError("thumbnail.no_page_image", file=file)
    width = max(MIN_WIDTH, min(int(width), MAX_WIDTH))
    image = _pdf_page(data, page, width, file) if kind == "pdf" else _image(data, page, width, file)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


def _pdf_page(data: bytes, page: int, width: int, file: str):
    from kb.ingest.formats.ocr import PDFIUM_LOCK

    with PDFIUM_LOCK:
        return _render_pdf_page(data, page, width, file)


def _render_pdf_page(data: bytes, page: int, width: int, file: str):
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        raise KBError("thumbnail.unreadable", file=file, reason=str(exc)[:120]) from None
    try:
        if not 1 <= page <= len(document):
            raise KBError("thumbnail.no_such_page", file=file, page=page, pages=len(document))
        handle = document[page - 1]
        try:
            page_width, page_height = handle.get_size()  # points
            scale = min(width / max(page_width, 1), MAX_SIDE / max(page_width, page_height, 1))
            bitmap = handle.render(scale=scale)
            image = bitmap.to_pil()
            bitmap.close()
            return image
        except pdfium.PdfiumError as exc:
            raise KBError("thumbnail.unreadable", file=file, reason=str(exc)[:120]) from None
        finally:
            handle.close()
    finally:
        document.close()


def _image(data: bytes, page: int, width: int, file: str):
    from PIL import Image, UnidentifiedImageError

    from kb.ingest.formats.images import MAX_PIXELS

    if page != 1:
        raise KBError("thumbnail.no_such_page", file=file, page=page, pages=1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))  # reads the header only
            w, h = image.size
            if w * h > MAX_PIXELS:
                raise KBError("thumbnail.too_large", file=file, size=f"{w} × {h}", limit_mp=MAX_PIXELS // 1_000_000)
            image.draft("RGB", (width, max(1, width * h // max(w, 1))))  # JPEG: decode at a reduced scale
            image.thumbnail((width, MAX_SIDE))
            return image.convert("RGB") if image.mode not in ("RGB", "RGBA", "L") else image
    except KBError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise KBError("thumbnail.too_large", file=file, size=f"{found.group(1) if found else '?'} px",
                      limit_mp=MAX_PIXELS // 1_000_000) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise KBError("thumbnail.unreadable", file=file, reason=f"{exc.__class__.__name__}: {str(exc)[:120]}") from None


class ThumbnailCache:
    """PNG files named by content hash, page and width; written atomically, read back as they are."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.rendered = 0  # thumbnails made by this process (a cache hit makes none)

    def path(self, file_hash: str, page: int, width: int) -> Path:
        if not re.fullmatch(r"[0-9a-f]{64}", file_hash):
            raise ValueError(f"not a sha256: {file_hash!r}")
        return self.folder / f"{file_hash}-p{int(page)}-w{int(width)}.png"

    def get(self, file_hash: str, page: int, width: int) -> bytes | None:
        try:
            data = self.path(file_hash, page, width).read_bytes()
        except OSError:
            return None
        return data if data.startswith(b"\x89PNG\r\n\x1a\n") else None

    def get_or_render(self, file_hash: str, page: int, width: int, make) -> bytes:
        """The cached PNG, or `make()`'s, cached for next time."""
        found = self.get(file_hash, page, width)
        if found is not None:
            return found
        png = make()
        self.rendered += 1
        self.put(file_hash, page, width, png)
        return png

    def put(self, file_hash: str, page: int, width: int, png: bytes) -> None:
        from kb.store.files import write_atomic

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path(file_hash, page, width), png)
        except OSError as exc:
            log.warning("thumbnail not cached folder=%s error=%s", self.folder, exc)
