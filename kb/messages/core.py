"""Messages of the knowledge base itself: names, opening, listing, ingest batches."""

MESSAGES: dict[str, tuple[str, str]] = {
    "legacy.text": ("{text}", "{text}"),  # TRANSITION: removed once every raise site has a code
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
    # curating chunks by hand (kb/curate.py)
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
}
