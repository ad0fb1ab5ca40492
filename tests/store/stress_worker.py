"""A writer process for the stress test: `python stress_worker.py DATA ROLE NAMESPACE STOPFILE ACKFILE`.

ROLE `writer`: ingest and delete documents of its own namespace; after each call returns, append what it
acknowledged to ACKFILE (`add NAME HASH` / `del NAME`). ROLE `maintainer`: reindex and rebuild in turn.
Runs until STOPFILE exists. Errors are written to ACKFILE as `error ...` lines (the test fails on any).
"""
from __future__ import annotations

import hashlib
import random
import sys
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from kb import KnowledgeBase, Settings  # noqa: E402


def main(data: str, role: str, namespace: str, stop: str, ack: str) -> None:
    settings = Settings.from_mapping({"storage": {"data_dir": data}, "embedder": {"name": "hash"}}, env={},
                                     base_dir=REPO)
    rng = random.Random(namespace)
    stop_file, log = Path(stop), open(ack, "a", buffering=1, encoding="utf-8")
    kb = KnowledgeBase.open(settings, "notes")
    n = 0
    while not stop_file.exists():
        try:
            if role == "writer":
                n += 1
                name = f"{namespace}-{rng.randrange(6)}.md"
                if rng.random() < 0.3 and kb.document(name) is not None:
                    kb.delete(name)
                    log.write(f"del {name}\n")
                else:
                    body = f"# {namespace} 第 {n} 版\n\n" + "。".join(f"{namespace} 的第 {n} 段内容 {i}"
                                                                    for i in range(rng.randrange(3, 30)))
                    data_bytes = body.encode("utf-8")
                    report = kb.ingest_bytes([(name, data_bytes)])
                    f = report.files[0]
                    if f.status in ("added", "replaced", "unchanged"):
                        log.write(f"add {name} {hashlib.sha256(data_bytes).hexdigest()}\n")
                    else:
                        log.write(f"error ingest {name}: {f.error}\n")
            else:
                n += 1
                if n % 2:
                    report = kb.reindex()
                else:
                    report = KnowledgeBase.rebuild(settings, "notes")
                log.write(f"maint {'reindex' if n % 2 else 'rebuild'} ok={report.ok}\n")
                if not report.ok:
                    log.write(f"error maint {[f.error for f in report.files if f.status == 'failed']}\n")
        except Exception:  # the test reads this: every error of any kind must be seen
            log.write("error " + traceback.format_exc().replace("\n", " | ") + "\n")
    kb.close()
    log.write("done\n")


if __name__ == "__main__":
    main(*sys.argv[1:6])
