"""Messages of the shared store (PostgreSQL + pgvector, kb/store/pg/) and of `kb migrate`."""
from kb.messages.config import _value

MESSAGES: dict[str, tuple[str, str]] = {
    "config.rule.storage.backend": _value("必须是 \"sqlite\" 或 \"postgres\"", "must be \"sqlite\" or \"postgres\""),
    "config.rule.storage.url": _value(
        "backend = \"postgres\" 时需要 postgresql://… 地址（[storage] url 或环境变量 KB_STORAGE_URL）",
        "a postgresql://… URL is needed with backend = \"postgres\" ([storage] url or KB_STORAGE_URL)"),
    "config.rule.storage.pg_ef_search": _value("必须在 10 到 1000 之间", "must be between 10 and 1000"),
    "pg.driver_missing": (
        "未安装 PostgreSQL 驱动（{reason}）：运行 `pip install -r requirements.txt`",
        "The PostgreSQL driver is not installed ({reason}): run `pip install -r requirements.txt`"),
    "pg.unreachable": (
        "无法连接 PostgreSQL 服务器 {url}（{reason}）：请确认服务器已启动、地址和密码正确（[storage] url 或 "
        "KB_STORAGE_URL）",
        "Cannot connect to the PostgreSQL server at {url} ({reason}): check that it is running and that the "
        "address and password are right ([storage] url or KB_STORAGE_URL)"),
    "pg.vector_unavailable": (
        "服务器 {url} 上没有安装 pgvector 扩展：请在服务器上安装 pgvector（例如 Debian/Ubuntu 的 "
        "`postgresql-18-pgvector` 软件包，或使用 pgvector/pgvector 容器），然后执行 `CREATE EXTENSION vector;`",
        "The pgvector extension is not installed on the server at {url}: install pgvector there (e.g. the "
        "Debian/Ubuntu package `postgresql-18-pgvector`, or the pgvector/pgvector container), then run "
        "`CREATE EXTENSION vector;`"),
    "pg.vector_privilege": (
        "服务器 {url} 上还没有启用 vector 扩展，而当前用户无权启用（{reason}）：请数据库管理员在该数据库中执行 "
        "`CREATE EXTENSION vector;`",
        "The vector extension is not enabled on {url} and this user may not enable it ({reason}): ask the "
        "database administrator to run `CREATE EXTENSION vector;` in this database"),
    "pg.schema_privilege": (
        "当前用户无权在 {url} 上创建表（{reason}）：请授予该用户在此数据库中的 CREATE 权限，例如 "
        "`GRANT CREATE ON DATABASE kb TO kb_user;`",
        "This user may not create tables on {url} ({reason}): grant it CREATE on the database, e.g. "
        "`GRANT CREATE ON DATABASE kb TO kb_user;`"),
    "pg.kb_exists": (
        "服务器 {url} 上已经有名为 “{kb}” 的知识库：换一个名字（`--as`），或先用 `python -m kb remove --kb {kb}` "
        "删除它",
        "The server at {url} already has a knowledge base named '{kb}': choose another name (`--as`) or remove it "
        "first with `python -m kb remove --kb {kb}`"),
    "pg.query_failed": (
        "读取知识库 “{kb}” 时数据库出错：{reason}",
        "The database failed while reading knowledge base '{kb}': {reason}"),
    "pg.same_backend": (
        "知识库已经在 {backend} 存储里了：`kb migrate --to` 需要另一种存储",
        "The knowledge base is already in the {backend} store: `kb migrate --to` needs the other one"),
    "pg.migrate_source_damaged": (
        "知识库 “{kb}” 的检查没有通过，未复制任何内容：先运行 `python -m kb check --kb {kb}` 和 "
        "`python -m kb repair --kb {kb}`",
        "Knowledge base '{kb}' does not pass its check, nothing was copied: run `python -m kb check --kb {kb}` and "
        "`python -m kb repair --kb {kb}` first"),
    "pg.migrate_mismatch": (
        "复制到 PostgreSQL 的知识库 “{kb}” 与原知识库不一致（{what}）：已删除不完整的副本，请重试",
        "The copy of knowledge base '{kb}' in PostgreSQL differs from the original ({what}): the incomplete copy "
        "was removed; try again"),
    "cli.help.migrate": ("把知识库复制到 PostgreSQL 共享存储并校验", "copy a knowledge base into the PostgreSQL shared store, verified"),
    "cli.help.migrate_to": ("目标存储（postgres）", "the target store (postgres)"),
    "cli.help.migrate_url": ("PostgreSQL 地址（默认取 [storage] url 或 KB_STORAGE_URL）",
                             "the PostgreSQL URL (default: [storage] url or KB_STORAGE_URL)"),
    "cli.migrate.done": (
        "已把知识库 “{kb}” 复制到 {target}：{docs} 个文档、{chunks} 个片段、{originals} 个原始文件，检查通过。"
        "要使用它，请设置 [storage] backend = \"postgres\"",
        "Copied knowledge base '{kb}' to {target}: {docs} documents, {chunks} chunks, {originals} originals; "
        "the check passed. To use it, set [storage] backend = \"postgres\""),
    "pg.command_unsupported": (
        "`python -m kb {command}` 目前只适用于内置存储（backend = \"sqlite\"）；共享存储上请用 `python -m kb reindex` "
        "重新切分和嵌入，用 `python -m kb check` 检查",
        "`python -m kb {command}` works on the embedded store only (backend = \"sqlite\") for now; on the shared "
        "store use `python -m kb reindex` to re-chunk and re-embed, and `python -m kb check` to verify"),
    # check on PostgreSQL
    "check.pg_chunk_count": ("文档 {file} 记录的片段数与实际片段数不一致",
                             "Document {file} records a different number of chunks than it has"),
    "check.pg_vector_count": ("有 {chunks} 个片段，却有 {vectors} 个向量",
                              "{chunks} chunks but {vectors} vectors"),
    "check.pg_content_hash": ("{n} 个片段的内容与其哈希不符（第一个：{first}）",
                              "{n} chunks do not match their content hash (first: {first})"),
    "check.pg_vector_dim": ("{n} 个向量的维度不是 {dim}", "{n} vectors do not have dimension {dim}"),
    "check.pg_vector_norm": ("{n} 个向量不是单位长度", "{n} vectors are not unit length"),
    "check.pg_live_flags": ("{n} 个片段的启用状态与人工整理记录不一致",
                            "{n} chunks are enabled or disabled against their curation record"),
    "check.pg_postings": ("{n} 个片段不在关键词索引中", "{n} chunks are missing from the keyword index"),
    "check.pg_keyword_stats": ("关键词索引的词频统计与倒排表不一致（{n} 个词）",
                               "the keyword index's term statistics disagree with its postings ({n} terms)"),
    "check.pg_original_missing": ("文档 {file} 的原始文件不在数据库中",
                                  "The original of document {file} is not in the database"),
    "check.pg_original_damaged": ("文档 {file} 存储的原始文件与其 sha256 不符",
                                  "The stored original of document {file} does not match its sha256"),
    "check.advice_pg_reingest": (
        "重新导入受影响的文件（`python -m kb ingest --kb {kb} …`），或用 `python -m kb migrate` 从备份重新复制",
        "re-ingest the affected files (`python -m kb ingest --kb {kb} …`), or copy it again with "
        "`python -m kb migrate` from a backup"),
}
