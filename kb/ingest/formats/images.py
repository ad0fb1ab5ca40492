"""Images (.png/.jpg/.webp): text through OCR (`kb.formats.ocr`).

The pixel count is checked from the header, before any pixel is decoded: a 20,000 × 20,000
image is refused at `MAX_PIXELS` (Pillow's own `MAX_IMAGE_PIXELS` guard, a warning at 89 M
pixels and an error at twice that, is kept as a second line of defence and turned into our
message too).
"""
from __future__ import annotations

import io
import re
import warnings

from kb.errors import IngestError

MAX_PIXELS = 50_000_000  # 50 MP: a phone photo is 12–48 MP, an A4 scan at 600 dpi is 35 MP


def load_image(name: str, data: bytes, ocr=None):
    """`ocr` (kb.ingest.loaders.OcrControl): an image is one OCR page, reported and cancellable like a PDF's."""
    from PIL import Image, UnidentifiedImageError

    from kb.ingest.loaders import LoadedFile, OcrControl
    from kb.ingest.formats.ocr import ocr_blocks, ocr_image

    ocr = ocr or OcrControl()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise IngestError(name, "ingest.image_too_large", megapixels=f"{width * height / 1e6:.0f}",
                                  size=f"{width} × {height}", limit_mp=MAX_PIXELS // 1_000_000)
            image.load()
    except IngestError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))  # Pillow refused it at open, before our check
        pixels = int(found.group(1)) if found else 0
        raise IngestError(name, "ingest.image_too_large", megapixels=f"{pixels / 1e6:.0f}", size="?",
                          limit_mp=MAX_PIXELS // 1_000_000) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise IngestError(name, "ingest.image_corrupt", reason=f"{exc.__class__.__name__}: {str(exc)[:120]}") from None
    ocr.before_page(name, 0, 1)
    page = ocr_image(image, page=1)
    ocr.before_page(name, 1, 1)
    blocks = ocr_blocks(page)
    if not blocks:
        raise IngestError(name, "ingest.image_no_text")
    confidence = round(page.confidence or 0.0, 3)
    metadata = {"ocr_pages": {"1": confidence}, "width": width, "height": height}
    notes = []
    if confidence < ocr.low_confidence:
        from kb.messages import render

        notes.append(render("ingest.ocr_low_confidence", {"pages": "1"}))
    return LoadedFile(name, "image", iter(blocks), metadata=metadata, warnings=notes, n_pages=1)
