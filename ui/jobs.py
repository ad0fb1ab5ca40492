"""Long work (ingest, re-index, model setup) in a background thread, so pages stay responsive.

A page starts a job and draws its progress from a polling fragment; the user may switch pages
meanwhile, and the job keeps going. The thread never touches Streamlit: it only writes the job's
fields, which the script thread reads.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

log = logging.getLogger(__name__)


@dataclass
class Job:
    kind: str
    kb: str
    started: float = field(default_factory=time.monotonic)
    progress: Any = None  # the last progress event the work reported
    result: Any = None
    error: Exception | str | None = None  # a KBError (shown in the session's language) or a crash's text
    finished: float | None = None
    announced: bool = False  # the page has re-run once after it finished
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.finished is None

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends (tests use this); True when it has."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running


def start(kind: str, kb: str, work: Callable[[Callable[[Any], None]], Any]) -> Job:
    """Run `work(report)` in a thread; `report(event)` records progress for the page to draw."""
    from kb import KBError

    job = Job(kind, kb)

    def report(event: Any) -> None:
        job.progress = event

    def run() -> None:
        try:
            job.result = work(report)
        except KBError as exc:
            job.error = exc
        except Exception as exc:  # a thread's exception would otherwise vanish: log it and show it
            log.exception("job_failed kind=%s kb=%s", kind, kb)
            job.error = f"{type(exc).__name__}: {exc}"
        finally:
            job.finished = time.monotonic()
            log.info("job_finished kind=%s kb=%s seconds=%.2f error=%s", kind, kb, job.seconds, job.error)

    job._thread = threading.Thread(target=run, name=f"kb-{kind}", daemon=True)
    job._thread.start()
    return job


_STAGE_SHARE = {"reading": 0.05, "saving": 0.95, "done": 1.0}


def ingest_step(event: Any) -> str:
    """What the file is going through: `嵌入 40/120`, or, for a scan, the OCR page being read of those
    without a text layer (`OCR 识别 第 3/40 页`; `done` pages are finished, so the one being read is done+1)."""
    from ui.i18n import t

    if event.stage == "ocr" and event.total:
        return t("stage.ocr_pages", done=min(event.done + 1, event.total), total=event.total)
    step = t(f"stage.{event.stage}")
    if event.stage == "embedding" and event.total:
        step += f" {event.done}/{event.total}"
    return step


def ingest_fraction(event: Any) -> float:
    """Overall share done for an IngestProgress: files weigh the same, embedding is most of a file
    (OCR, before it, moves the bar within the file's reading share: its text says the page)."""
    if event is None or not getattr(event, "n_files", 0):
        return 0.0
    if event.stage == "ocr":
        within = 0.05 + 0.05 * (event.done / event.total if event.total else 0.0)
    elif event.stage == "embedding":
        within = 0.1 + 0.85 * (event.done / event.total if event.total else 0.0)
    else:
        within = _STAGE_SHARE.get(event.stage, 0.0)
    return max(0.0, min(1.0, (event.file_index + within) / event.n_files))
