"""Messages of storage: the database and its files, the writer lock, check and repair."""

MESSAGES: dict[str, tuple[str, str]] = {
    # opening and writing
    "store.lock_timeout": (
        "知识库 “{kb}” 正在被另一个写操作占用，已等待 {seconds} 秒：请等它完成后再试",
        "Knowledge base '{kb}' has been busy with another write for {seconds} s: wait for it to finish and try "
        "again"),
    "store.cannot_write": (
        "无法写入知识库 “{kb}”（{reason}）：请检查 {folder} 的权限和磁盘空间",
        "Cannot write to knowledge base '{kb}' ({reason}): check the permissions of {folder} and free disk space"),
    "store.read_only": (
        "知识库 “{kb}” 以只读方式打开（{folder} 不可写）：请检查文件夹权限或磁盘空间；搜索仍可使用",
        "Knowledge base '{kb}' is open read-only ({folder} cannot be written): check the folder's permissions or "
        "free disk space; searching still works"),
    "store.closed": ("知识库 “{kb}” 已关闭", "Knowledge base '{kb}' is closed"),
    "store.manifest_missing": (
        "知识库 “{kb}” 缺少 manifest.json（{path}）：运行 `python -m kb repair --kb {kb}` 修复",
        "Knowledge base '{kb}' has no manifest.json ({path}): run `python -m kb repair --kb {kb}`"),
    "store.manifest_damaged": (
        "知识库 “{kb}” 的 manifest.json 已损坏（{reason}）：运行 `python -m kb repair --kb {kb}` 修复",
        "The manifest of knowledge base '{kb}' is damaged ({reason}): run `python -m kb repair --kb {kb}`"),
    "store.format_newer": (
        "知识库 “{kb}” 的格式版本是 {version}，本程序只能读取 {supported} 及更早的版本：请升级 KB Studio",
        "Knowledge base '{kb}' has format version {version}; this KB Studio reads up to {supported}: upgrade "
        "KB Studio"),
    "store.embedder_mismatch": (
        "知识库 “{kb}” 是用嵌入模型 {built} 建立的，但当前配置的是 {configured}。请把 [embedder] name 改回去，"
        "或用 `python -m kb rebuild --kb {kb}` 全部重新嵌入",
        "Knowledge base '{kb}' was built with the embedder {built} but {configured} is configured. Either set "
        "[embedder] name back, or re-embed everything with `python -m kb rebuild --kb {kb}`"),
    "store.query_dim": (
        "查询向量的维度是 {dim}，而索引是 {expected}：嵌入模型与知识库不一致",
        "The query vector has {dim} dimensions but the index has {expected}: the embedder does not match the "
        "knowledge base"),
    "store.disk_full": (
        "保存知识库 “{kb}” 时磁盘已满（{action}）：请清理磁盘空间后重试。没有任何内容被更改",
        "The disk is full while {action} in knowledge base '{kb}': free some space and try again. Nothing was "
        "changed"),
    "store.disk_read_only": (
        "无法写入知识库 “{kb}”（{action}）：数据文件夹是只读的，请检查权限。没有任何内容被更改",
        "Could not write knowledge base '{kb}' while {action}: the data folder is read-only, check its "
        "permissions. Nothing was changed"),
    "store.write_failed": (
        "写入知识库 “{kb}” 失败（{action}：{reason}）：请检查磁盘和文件夹权限。没有任何内容被更改",
        "Could not write knowledge base '{kb}' while {action} ({reason}): check the disk and the folder's "
        "permissions. Nothing was changed"),
    "store.save_failed": (
        "无法保存 {file}（{reason}）；知识库保持原来的状态",
        "{file} could not be saved ({reason}); the knowledge base keeps its previous state"),
    "store.vectors_damaged": (
        "知识库 “{kb}” 中有 {n} 个向量已损坏：运行 `python -m kb repair --kb {kb}` 修复",
        "{n} vector(s) of knowledge base '{kb}' are damaged: run `python -m kb repair --kb {kb}`"),
    "store.disk_full_read": (
        "存放知识库 “{kb}” 的磁盘已满（{path}），连读取都无法进行：请清理一些磁盘空间后重试。内容没有丢失",
        "The disk holding knowledge base '{kb}' is full ({path}), so it cannot even be read: free some space "
        "and try again. Nothing is lost"),
    "store.db_missing": (
        "知识库 “{kb}” 的数据库文件不见了（{path}）",
        "The database of knowledge base '{kb}' is missing ({path})"),
    "store.db_empty": (
        "知识库 “{kb}” 的数据库是空的（{path}），但文件夹里还有导入过的原始文件",
        "The database of knowledge base '{kb}' is empty ({path}) while stored originals are still there"),
    "store.db_damaged": (
        "知识库 “{kb}” 的数据库已损坏（{reason}）",
        "The database of knowledge base '{kb}' is damaged ({reason})"),
    # check: what is wrong
    "check.sqlite_integrity": ("SQLite 完整性检查失败：{detail}", "SQLite's integrity check failed: {detail}"),
    "check.manifest_differs": (
        "manifest.json 中的 {key}（{manifest}）与数据库（{database}）不一致",
        "manifest.json says {key} is {manifest}, the database says {database}"),
    "check.orphan_chunks": ("{n} 个分块不属于任何文档", "{n} chunk(s) belong to no document"),
    "check.chunks_without_vector": ("{n} 个分块没有向量", "{n} chunk(s) have no vector"),
    "check.orphan_vectors": ("{n} 个向量不属于任何分块", "{n} vector(s) belong to no chunk"),
    "check.chunk_count": ("文档 {file} 记录的分块数不对", "document {file} has a wrong chunk count"),
    "check.chunk_text_changed": (
        "{file} 的 {n} 个分块文本与其校验值不符（在 KB Studio 之外被修改过）",
        "{n} chunk(s) of {file} no longer match their checksum (changed outside KB Studio)"),
    "check.curation_orphans": (
        "{n} 条手工编辑记录找不到对应的分块", "{n} hand-curation record(s) point to no chunk"),
    "check.curation_text": (
        "{file} 中手工编辑过的分块文本与编辑记录不一致",
        "hand-edited chunks of {file} differ from the text their edit record holds"),
    "check.vectors_bad": (
        "{n} 个向量损坏（长度不是 {dim} 维、含非有限数值，或不是单位长度）",
        "{n} vector(s) are damaged (not {dim} values, not finite, or not unit length)"),
    "check.index_damaged": ("索引文件已损坏（校验值不符）", "the index files are damaged (checksum mismatch)"),
    "check.index_missing": ("索引文件不见了", "the index files are missing"),
    "check.index_stale": ("索引文件落后于数据库", "the index files are behind the database"),
    "check.original_missing": ("{file} 的原始文件不见了", "the stored original of {file} is missing"),
    "check.original_changed": (
        "{file} 的原始文件已被改动（与导入时的校验值不符）",
        "the stored original of {file} was changed (its checksum differs from the ingested file's)"),
    "check.sidecar_missing": ("{file} 的原始文件缺少名称记录", "the stored original of {file} has no name record"),
    "check.memory_vectors": ("内存中的向量索引与数据库不一致", "the vector index in memory differs from the database"),
    "check.memory_keywords": ("内存中的关键词索引与数据库不一致", "the keyword index in memory differs from the database"),
    "check.chats_damaged": ("对话记录数据库已损坏", "the conversations database is damaged"),
    # check: what to do
    "advice.repair": (
        "运行 `python -m kb repair --kb {kb}`（不会丢失内容）",
        "run `python -m kb repair --kb {kb}` (loses nothing)"),
    "advice.repair_restore": (
        "运行 `python -m kb repair --kb {kb}`：它会把损坏的文件移到 damaged/，并从 {originals} 个原始文件恢复",
        "run `python -m kb repair --kb {kb}`: it moves the damaged file to damaged/ and restores from the "
        "{originals} stored original(s)"),
    "advice.recreate": (
        "没有可用于恢复的原始文件：运行 `python -m kb repair --kb {kb}` 得到一个空的知识库（损坏的文件会保留在 "
        "damaged/ 中），然后重新导入文件",
        "no stored originals to restore from: run `python -m kb repair --kb {kb}` for an empty knowledge base "
        "(the damaged file is kept under damaged/), then ingest the files again"),
    "advice.index_on_open": (
        "无需处理：下次打开知识库（任何命令或页面）时会自动重建；也可运行 `python -m kb repair --kb {kb}`",
        "nothing to do: they are rewritten the next time the knowledge base is opened (any command or page); or "
        "run `python -m kb repair --kb {kb}`"),
    "advice.ingest_again": (
        "重新导入该文件：`python -m kb ingest PATH/{file} --kb {kb}`",
        "ingest the file again: `python -m kb ingest PATH/{file} --kb {kb}`"),
    # repair: what was done
    "repair.set_aside": ("已把 {file} 移到 {where}", "moved {file} to {where}"),
    "repair.manifest_rewritten": ("已根据数据库重写 manifest.json", "rewrote manifest.json from the database"),
    "repair.indexes_rewritten": ("已根据数据库重建索引文件", "rewrote the index files from the database"),
    "repair.restore_failed": ("{file} 无法恢复：{reason}", "{file} could not be restored: {reason}"),
    "repair.restored": ("已从原始文件恢复 {file}（{chunks} 个分块）", "restored {file} from its original ({chunks} chunks)"),
    "repair.restored_unnamed": (
        "{file} 的原始文件名已无记录，暂用存储名；可用 `python -m kb delete` 删除后以原名重新导入",
        "the name of {file} was not recorded, so it keeps its stored name; delete it with `python -m kb delete` "
        "and ingest it again under its name"),
    "repair.orphans_removed": ("已删除 {n} 个无主的分块或向量", "removed {n} orphaned chunk(s) or vector(s)"),
    "repair.counts_fixed": ("已更正 {n} 个文档的分块数", "corrected the chunk count of {n} document(s)"),
    "repair.text_unfixable": (
        "{file} 的分块被改动且原始文件已不在：请重新导入该文件",
        "chunks of {file} were changed and its original is gone: ingest the file again"),
    "repair.document_remade": ("已从原始文件重建 {file}", "re-made {file} from its original"),
    "repair.vectors_need_rebuild": (
        "{n} 个向量需要用嵌入模型 {built} 重新计算：请配置该模型后再运行 repair，或运行 `python -m kb rebuild`",
        "{n} vector(s) need re-embedding with {built}: configure it and run repair again, or run "
        "`python -m kb rebuild`"),
    "repair.vectors_reembedded": ("已重新嵌入 {n} 个分块", "re-embedded {n} chunk(s)"),
    "repair.sidecar_written": ("已补写 {file} 的名称记录", "recorded the name of {file}"),
}
