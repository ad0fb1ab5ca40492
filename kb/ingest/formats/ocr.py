"""Offline OCR with RapidOCR (PP-OCRv4 Chinese detection + recognition, shipped in the wheel).

Nothing is downloaded: `rapidocr-onnxruntime` 1.4.4 carries its ONNX models, and onnxruntime
runs them on the CPU. The engine is built once per process (loading the models takes about a
second) and reused.

Reading order comes from the detected boxes: boxes are grouped into lines by vertical overlap,
lines are read top to bottom and each line left to right; a vertical gap larger than a line
height starts a new paragraph. Confidence is RapidOCR's recognition score (0–1, higher is
better), averaged per page weighted by the characters each box holds.

Bounds per page: an image is scaled so its longer side is at most `MAX_SIDE` pixels before
recognition (time and memory grow with the pixel count, and 150–200 dpi is all the recogniser
needs), and a PDF page is rendered at `PDF_DPI` with the same cap.
"""
from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterator

log = logging.getLogger(__name__)

MAX_SIDE = 2400  # pixels; an A4 page at 200 dpi is 1654 x 2339
PDF_DPI = 200
# PDFium is not thread-safe: every call into it (OCR of an ingest job, a thumbnail drawn for the
# Chunks page at the same time) holds this lock; recognition itself runs outside it.
PDFIUM_LOCK = threading.RLock()


@dataclass(frozen=True)
class OcrPage:
    page: int  # 1-based
    paragraphs: tuple[str, ...]
    confidence: float | None  # None when nothing was recognised
    n_boxes: int
    seconds: float
    paragraph_confidence: tuple[float, ...] = ()  # one per paragraph, weighted the same way

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)


@functools.lru_cache(maxsize=1)
def engine() -> Any:
    """The process's RapidOCR engine (models from the wheel; built on first use)."""
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR()


def ocr_image(image: Any, page: int = 1) -> OcrPage:
    """Recognise a PIL image. The image is converted to RGB and scaled down to `MAX_SIDE`."""
    import time

    import numpy as np

    started = time.monotonic()
    image = image.convert("RGB")
    if max(image.size) > MAX_SIDE:
        scale = MAX_SIDE / max(image.size)
        image = image.resize((max(1, int(image.width * scale)), max(1, int(image.height * scale))))
    result, _ = engine()(np.asarray(image))
    boxes = [(box, text, float(score)) for box, text, score in (result or []) if text and text.strip()]
    paragraphs = reading_order(boxes)
    chars = sum(len(t) for _, t, _ in boxes)
    confidence = sum(len(t) * s for _, t, s in boxes) / chars if chars else None
    return OcrPage(page, tuple(t for t, _ in paragraphs), confidence, n_boxes=len(boxes),
                   seconds=time.monotonic() - started, paragraph_confidence=tuple(c for _, c in paragraphs))


