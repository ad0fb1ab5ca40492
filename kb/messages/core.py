"""Messages of the knowledge base itself: names, opening, listing, ingest batches."""

MESSAGES: dict[str, tuple[str, str]] = {
    "kb.name_invalid": (
        "“{name}” 不是有效的知识库名称：请使用字母、数字、- 和 _（最多 64 个字符）",
        "'{name}' is not a valid knowledge base name: use letters, digits, - and _ (up to 64 characters)"),
    "kb.not_found": (
        "{folder} 中没有知识库 “{name}”：导入文件即可创建，例如 `python -m kb ingest FILES --kb {name}`",
        "There is no knowledge base '{name}' in {folder}: create it by ingesting files, e.g. "
        "`python -m kb ingest FILES --kb {name}`"),
    "kb.deleted": (
        "知识库 “{name}” 已被删除（在另一个窗口或命令行中）。请选择另一个知识库，或新建一个。",
        "Knowledge base '{name}' was deleted (in another window or from the command line). Choose another "
        "knowledge base, or create a new one."),
    "kb.question_empty": ("问题是空的：请输入要查找的内容", "The question is empty: type what you are looking for"),
    "kb.document_not_found": (
        "知识库 “{kb}” 中没有文档 “{key}”：用 `python -m kb docs --kb {kb}` 查看文档列表",
        "No document '{key}' in knowledge base '{kb}': see `python -m kb docs --kb {kb}`"),
    "kb.original_missing_kept": (
        "{file} 的原始文件已不在知识库中，分块保持原样；要按新设置重新分块，请重新导入该文件",
        "the stored original of {file} is missing, so its chunks were kept as they are; ingest the file again "
        "to re-chunk it with the new settings"),
    "batch.duplicate_name": (
        "同一批文件中出现了两次这个文件名：只导入了第一个；请给其中一个改名",
        "the same file name appears twice in this batch: only the first was ingested; rename one of them"),
    "batch.too_large": (
        "文件大小为 {mb} MB，超过 {limit} MB 的上限：请拆分文件，或在 config.toml 中调大 [storage] max_file_mb",
        "the file is {mb} MB, over the {limit} MB limit: split it, or raise [storage] max_file_mb in config.toml"),
    # curating chunks by hand (kb/curate/chunks.py)
    "curate.chunk_not_found": (
        "知识库 “{kb}” 中没有 id 为 “{id}” 的分块：用 `python -m kb chunks --kb {kb} --json` 查看分块 id",
        "No chunk with id '{id}' in knowledge base '{kb}': see the ids with `python -m kb chunks --kb {kb} --json`"),
    "curate.text_empty": (
        "分块文本是空的：什么也没有改。请写入分块的新内容（要让它不再被检索到，请停用它）",
        "The chunk text is empty: nothing was changed. Write the chunk's new text (to keep it out of answers, "
        "disable it instead)"),
    "curate.text_too_long": (
        "分块文本有 {chars} 个字符，超过 {limit} 的上限：什么也没有改。较长的内容请作为文档导入",
        "The chunk text has {chars} characters, over the {limit} limit: nothing was changed. Ingest longer text "
        "as a document"),
    "curate.text_unchanged": (
        "新文本与分块 {id} 现在的文本相同：什么也没有改",
        "The new text is the same as chunk {id}'s current text: nothing was changed"),
    "curate.review_needed": (
        "{file} 已改动：{n} 个手工编辑过的分块的原文已不在新文件中，已保留并标记为待复核（在“分块”页查看）",
        "{file} changed: the original text of {n} hand-edited chunk(s) is gone from the new file; they were kept "
        "and flagged for review (see the Chunks page)"),
    # the Chunks page's curation controls (pages/chunks.py)
    "page.chunks.disabled_note": ("此分块已停用：它不会被检索到，也不会出现在回答的来源中",
                                  "This chunk is disabled: it is never retrieved or cited"),
    "page.chunks.review_note": ("原文件已改动，此分块编辑时依据的原文已不在新文件中：请复核后再保存或停用",
                                "The file changed and the text this edit was made from is gone: review it, then "
                                "save or disable it"),
    "page.chunks.edit_label": ("编辑分块文本（保存后重新嵌入）", "Edit the chunk text (re-embedded on save)"),
    "page.chunks.save": ("保存修改", "Save edit"),
    "page.chunks.saved": ("已保存并重新嵌入", "Saved and re-embedded"),
    "page.chunks.disable": ("停用", "Disable"),
    "page.chunks.enable": ("启用", "Enable"),
    "page.chunks.add_title": ("给 {file} 添加一个分块", "Add a chunk to {file}"),
    "page.chunks.add_label": ("分块文本（例如一组问答）", "Chunk text (for example a question and its answer)"),
    "page.chunks.add": ("添加分块", "Add chunk"),
    "page.chunks.ocr_badge": ("OCR 识别 · 置信度 {confidence}", "OCR · confidence {confidence}"),
    "page.chunks.ocr_badge_none": ("OCR 识别", "OCR"),
    "page.chunks.ocr_low": (
        "第 {page} 页的 OCR 置信度为 {confidence}，低于 {threshold}（config.toml 的 [ocr] low_confidence）："
        "请对照右边的页面图片核对文字，必要时编辑此分块",
        "OCR confidence on page {page} is {confidence}, below {threshold} ([ocr] low_confidence in config.toml): "
        "check the text against the page image beside it, and edit this chunk if needed"),
    "page.chunks.thumbnail": ("{file} 第 {page} 页", "{file}, page {page}"),
    # page images beside OCR chunks (kb/ingest/formats/thumbnails.py)
    "thumbnail.no_page_image": ("{file} 不是 PDF 或图片，没有页面图片", "{file} is not a PDF or an image: it has no page image"),
    "thumbnail.no_such_page": ("{file} 没有第 {page} 页（共 {pages} 页）", "{file} has no page {page} (it has {pages})"),
    "thumbnail.no_original": (
        "{file} 的原始文件不在知识库中或已损坏，无法显示页面图片：请重新导入该文件",
        "the stored original of {file} is missing or damaged, so its page image cannot be shown: ingest the "
        "file again"),
    "thumbnail.too_large": (
        "{file} 的图片太大（{size}，上限 {limit_mp} 百万像素），不生成缩略图",
        "the image of {file} is too large for a thumbnail ({size}, over {limit_mp} megapixels)"),
    "thumbnail.unreadable": (
        "无法生成 {file} 的页面图片（{reason}）：原始文件可能已损坏，运行 `python -m kb check` 检查",
        "cannot draw the page image of {file} ({reason}): the stored original may be damaged; run "
        "`python -m kb check`"),
    # back up and restore (kb/curate/archive.py)
    "archive.not_found": ("找不到备份文件 {path}", "There is no archive file {path}"),
    "archive.unreadable": (
        "无法读取备份文件 {path}（{reason}）：文件可能不完整或已损坏；什么也没有导入",
        "Cannot read the archive {path} ({reason}): it may be truncated or damaged; nothing was imported"),
    "archive.write_failed": ("无法写入备份文件 {path}（{reason}）", "Cannot write the archive {path} ({reason})"),
    "archive.snapshot_failed": ("无法为备份读取数据库 {path}（{reason}）：什么也没有写入",
                                "Cannot read the database {path} for the backup ({reason}): nothing was written"),
    "archive.chats_bad": ("备份文件 {path} 中的对话记录无法打开（{reason}）：已拒绝，什么也没有写入",
                          "The conversations in the archive {path} cannot be opened ({reason}): refused, nothing "
                          "was written"),
    "archive.unsafe_name": (
        "备份文件 {path} 中有不安全的成员名 “{member}”（绝对路径或 `..`）：已拒绝，什么也没有写入",
        "The archive {path} holds an unsafe member name '{member}' (absolute or with `..`): refused, nothing "
        "was written"),
    "archive.not_a_file": (
        "备份文件 {path} 中的 “{member}” 不是普通文件（链接或设备）：已拒绝，什么也没有写入",
        "'{member}' in the archive {path} is not a regular file (a link or device): refused, nothing was written"),
    "archive.duplicate": ("备份文件 {path} 中 “{member}” 出现了两次：已拒绝",
                          "'{member}' appears twice in the archive {path}: refused"),
    "archive.no_manifest": ("{path} 不是 KB Studio 的备份：缺少 archive.json",
                            "{path} is not a KB Studio archive: archive.json is missing"),
    "archive.manifest_bad": ("备份文件 {path} 的 archive.json 无效（{reason}）",
                             "The archive.json of {path} is invalid ({reason})"),
    "archive.unlisted": ("备份文件 {path} 中的 “{member}” 不在清单中：已拒绝，什么也没有写入",
                         "'{member}' in the archive {path} is not in its manifest: refused, nothing was written"),
    "archive.member_missing": (
        "备份文件 {path} 缺少 “{member}”（文件不完整？）：什么也没有导入",
        "The archive {path} lacks '{member}' (truncated?): nothing was imported"),
    "archive.checksum": (
        "备份文件 {path} 中 “{member}” 的校验值不符（文件被改动或损坏）：什么也没有导入",
        "The checksum of '{member}' in the archive {path} does not match (changed or damaged): nothing was "
        "imported"),
    "archive.newer": (
        "备份文件 {path} 来自较新的 KB Studio（格式 {version}，本版本最多支持 {supported}）：请先升级",
        "The archive {path} was made by a newer KB Studio (format {version}; this version reads up to "
        "{supported}): upgrade first"),
    "archive.name_taken": (
        "已经有名为 “{name}” 的知识库：什么也没有改。请用 `--as 新名称` 导入为另一个知识库",
        "A knowledge base named '{name}' already exists: nothing was changed. Import it under another name "
        "with `--as NEW_NAME`"),
    "archive.embedder_differs": (
        "备份文件 {path} 是用嵌入模型 {built} 建立的，而当前配置为 {configured}：请加上 `--rebuild` 导入并重新嵌入，"
        "或改用相同的嵌入模型",
        "The archive {path} was built with the embedder {built}, and {configured} is configured: import it with "
        "`--rebuild` to re-embed it, or configure the same embedder"),
    # the Overview page's backup controls (pages/overview.py)
    "page.overview.backup": ("备份与恢复", "Back up and restore"),
    "page.overview.prepare_download": ("生成备份", "Make a backup"),
    "page.overview.download": ("下载备份", "Download the backup"),
    "page.overview.upload": ("从备份恢复（.tar）", "Restore from a backup (.tar)"),
    "page.overview.as_name": ("导入为（留空则用原名称）", "Import as (empty: the original name)"),
    "page.overview.rebuild": ("嵌入模型不同时重新嵌入", "Re-embed if the embedder differs"),
    "page.overview.restore": ("恢复", "Restore"),
    "page.overview.restored": ("已恢复知识库 “{kb}”：{docs} 个文档，{chunks} 个分块",
                               "Restored knowledge base '{kb}': {docs} document(s), {chunks} chunk(s)"),
    # folder sync (kb/curate/sync.py)
    "sync.folder_missing": ("文件夹 {folder} 不存在（或不是文件夹）：什么也没有改",
                            "The folder {folder} does not exist (or is not a folder): nothing was changed"),
    "sync.cannot_read_folder": ("无法读取文件夹 {path}（{reason}），已跳过：它可能在同步过程中被删除或移走",
                                "Cannot read the folder {path} ({reason}); skipped: it may have been removed or "
                                "moved during the sync"),
    "sync.cannot_read_file": ("无法读取文件 {path}（{reason}），已跳过", "Cannot read the file {path} ({reason}); skipped"),
    "sync.symlink_loop": ("{path} 是指回已扫描文件夹（{target}）的符号链接：为避免循环未进入",
                          "{path} is a symbolic link back to a folder already scanned ({target}): not entered, "
                          "to avoid a loop"),
    "sync.too_many": (
        "文件夹 {folder} 中的文件超过 {limit} 个：什么也没有改。请分别同步其中的子文件夹",
        "The folder {folder} holds more than {limit} files: nothing was changed. Sync its sub-folders one at a "
        "time"),
    "sync.duplicate": ("{file} 与 {same_as} 内容相同：只保存一份", "{file} has the same content as {same_as}: stored once"),
    "sync.prune_held": ("文件夹 {folder} 在同步过程中不见了：{name} 没有删除（文件夹回来后再同步一次）",
                        "The folder {folder} went away during the sync: {name} was not removed (sync again once it is back)"),
    "sync.not_done": ("已取消：这一项（{action}）没有执行", "Cancelled: this one ({action}) was not done"),
    "sync.changed_meanwhile": ("{path} 在同步过程中被修改：这次没有导入，请再同步一次",
                               "{path} changed during the sync: not ingested this time; sync again"),
    # the Upload page's folder sync (pages/upload.py)
    "page.sync.title": ("同步文件夹", "Sync a folder"),
    "page.sync.folder": ("本机上的文件夹路径", "A folder path on this machine"),
    "page.sync.prune": ("删除文件夹中已没有的文档", "Remove documents the folder no longer holds"),
    "page.sync.dry_run": ("预览变化", "Preview changes"),
    "page.sync.run": ("同步", "Sync"),
    "page.sync.cancel": ("取消", "Cancel"),
    "page.sync.summary": (
        "新增 {add}，替换 {replace}，未变 {unchanged}，删除 {remove}，重复 {duplicate}，跳过 {skipped}，失败 {failed}，"
        "未完成 {not_done}（{seconds} 秒）",
        "{add} added, {replace} replaced, {unchanged} unchanged, {remove} removed, {duplicate} duplicate, "
        "{skipped} skipped, {failed} failed, {not_done} not done ({seconds} s)"),
    "page.sync.summary_dry": (
        "预览（什么也没有改）：将新增 {add}，替换 {replace}，删除 {remove}；未变 {unchanged}，重复 {duplicate}，跳过 {skipped}",
        "Preview (nothing changed): would add {add}, replace {replace}, remove {remove}; {unchanged} unchanged, "
        "{duplicate} duplicate, {skipped} skipped"),
    "batch.not_done": ("已取消：这个文件没有导入（已导入的文件保留）",
                       "cancelled: this file was not ingested (the files already ingested stay)"),
    # personal eval set and digest (kb/search/questions.py, kb/curate/digest.py)
    "eval.personal_empty": (
        "知识库 “{kb}” 还没有自己的问题集：在“检索”页的结果上点“这是正确的分块”来添加问题",
        "Knowledge base '{kb}' has no question set of its own yet: add questions with \"this is the right chunk\" "
        "on a result of the Retrieval page"),
    "digest.since_invalid": ("“{value}” 不是有效的时间范围：请写成 30m、24h、7d 或 2w",
                             "'{value}' is not a valid time span: write it as 30m, 24h, 7d or 2w"),
    "digest.no_model": ("Ollama 没有回应：摘要改用各文档的第一个标题",
                        "Ollama did not answer: each document's first heading is shown instead of a summary"),
    "page.overview.digest": ("最近 24 小时：{n} 个文档有变化，{edits} 次手工编辑",
                             "The last 24 hours: {n} document(s) changed, {edits} hand edit(s)"),
    "page.overview.digest_line": ("- {at} · {action} · **{file}** — {summary}", "- {at} · {action} · **{file}** — {summary}"),
}
