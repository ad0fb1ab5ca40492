"""`python -m kb eval` over several question sets, with ablations, as a script would run it."""
from __future__ import annotations

import json

from .reliability.helpers import kb_cli

NOTE_A = "# 部署\n\n## 界面\n\n启动后在浏览器打开 http://localhost:7860 即可使用网页界面。\n\n## 环境\n\n用 conda 创建 Python 3.10 环境。\n"
NOTE_B = "# 备份\n\n## 归档\n\n用 tar -xzf backup.tar.gz -C /srv 解压到指定目录。\n\n## 同步\n\nrsync 可以增量同步两个目录。\n"


def _set(path, items):
    path.write_text("\n".join(json.dumps(i, ensure_ascii=False) for i in items), encoding="utf-8")
    return path


def test_eval_several_sets_prints_each_and_the_mean_and_ablates_by_name(tmp_path):
    data = tmp_path / "data"
    (tmp_path / "a.md").write_text(NOTE_A, encoding="utf-8")
    (tmp_path / "b.md").write_text(NOTE_B, encoding="utf-8")
    for kb, name in (("kba", "a.md"), ("kbb", "b.md")):
        out = kb_cli(data, "ingest", str(tmp_path / name), "--kb", kb, "--no-progress", KB_EMBEDDER="hash")
        assert out.returncode == 0, out.stderr
    qa = _set(tmp_path / "qa.jsonl", [
        {"id": "a1", "question": "浏览器打开哪个地址？", "evidence": ["http://localhost:7860"], "kind": "fact"},
        {"id": "a2", "question": "那它用哪个版本的 Python？", "evidence": ["Python 3.10"], "kind": "multi_turn",
         "history": [{"role": "user", "content": "conda 环境怎么建？"}, {"role": "assistant", "content": "用 conda create。"}]}])
    qb = _set(tmp_path / "qb.jsonl", [
        {"id": "b1", "question": "tar 的 -C 选项是做什么的？", "evidence": ["-C /srv"], "kind": "option"},
        {"id": "b2", "question": "Zorblax 集群怎么扩容？", "evidence": [], "kind": "unanswerable"}])
    env = {"KB_EMBEDDER": "hash"}
    table = kb_cli(data, "eval", f"{qa}:kba", f"{qb}:kbb", **env)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:5] == ["set", "hit@1", "hit@3", "hit@5", "MRR@10"]
    assert any(ln.startswith("qa.jsonl:kba") for ln in lines) and any(ln.startswith("mean") for ln in lines)
    data_json = json.loads(kb_cli(data, "eval", f"{qa}:kba", f"{qb}:kbb", "--ablate", "history", "--json",
                                  **env).stdout)
    assert data_json["ablate"] == ["history"] and set(data_json["sets"]) == {"qa.jsonl:kba", "qb.jsonl:kbb"}
    b = data_json["sets"]["qb.jsonl:kbb"]
    assert b["ranks"]["b1"] == 1  # `-C` is a term as written
    assert b["n_unanswerable"] == 1 and {"hit@5", "mrr@10", "declined_share", "mean_result_chars"} <= set(b)
    assert set(data_json["mean"]) >= {"hit@1", "hit@5", "mrr@10", "wrongly_declined_share", "mean_result_chars"}
    # the single-set form still works
    single = kb_cli(data, "eval", str(qa), "--kb", "kba", **env)
    assert single.returncode == 0 and "answerable items: 2" in single.stdout
    listed = kb_cli(data, "eval", "--ablate", "list", **env)
    assert "history" in listed.stdout and "gate_names" in listed.stdout
    bad = kb_cli(data, "eval", f"{qa}:kba", "--ablate", "no-such", **env)
    assert bad.returncode == 2 and "no-such" in bad.stderr
    nokb = kb_cli(data, "eval", f"{qa}:missing-kb", **env)
    assert nokb.returncode == 2 and "missing-kb" in nokb.stderr
