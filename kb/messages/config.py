"""Messages of settings and names: config.toml, KB_* variables, command-line values, knowledge-base names."""

MESSAGES: dict[str, tuple[str, str]] = {
    "kb.name_too_long": (
        "知识库名称 “{name}…” 太长：{bytes} 字节（UTF-8），最多 {limit} 字节（约 {chars} 个汉字）。请换一个短一些的名称",
        "The knowledge base name '{name}...' is too long: {bytes} bytes in UTF-8, at most {limit} "
        "(about {chars} Chinese characters). Choose a shorter name"),
    "kb.name_empty": ("知识库名称是空的：请给知识库起个名字，例如 `--kb notes`",
                      "The knowledge base name is empty: give it a name, e.g. `--kb notes`"),
    "config.default_kb_invalid": ("默认知识库名称（[storage] default_kb，来自 {origin}）不可用：{reason}",
                                  "The default knowledge base name ([storage] default_kb, set in {origin}) cannot be "
                                  "used: {reason}"),
}
