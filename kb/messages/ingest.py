"""Messages of ingest: file names, file types, reading and decoding a file (PDF reading has its own)."""

MESSAGES: dict[str, tuple[str, str]] = {
    # file names
    "ingest.name_empty": ("文件名是空的：请给文件起个名字", "the file name is empty: give the file a name"),
    "ingest.name_control": ("文件名中含有控制字符：请重命名文件",
                            "the file name contains control characters: rename the file"),
    "ingest.name_separator": (
        "文件名中含有路径分隔符（/ 或 \\）：请上传文件本身，而不是路径",
        "the file name contains a path separator (/ or \\): upload the file itself, not a path"),
    "ingest.name_invisible": (
        "文件名中含有不可见字符或从右到左的覆盖字符，可能掩盖真实的文件类型：请重命名文件",
        "the file name contains invisible or right-to-left override characters that can disguise its type: "
        "rename the file"),
    "ingest.name_dot": ("文件名以点（.）开头：请重命名文件", "the file name starts with a dot: rename the file"),
    "ingest.name_too_long": (
        "文件名太长：{bytes} 字节（UTF-8），最多 {limit} 字节：请缩短文件名",
        "the file name is longer than {limit} bytes ({bytes} bytes in UTF-8): shorten it"),
    "ingest.unsupported_type": (
        "不支持的文件类型 “{ext}”：KB Studio 可以读取 {supported}",
        "unsupported file type '{ext}': KB Studio reads {supported}"),
    # size and content
    "ingest.too_large": (
        "文件大小为 {size_mb} MB，超过了 {limit_mb} MB 的上限：请拆分文件，或在 config.toml 中调大 [storage] max_file_mb",
        "the file is {size_mb} MB, over the {limit_mb} MB limit: split it, or raise [storage] max_file_mb "
        "in config.toml"),
    "ingest.empty_file": ("文件是空的（0 字节）：没有可索引的内容",
                          "the file is empty (0 bytes): nothing to index"),
    "ingest.whitespace_only": ("文件中只有空白字符：没有可索引的内容",
                               "the file has no text (only whitespace): nothing to index"),
    "ingest.binary_nul": (
        "文件看起来是二进制数据而不是文本（含有 NUL 字节）：请确认它确实是文本或 Markdown 文件",
        "the file looks like binary data, not text (it contains NUL bytes): check that it really is a text or "
        "Markdown file"),
    "ingest.binary": (
        "文件看起来是二进制数据而不是文本：请确认它确实是文本或 Markdown 文件",
        "the file looks like binary data, not text: check that it really is a text or Markdown file"),
    "ingest.undecodable": (
        "无法识别文件的文字编码（试过 UTF-8、UTF-16、自动识别和 GB18030/GBK）：请把它另存为 UTF-8 后再试",
        "the text cannot be decoded (tried UTF-8, UTF-16, detection and GB18030/GBK): save it as UTF-8 and "
        "try again"),
    # reading from disk
    "ingest.cannot_read": ("无法读取文件 {path}：{reason}", "cannot read the file {path}: {reason}"),
    "ingest.not_regular_file.fifo": (
        "{path} 不是普通文件，而是命名管道（FIFO）：只能导入普通文件",
        "{path} is not a regular file but a named pipe (FIFO): only regular files can be ingested"),
    "ingest.not_regular_file.device": (
        "{path} 不是普通文件，而是设备文件：只能导入普通文件",
        "{path} is not a regular file but a device: only regular files can be ingested"),
    "ingest.not_regular_file.socket": (
        "{path} 不是普通文件，而是套接字：只能导入普通文件",
        "{path} is not a regular file but a socket: only regular files can be ingested"),
    "ingest.not_regular_file.directory": (
        "{path} 是文件夹，不是文件：请列出其中的文件，例如 `python -m kb ingest {path}/*.md`",
        "{path} is a folder, not a file: name the files in it, e.g. `python -m kb ingest {path}/*.md`"),
    "ingest.not_regular_file": (
        "{path} 不是普通文件：只能导入普通文件", "{path} is not a regular file: only regular files can be ingested"),
    "ingest.file_changed": (
        "读取 {path} 时文件正在变化（大小从 {before} 变为 {after} 字节）：请等文件写完后再导入",
        "{path} changed while it was read (from {before} to {after} bytes): ingest it again once it is "
        "no longer being written"),
    # Office, spreadsheets, HTML (issue 11)
    "ingest.office_corrupt": (
        "文件已损坏，或不是有效的 Office 文件（{reason}）：请用 Office 或 WPS 打开后重新保存，再上传",
        "the file is damaged or not a valid Office file ({reason}): open it in Office or WPS, save it again "
        "and upload the copy"),
    "ingest.office_encrypted": (
        "文件设置了打开密码（已加密）：请在 Office 中去掉密码后另存一份，再上传",
        "the file is password-protected (encrypted): remove the password in Office, save a copy and upload it"),
    "ingest.zip_too_many_entries": (
        "文件内部包含 {entries} 个条目，超过 {limit} 个的上限，可能是压缩炸弹：请确认文件来源，或拆分后再上传",
        "the file holds {entries} entries, over the limit of {limit}; it may be a zip bomb: check where it "
        "came from, or split it"),
    "ingest.zip_too_large": (
        "文件解压后将有 {size_mb} MB，超过 {limit_mb} MB 的上限，可能是压缩炸弹：请确认文件来源，或拆分后再上传",
        "the file would unpack to {size_mb} MB, over the {limit_mb} MB limit; it may be a zip bomb: check "
        "where it came from, or split it"),
    "ingest.macros_ignored": (
        "这个 {kind} 文件含有宏：只读取了其中的文字，宏不会被执行",
        "this {kind} file contains macros: only its text was read; the macros were not run"),
    "ingest.no_text": ("{kind} 文件中没有可读取的文字：没有可索引的内容",
                       "the {kind} file has no readable text: nothing to index"),
    "ingest.sheet_too_many_rows": (
        "工作表“{sheet}”超过 {limit} 行的上限：请把它拆成几个较小的文件（或另存为几个 CSV）后再导入",
        "the sheet '{sheet}' has more than {limit} rows: split it into smaller files (or several CSVs) "
        "and ingest those"),
    "ingest.sheet_too_many_cells": (
        "工作簿的非空单元格超过 {limit} 个（在工作表“{sheet}”第 {row} 行处达到上限）：请拆分后再导入",
        "the workbook has more than {limit} non-empty cells (reached in sheet '{sheet}' at row {row}): "
        "split it and ingest the parts"),
    "ingest.csv_malformed": ("CSV 文件第 {line} 行格式有误（{reason}）：请检查引号和分隔符",
                             "the CSV file is malformed at line {line} ({reason}): check its quotes and "
                             "delimiters"),
    # images and OCR (issue 11)
    "ingest.image_too_large": (
        "图片约有 {megapixels} 百万像素（{size}），超过 {limit_mp} 百万像素的上限（可能是解压炸弹）：请缩小图片后再上传",
        "the image has about {megapixels} megapixels ({size}), over the {limit_mp}-megapixel limit (it may be a "
        "decompression bomb): scale it down and upload it again"),
    "ingest.image_corrupt": ("图片已损坏或格式无法识别（{reason}）：请重新导出为 PNG 或 JPEG",
                             "the image is damaged or of an unknown format ({reason}): export it again as PNG or JPEG"),
    "ingest.image_no_text": ("图片中没有识别出文字（OCR）：没有可索引的内容",
                             "no text was recognised in the image (OCR): nothing to index"),
    "ingest.ocr_cancelled": (
        "已取消：OCR 读到第 {page}/{total} 页时停止，这个文件没有导入（已导入的文件保留）",
        "cancelled: OCR stopped at page {page} of {total}; this file was not ingested (the files already "
        "ingested stay)"),
    "ingest.ocr_low_confidence": (
        "第 {pages} 页的 OCR 识别置信度较低：请核对这些页的文字，或上传更清晰的扫描件",
        "OCR confidence is low on page(s) {pages}: check their text, or upload a sharper scan"),
}
