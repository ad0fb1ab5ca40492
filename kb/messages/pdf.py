"""Messages of reading PDFs and of turning a file into chunks (kb/ingest/loaders.py PDF part, kb/ingest.prepare)."""

MESSAGES: dict[str, tuple[str, str]] = {
    "ingest.nothing_extracted": ("无法从文件中提取任何文字：没有可索引的内容", "no text could be extracted from the file: nothing to index"),
    "pdf.encrypted_method": ("PDF 使用了此处无法打开的加密方式（{reason}）：请另存一份未加密的副本再试",
                             "the PDF is encrypted with a method that cannot be opened here ({reason}): save an "
                             "unencrypted copy and try again"),
    "pdf.password": ("PDF 有密码保护：请另存一份没有密码的副本（例如“打印为 PDF”）再试",
                     "the PDF is password-protected: save a copy without a password (e.g. print it to PDF) and try "
                     "again"),
    "pdf.unreadable": ("PDF 无法读取（{error}）；文件可能已损坏或不完整：请重新下载或重新导出",
                       "the PDF cannot be read ({error}); it may be damaged or truncated: re-download or re-export it"),
    "pdf.no_pages": ("PDF 没有任何页面", "the PDF has no pages"),
    "pdf.too_slow": ("读取 PDF 超过 {limit} 秒（第 {page} 页，共 {pages} 页）：文件可能有问题，请拆分或重新导出",
                     "reading the PDF took longer than {limit} s (page {page} of {pages}): the file may be "
                     "malformed; split or re-export it"),
    "pdf.scanned": ("PDF 没有文字层（空白页或扫描件），OCR 也没有在页面图像中识别出文字：请检查页面不是空白的、扫描清晰可读",
                    "the PDF has no text layer (blank or scanned pages) and OCR found no text in its page images: "
                    "check that the pages are not blank and the scan is legible"),
    "pdf.over_limits": (
        "PDF 的 {pages} 页中没有一页能读出文字：{failed} 页超出了 PDF 读取库的限制或内容流损坏（{error}）。"
        "这不是扫描件：请用其他工具重新导出（例如“打印为 PDF”）或拆分后再上传",
        "none of the PDF's {pages} pages could be read: {failed} page(s) exceed the PDF library's limits or have "
        "broken content streams ({error}). It is not a scan: re-export it (e.g. print it to PDF) or split it, "
        "then upload again"),
}
