"""A writer process for the PostgreSQL concurrency test:
`python pg_worker.py DATA URL NAMESPACE OPS GOFILE ACKFILE`.

Waits for GOFILE (so the four writers start together), then makes OPS ingests and deletes of documents
of its own namespace in one shared knowledge base (OPS 0: at least 4, then on until GOFILE.stop exists), appending what each call acknowledged to ACKFILE
(`add NAME SHA256` / `del NAME`); an error of any kind becomes an `error ...` line (the test fails on it).
"""
from __future__ import annotations

import hashlib
import random
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from kb import KnowledgeBase, Settings  # noqa: E402


def main(data: str, url: str, namespace: str, ops: int, go: str, ack: str) -> None:
    settings = Settings.from_mapping({"storage": {"data_dir": data, "backend": "postgres", "url": url},
                                      "embedder": {"name": "hash"}}, env={}, base_dir=REPO)
    rng = random.Random(namespace)
    log = open(ack, "a", buffering=1, encoding="utf-8")
    kb = KnowledgeBase.open(settings, "shared")
    while not Path(go).exists():
        time.sleep(0.01)
    stop = Path(go + ".stop")
    n = 0
    while n < ops if ops > 0 else (n < 4 or not stop.exists()):
        n += 1
        try:
            name = f"{namespace}-{rng.randrange(4)}.md"
            if rng.random() < 0.3 and kb.document(name) is not None:
                kb.delete(name)
                log.write(f"del {name}\n")
                continue
            body = f"# {namespace} 第 {n} 版\n\n" + "\n\n".join(f"{namespace} 的第 {n} 段内容 {i}。" * 8
                                                              for i in range(rng.randrange(2, 12)))
            data_bytes = body.encode("utf-8")
            f = kb.ingest_bytes([(name, data_bytes)]).files[0]
            if f.status in ("added", "replaced", "unchanged"):
                log.write(f"add {name} {hashlib.sha256(data_bytes).hexdigest()}\n")
            else:
                log.write(f"error ingest {name}: {f.error}\n")
        except Exception:  # the test reads this: every error of any kind must be seen
            log.write("error " + traceback.format_exc().replace("\n", " | ") + "\n")
    kb.close()
    log.write("done\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6])
