"""How far the token estimator is from Qwen's tokenizer, and what a count costs.

    python benchmarks/tokens.py [--corpus DIR] [--fit]

Prints, for 300-character windows of the user's corpus (and, for comparison, of the English
docs of the installed Python packages and a few short paragraphs in other languages): the
estimator's aggregate error |sum(est) - sum(real)| / sum(real) and its per-window relative error
(mean and worst, windows >= 50 characters), then microseconds per count for both counters.
`--fit` refits the estimator's coefficients on exact pre-token pieces and prints them.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kb.llm.tokens import COEFFICIENTS, EstimatingTokenCounter, QwenTokenCounter, TokenCounter  # noqa: E402

WINDOW = 300
MIN_CHARS = 50
# Coefficients the corpus and package docs barely exercise: kept as set by hand when fitting.
HELD = {"digit", "accented_letter", "cyrillic_letter", "other_letter"}

OTHER_LANGUAGES = {
    "ru": "Векторный поиск позволяет находить документы, близкие по смыслу к запросу пользователя. "
          "Сначала текст разбивается на фрагменты, затем каждый фрагмент преобразуется в вектор "
          "с помощью модели эмбеддингов, и эти векторы сохраняются в индексе.",
    "ja": "検索拡張生成（RAG）は、大規模言語モデルに外部の知識を与える手法です。まず文書を小さな断片に"
          "分割し、それぞれをベクトルに変換して索引に保存します。質問が来たら、似ている断片を探して"
          "プロンプトに加えます。",
    "ko": "검색 증강 생성은 대규모 언어 모델에 외부 지식을 제공하는 방법입니다. 먼저 문서를 작은 조각으로 "
          "나누고 각 조각을 벡터로 변환하여 색인에 저장합니다. 질문이 들어오면 비슷한 조각을 찾아 "
          "프롬프트에 추가합니다.",
    "fr": "La génération augmentée par récupération permet à un modèle de langage de répondre à partir "
          "de vos propres documents. Le texte est découpé en fragments, chaque fragment est converti "
          "en vecteur et stocké dans un index.",
    "de": "Die abrufgestützte Generierung erlaubt es einem Sprachmodell, Fragen anhand eigener Dokumente "
          "zu beantworten. Der Text wird in Abschnitte zerlegt, jeder Abschnitt wird in einen Vektor "
          "umgewandelt und in einem Index gespeichert.",
    "es": "La generación aumentada por recuperación permite que un modelo de lenguaje responda con tus "
          "propios documentos. El texto se divide en fragmentos, cada fragmento se convierte en un "
          "vector y se guarda en un índice.",
    "el": "Η ανάκτηση πληροφοριών επιτρέπει σε ένα γλωσσικό μοντέλο να απαντά με βάση τα δικά σας "
          "έγγραφα. Το κείμενο χωρίζεται σε τμήματα και κάθε τμήμα μετατρέπεται σε διάνυσμα.",
    "zh-Hant": "檢索增強生成讓語言模型能夠根據你自己的文件回答問題。文字會被切成片段，每個片段轉換成向量並存入索引。",
}


def windows(text: str, size: int = WINDOW) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size) if text[i:i + size].strip()]


def corpus_windows(corpus: Path) -> dict[str, list[str]]:
    """The same windows tests/test_tokens.py checks: each file's text cut every 300 characters."""
    from pypdf import PdfReader

    chunks: dict[str, list[str]] = {}
    for path in sorted(corpus.iterdir()):
        if path.suffix.lower() == ".md":
            text = path.read_text(encoding="utf-8")
        elif path.suffix.lower() == ".pdf":
            text = "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)
        else:
            continue
        chunks[path.name] = windows(text)
    return chunks