def reading_order(boxes: list[tuple[Any, str, float]]) -> list[tuple[str, float]]:
    """(paragraph text, confidence) from (4-point box, text, score): lines by vertical overlap, then left to right."""
    items = []
    for box, text, score in boxes:
        ys = [p[1] for p in box]
        xs = [p[0] for p in box]
        items.append((min(ys), max(ys), min(xs), text.strip(), score))
    items.sort(key=lambda it: (it[0] + it[1]) / 2)
    lines: list[list[tuple[float, float, float, str, float]]] = []
    for item in items:
        if lines:
            top = min(i[0] for i in lines[-1])
            bottom = max(i[1] for i in lines[-1])
            overlap = min(bottom, item[1]) - max(top, item[0])
            if overlap > 0.5 * min(bottom - top, item[1] - item[0]):
                lines[-1].append(item)
                continue
        lines.append([item])
    paragraphs: list[str] = []
    weights: list[list[tuple[int, float]]] = []
    previous_bottom = None
    heights = sorted(max(i[1] for i in ln) - min(i[0] for i in ln) for ln in lines) or [0]
    height = heights[len(heights) // 2]
    for line in lines:
        line.sort(key=lambda i: i[2])
        text = _join_words([i[3] for i in line])
        top = min(i[0] for i in line)
        scores = [(len(i[3]), i[4]) for i in line]
        if paragraphs and previous_bottom is not None and top - previous_bottom < 0.8 * height:
            paragraphs[-1] = _join_words([paragraphs[-1], text])
            weights[-1].extend(scores)
        else:
            paragraphs.append(text)
            weights.append(scores)
        previous_bottom = max(i[1] for i in line)
    return [(text, sum(n * s for n, s in w) / max(1, sum(n for n, _ in w))) for text, w in zip(paragraphs, weights)]


def _join_words(parts: list[str]) -> str:
    from kb.ingest.loaders import _join

    out = ""
    for part in parts:
        out = _join(out, part) if out else part
    return out


def ocr_pdf_pages(data: bytes, pages: list[int],
                  before: Callable[[int, int], None] | None = None) -> Iterator[OcrPage]:
    """Render the given 1-based pages of a PDF with pypdfium2 and OCR each; one page in memory at a time.

    Pages without any image object are skipped (a blank page or vector drawing has nothing to
    read, and a 5,000-page blank PDF must not take an hour). `before(done, total)` is called
    before each page is rendered and once at the end: it reports progress, and stops the job by
    raising (so a cancel costs at most the page being read).
    """
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    with PDFIUM_LOCK:
        document = pdfium.PdfDocument(data)
    try:
        for done, number in enumerate(pages):
            if before is not None:
                before(done, len(pages))
            with PDFIUM_LOCK:  # held while rendering, not while recognising
                page = document[number - 1]
                try:
                    if not any(obj.type == pdfium_c.FPDF_PAGEOBJ_IMAGE for obj in page.get_objects(max_depth=3)):
                        continue
                    width, height = page.get_size()  # points
                    scale = min(PDF_DPI / 72, MAX_SIDE / max(width, height, 1))
                    bitmap = page.render(scale=scale)
                    image = bitmap.to_pil()
                    bitmap.close()
                finally:
                    page.close()
            yield ocr_image(image, page=number)
        if before is not None:
            before(len(pages), len(pages))
    finally:
        with PDFIUM_LOCK:
            document.close()


def ocr_blocks(page: OcrPage, base: tuple[str, ...] = ()) -> list[Any]:
    """A page's paragraphs as blocks marked as OCR text, each with its own confidence (the splitter
    averages them per chunk, weighted by characters)."""
    from kb.ingest.loaders import Block

    scores = page.paragraph_confidence or (page.confidence,) * len(page.paragraphs)
    return [Block(p, page=page.page, heading_path=base, ocr=True,
                  ocr_confidence=round(c, 3) if c is not None else None)
            for p, c in zip(page.paragraphs, scores) if p.strip()]


def scanned_pdf_pages(name: str, reader: Any, empty_pages: list[int], loaded: Any, control: Any) -> Iterator[Any]:
    """The OCR hook of `kb.ingest.loaders._pdf_blocks`: blocks of the pages without a text layer.

    Returns (through `yield from`) the number of pages that gave text, and removes those pages
    from `empty_pages`, so the caller's "no text layer" error and blank-page warning only speak
    of pages OCR could not read either. Records per-page confidence in `loaded.metadata`.
    `control` (kb.ingest.loaders.OcrControl) gets the page count before each page and may stop the job.
    """
    if not empty_pages:
        return 0
    stream = getattr(reader, "stream", None)
    data = stream.getvalue() if hasattr(stream, "getvalue") else None
    if data is None:
        return 0
    read = 0
    confidences: dict[str, float] = {}
    for page in ocr_pdf_pages(data, list(empty_pages), lambda done, total: control.before_page(name, done, total)):
        blocks = ocr_blocks(page)
        log.info("ocr file=%s page=%d boxes=%d confidence=%s seconds=%.2f", name, page.page, page.n_boxes,
                 f"{page.confidence:.3f}" if page.confidence is not None else "-", page.seconds)
        if not blocks:
            continue
        empty_pages.remove(page.page)
        confidences[str(page.page)] = round(page.confidence or 0.0, 3)
        read += 1
        yield from blocks
    if confidences:
        loaded.metadata["ocr_pages"] = confidences
        low = [p for p, c in confidences.items() if c < control.low_confidence]
        if low:
            from kb.messages import render

            loaded.warnings.append(render("ingest.ocr_low_confidence", {"pages": ", ".join(low)}))
    return read
