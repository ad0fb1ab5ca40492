"""How tests/data/kb_v3 was made: with the code of commit 78cb697 (format 3, before `chunks.origin`).

    git archive 78cb697 kb tests/files.py tests/__init__.py | tar -x -C /tmp/v3code
    cd /tmp/v3code && python make_v3.py /tmp/v3data   # then copy /tmp/v3data/kbs/v3 here, without .lock
"""
import shutil, sys
from pathlib import Path
from kb import KnowledgeBase
from kb.config import Settings
from tests.files import scan_png, xlsx_file, cjk_pdf

def small_scan():
    import io
    from tests.files import scan_image
    img = scan_image(lines=["第三季度的销售额为三百二十万元。", "华东地区贡献最多。"], noise=0)
    img = img.crop((0, 0, img.width, int(img.height * 0.3)))
    out = io.BytesIO(); img.save(out, "PNG", optimize=True); return out.getvalue()

out = Path(sys.argv[1])
shutil.rmtree(out, ignore_errors=True)
settings = Settings.from_mapping({"storage": {"data_dir": str(out)}, "embedder": {"name": "hash"}})
rows = [["城市", "人口"]] + [[f"城市{i}", f"{i} 万"] for i in range(1, 31)]
with KnowledgeBase.open(settings, "v3") as kb:
    r = kb.ingest_bytes([("数据.xlsx", xlsx_file({"Sheet1": rows})),
                         ("扫描.png", small_scan()),
                         ("说明.pdf", cjk_pdf(["这是一份有文字层的说明文档，不需要识别。" * 3]))])
    print([f.status for f in r.files])
    chunk = kb.chunks("数据.xlsx")[0]
    kb.disable_chunk(kb.chunks("数据.xlsx")[1].id)
    for c in kb.chunks():
        print(c.file_name, c.heading_path, c.page)