def package_doc_windows(limit: int = 400) -> list[str]:
    """English prose, Markdown and code from the long descriptions of installed packages."""
    chunks: list[str] = []
    for dist in sorted(metadata.distributions(), key=lambda d: d.metadata["Name"] or ""):
        chunks += windows(dist.metadata.get_payload() or "")
    step = max(1, len(chunks) // limit)
    return chunks[::step][:limit]


def errors(estimator: TokenCounter, qwen: QwenTokenCounter, chunks: list[str]) -> dict[str, float]:
    est = [estimator.count(c) for c in chunks]
    real = [qwen.count(c) for c in chunks]
    rel = [abs(e - r) / r for e, r, c in zip(est, real, chunks, strict=True) if len(c) >= MIN_CHARS and r]
    return {
        "chunks": len(chunks), "chars": sum(map(len, chunks)), "real": sum(real), "est": sum(est),
        "aggregate": abs(sum(est) - sum(real)) / sum(real),
        "mean_abs": statistics.fmean(rel), "p90": sorted(rel)[int(0.9 * (len(rel) - 1))], "max": max(rel),
    }


def microseconds_per_count(counter: TokenCounter, chunks: list[str], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for chunk in chunks:
            counter.count(chunk)
        best = min(best, (time.perf_counter() - started) / len(chunks))
    return best * 1e6


def fit(qwen: QwenTokenCounter, chunks: list[str]) -> dict[str, float]:
    """Non-negative least squares over Qwen's own pre-token pieces, each priced exactly."""
    import numpy as np
    from scipy.optimize import nnls

    qwen.load()
    pre = qwen._tokenizer.pre_tokenizer  # noqa: SLF001 - the benchmark may look inside
    free = [n for n in COEFFICIENTS if n not in HELD]
    rows, target = [], []
    for chunk in chunks:
        for _, (start, end) in pre.pre_tokenize_str(chunk):
            piece = chunk[start:end]
            f = EstimatingTokenCounter.features(piece)
            rows.append([f[n] for n in free])
            target.append(qwen.count(piece) - sum(COEFFICIENTS[n] * f[n] for n in HELD))
    solution, _ = nnls(np.array(rows, dtype=float), np.array(target, dtype=float))
    fitted = dict(COEFFICIENTS)
    fitted.update({n: round(float(v), 3) for n, v in zip(free, solution, strict=True)})
    return fitted


def show(label: str, e: dict[str, float]) -> None:
    print(f"{label:28s} {e['chunks']:4d} windows {e['chars']:7d} chars  real {e['real']:6d}  est {e['est']:6d}  "
          f"aggregate {e['aggregate']:6.2%}  per-window mean {e['mean_abs']:6.2%}  p90 {e['p90']:6.2%}  "
          f"max {e['max']:6.2%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    parser.add_argument("--fit", action="store_true", help="refit the estimator's coefficients and print them")
    args = parser.parse_args()

    qwen = QwenTokenCounter()
    started = time.perf_counter()
    qwen.load()
    print(f"Qwen tokenizer load: {time.perf_counter() - started:.2f} s")
    estimator = EstimatingTokenCounter()
    by_file = corpus_windows(args.corpus) if args.corpus.is_dir() else {}
    corpus = [c for chunks in by_file.values() for c in chunks]
    english = package_doc_windows()
    if args.fit:
        half = len(english) // 2  # fit on half the package docs, so the other half stays unseen
        fitted = fit(qwen, corpus + english[:half])
        print(f"fitted on the corpus and {half} package-doc windows (held: {', '.join(sorted(HELD))}):")
        for n, v in fitted.items():
            print(f"  {n:18s} {v:6.3f}   (shipped {COEFFICIENTS[n]})")
        print("leave one corpus file out (fit on the rest, score the file left out):")
        for name, chunks in by_file.items():
            rest = [c for other, cs in by_file.items() if other != name for c in cs]
            show("  " + name, errors(EstimatingTokenCounter(fit(qwen, rest + english[:half])), qwen, chunks))
        estimator = EstimatingTokenCounter(fitted)
        english = english[half:]

    print(f"\nestimator vs Qwen tokenizer ({WINDOW}-char windows; per-window errors over windows >= {MIN_CHARS} chars)")
    if by_file:
        for name, chunks in by_file.items():
            show("  " + name, errors(estimator, qwen, chunks))
        show("corpus, all files", errors(estimator, qwen, corpus))
    else:
        print(f"(no corpus at {args.corpus})")
    show("package docs (en)", errors(estimator, qwen, english))
    print("other languages, one paragraph each:")
    for lang, text in OTHER_LANGUAGES.items():
        real, est = qwen.count(text), estimator.count(text)
        print(f"  {lang:8s} {len(text):4d} chars  real {real:4d}  est {est:4d}  error {(est - real) / real:+7.1%}")

    sample = corpus or english
    uncached = QwenTokenCounter(cache_entries=0)
    print(f"\nmicroseconds per count, {len(sample)} windows of <= {WINDOW} chars (best of 3):")
    print(f"  qwen (uncached)  {microseconds_per_count(uncached, sample):7.1f}")
    print(f"  qwen (cache hit) {microseconds_per_count(qwen, sample):7.1f}")
    print(f"  estimate         {microseconds_per_count(estimator, sample):7.1f}")


if __name__ == "__main__":
    main()
