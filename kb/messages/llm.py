"""Messages of chatting, Ollama, the Modelfile, embeddings, chat history and the tokenizer.

`{error}` is always Ollama's (or a library's) own text, carried as a parameter and shown as
text: it is never interpreted, translated or rendered as Markdown. `{call}` is the endpoint
that was being asked (`/api/chat`), the same in both languages.
"""

_CHECK_URL_ZH = "请检查 config.toml 中 [ollama] 的 url"
_CHECK_URL_EN = "Check [ollama] url in config.toml"

MESSAGES: dict[str, tuple[str, str]] = {
    # -- reaching Ollama ---------------------------------------------------------------------------
    "ollama.unreachable": (
        "无法连接 Ollama（{url}）：请用 `ollama serve` 启动它（或从 ollama.com 安装）",
        "Ollama is not reachable at {url}: start it with `ollama serve` (or install it from ollama.com)"),
    "ollama.model_missing": (
        "Ollama 中没有模型 “{model}”：请运行 `python -m kb model setup`",
        "Model '{model}' is not in Ollama: run `python -m kb model setup`"),
    "ollama.deadline.connect": (
        "{seconds} 秒内连不上 Ollama（{url}，{call}）：请确认 `ollama serve` 正在运行，"
        "或调大 config.toml 中 [ollama] 的 `connect_timeout`",
        "Could not connect to Ollama at {url} within {seconds} s ({call}): check that `ollama serve` is "
        "running, or raise `connect_timeout` under [ollama] in config.toml"),
    "ollama.deadline.first_byte": (
        "Ollama（{url}）在 {seconds} 秒内没有开始回答（{call}）：它可能还在加载模型；请重试，"
        "或调大 config.toml 中 [ollama] 的 `timeout`",
        "Ollama at {url} did not answer within {seconds} s ({call}): it may still be loading the model; "
        "try again, or raise `timeout` under [ollama] in config.toml"),
    "ollama.deadline.idle": (
        "Ollama（{url}）回答到一半停了 {seconds} 秒没有新内容（{call}）：请重试，"
        "或调大 config.toml 中 [ollama] 的 `timeout`",
        "Ollama at {url} sent nothing for {seconds} s in the middle of its answer ({call}): try again, or raise "
        "`timeout` under [ollama] in config.toml"),
    "ollama.deadline.total": (
        "Ollama（{url}）在 {seconds} 秒内没有答完（{call}），已停止等待：可以把问题问得更具体，"
        "或调大 config.toml 中 [ollama] 的 `answer_timeout`",
        "Ollama at {url} did not finish within {seconds} s ({call}), so the answer was stopped: ask a narrower "
        "question, or raise `answer_timeout` under [ollama] in config.toml"),
    "ollama.timeout": (
        "Ollama（{url}）在 {seconds} 秒内没有回应（{call}）：请重试，或调大 config.toml 中 [ollama] 的 `timeout`",
        "Ollama at {url} did not answer within {seconds} s ({call}): try again, or raise `timeout` under "
        "[ollama] in config.toml"),
    "ollama.http_error": (
        "Ollama 处理 {call} 时返回 HTTP {status}，错误信息：{error}",
        "Ollama answered HTTP {status} while answering {call}: {error}"),
    "ollama.midstream_error": (
        "Ollama 在生成 {call} 的过程中报错：{error}",
        "Ollama reported an error while answering {call}: {error}"),
    "ollama.out_of_memory": (
        "模型装不进显存（Ollama 处理 {call} 时报错：{error}）：请在 Modelfile 中调低 `num_ctx`（例如 2048），"
        "或换一个更小的模型（例如 qwen2.5:0.5b），然后运行 `python -m kb model setup`",
        "The model does not fit in GPU memory (Ollama, {call}: {error}): lower `num_ctx` in the Modelfile "
        "(e.g. 2048) or choose a smaller model (e.g. qwen2.5:0.5b), then run `python -m kb model setup`"),
    "ollama.memory_layout": (
        "Ollama 无法按当前设置分配显存（{call}：{error}）：请删掉 Modelfile 中的 `PARAMETER num_gpu` 让 Ollama "
        "自己安排，或调低 `num_ctx`（例如 2048），或换一个更小的模型，然后运行 `python -m kb model setup`",
        "Ollama cannot lay the model out in memory with these settings ({call}: {error}): remove "
        "`PARAMETER num_gpu` from the Modelfile so Ollama places the layers itself, or lower `num_ctx` "
        "(e.g. 2048), or choose a smaller model, then run `python -m kb model setup`"),
    "ollama.not_ollama_status": (
        "{url} 处理 {call} 时返回 HTTP {status}：这个地址真的是 Ollama 吗？" + _CHECK_URL_ZH,
        "{url} answered HTTP {status} while answering {call}: is that address really Ollama? " + _CHECK_URL_EN),
    "ollama.connection_broken": (
        "与 Ollama（{url}）的连接在 {call} 时中断（{error}）：请确认 `ollama serve` 仍在运行",
        "The connection to Ollama at {url} broke while answering {call} ({error}): check that `ollama serve` "
        "is still running"),
    "ollama.unexpected_answer": (
        "{url} 对 {call} 的回答看不懂（{error}）：这个地址真的是 Ollama 吗？" + _CHECK_URL_ZH,
        "{url} sent an unexpected answer to {call} ({error}): is that address really Ollama? " + _CHECK_URL_EN),
    "ollama.no_version": (
        "{url} 的 /api/version 没有给出版本号：这个地址真的是 Ollama 吗？" + _CHECK_URL_ZH,
        "{url} answered /api/version without a version: is that address really Ollama? " + _CHECK_URL_EN),
    "ollama.pull_failed": (
        "Ollama 下载模型失败（{call}）：{error}。请对照 ollama.com/library 检查 Modelfile 的 FROM 行，并检查本机网络",
        "Ollama could not pull the model ({call}): {error}. Check the FROM line of the Modelfile against "
        "ollama.com/library, and this PC's internet connection"),
    "ollama.create_failed": (
        "Ollama 创建模型失败（{call}）：{error}。请检查 Modelfile；`ollama show <model> --modelfile` 可以看到 "
        "Ollama 读到的内容",
        "Ollama could not create the model ({call}): {error}. Check the Modelfile; "
        "`ollama show <model> --modelfile` shows what Ollama made of it"),
    "ollama.create_incomplete": (
        "Ollama 创建 “{model}” 时没有报告成功就停止了（最后状态 {status}）：请查看 `ollama serve` 的日志",
        "Ollama stopped creating '{model}' without success (last status {status}): see the `ollama serve` log"),
    # -- the Modelfile -------------------------------------------------------------------------------
    "modelfile.unreadable_line": (
        "Modelfile 第 {line} 行：看不懂 {text}，应写成 `指令 值`",
        "Modelfile line {line}: cannot read {text}: expected `INSTRUCTION value`"),
    "modelfile.unknown_instruction": (
        "Modelfile 第 {line} 行：未知指令 {name}；可用 FROM、TEMPLATE、SYSTEM、PARAMETER、LICENSE、ADAPTER、MESSAGE、"
        "REQUIRES、DRAFT、RENDERER 或 PARSER",
        "Modelfile line {line}: unknown instruction {name}; use FROM, TEMPLATE, SYSTEM, PARAMETER, LICENSE, "
        "ADAPTER, MESSAGE, REQUIRES, DRAFT, RENDERER or PARSER"),
    "modelfile.parameter_syntax": (
        "Modelfile 第 {line} 行：PARAMETER 需要名称和值，实际是 {text}",
        "Modelfile line {line}: PARAMETER needs a name and a value, got {text}"),
    "modelfile.unterminated_quote": (
        "Modelfile 第 {line} 行：{instruction} 的值引号没有闭合（\" 或 \"\"\"）",
        "Modelfile line {line}: {instruction} value has an unterminated quote (\" or \"\"\")"),
    "modelfile.empty_value": (
        "Modelfile 第 {line} 行：{instruction} 需要一个值",
        "Modelfile line {line}: {instruction} needs a value"),
    "modelfile.parameter_int": (
        "Modelfile 第 {line} 行：PARAMETER {name} 必须是整数，实际是 {value}（只能用半角数字；注释要单独成行）",
        "Modelfile line {line}: PARAMETER {name} must be an integer, got {value} (ASCII digits only; comments "
        "must be on their own line)"),
    "modelfile.parameter_float": (
        "Modelfile 第 {line} 行：PARAMETER {name} 必须是有限的数字，实际是 {value}（只能用半角数字；注释要单独成行）",
        "Modelfile line {line}: PARAMETER {name} must be a finite number, got {value} (ASCII digits only; "
        "comments must be on their own line)"),
    "modelfile.parameter_bool": (
        "Modelfile 第 {line} 行：PARAMETER {name} 必须是 true 或 false，实际是 {value}（注释要单独成行）",
        "Modelfile line {line}: PARAMETER {name} must be bool, got {value} (comments must be on their own line)"),
    "modelfile.second_from": (
        "Modelfile 第 {line} 行：又一个 FROM（第一个在第 {first} 行）；只保留一个",
        "Modelfile line {line}: second FROM (the first is on line {first}); keep one (several FROM lines are "
        "only for the files of one model)"),
    "modelfile.unsupported": (
        "Modelfile 第 {line} 行：`python -m kb model setup` 不支持 {instruction}；请删掉它，"
        "或用 `ollama create -f Modelfile` 创建模型",
        "Modelfile line {line}: {instruction} is not supported by `python -m kb model setup`; remove it, or "
        "create the model with `ollama create -f Modelfile`"),
    "modelfile.unknown_parameter": (
        "Modelfile 第 {line} 行：未知参数 '{name}'；可用的参数：{valid}",
        "Modelfile line {line}: unknown parameter '{name}'; valid names: {valid}"),
    "modelfile.no_from": (
        "Modelfile 没有 FROM 行：请加一行，例如 `FROM qwen2.5:1.5b`",
        "Modelfile has no FROM line: add one, e.g. `FROM qwen2.5:1.5b`"),
    "modelfile.from_folder": (
        "FROM {value} 是一个文件夹：这里只支持单个 .gguf 文件；safetensors 文件夹请用 `ollama create -f Modelfile`",
        "FROM {value} is a folder: only a single .gguf file is supported here; use `ollama create -f Modelfile` "
        "for safetensors folders"),
    "modelfile.from_missing": (
        "FROM {value}：{path} 处没有这个文件；请把 GGUF 下载到那里，或把 FROM 改成 qwen2.5:1.5b 这样的库模型",
        "FROM {value}: no such file at {path}; download the GGUF there, or set FROM to a library model such as "
        "qwen2.5:1.5b"),
    "modelfile.not_found": (
        "在 {path} 找不到 Modelfile：请在 config.toml 中设置 [ollama] 的 modelfile",
        "Modelfile not found at {path}: set [ollama] modelfile in config.toml"),
    "modelfile.unreadable": (
        "无法读取 Modelfile {path}：{error}",
        "Cannot read the Modelfile {path}: {error}"),
    "modelfile.message_role": (
        "Modelfile 第 {line} 行：MESSAGE 的角色是 {role}，只能是 system、user 或 assistant（小写，MESSAGE 后只空一格）",
        "Modelfile line {line}: MESSAGE role {role} must be one of system, user or assistant (lower case, one "
        "space after MESSAGE)"),
    "modelfile.message_syntax": (
        "Modelfile 第 {line} 行：MESSAGE 需要角色和内容，例如 `MESSAGE user 你好`，实际是 {text}",
        "Modelfile line {line}: MESSAGE needs a role and a text, e.g. `MESSAGE user hello`, got {text}"),
    "modelfile.parameter_empty_name": (
        "Modelfile 第 {line} 行：PARAMETER 后面有两个空格，Ollama 会读成空的参数名（{text}）；请只留一个空格，"
        "例如 `PARAMETER num_ctx 4096`",
        "Modelfile line {line}: PARAMETER is followed by two spaces, which Ollama reads as an empty parameter "
        "name ({text}); leave one space, e.g. `PARAMETER num_ctx 4096`"),
    "modelfile.requires_semver": (
        "Modelfile 第 {line} 行：REQUIRES {value} 不是有效的版本号，应写成 0.14.0 这样",
        "Modelfile line {line}: REQUIRES {value} is not a valid version; write it like 0.14.0"),
    "modelfile.adapter_missing": (
        "ADAPTER {value}：{path} 处没有这个文件或文件夹；请把 LoRA 适配器（.gguf 文件或 safetensors 文件夹）放到那里",
        "ADAPTER {value}: nothing at {path}; put the LoRA adapter (a .gguf file or a safetensors folder) there"),
    "modelfile.adapter_empty_folder": (
        "ADAPTER {value}：文件夹 {path} 里没有 .safetensors 文件；请指向 LoRA 训练输出的文件夹"
        "（含 adapter_model.safetensors 和 adapter_config.json），或指向转换好的 .gguf 文件",
        "ADAPTER {value}: the folder {path} has no .safetensors file; point it at the LoRA training output "
        "(adapter_model.safetensors and adapter_config.json) or at a converted .gguf file"),
    "ollama.too_old": (
        "Ollama {version} 太旧了（需要 {minimum} 或更新版本：KB Studio 用它引入的 /api/create 请求格式创建模型）："
        "请从 ollama.com/download 升级 Ollama",
        "Ollama {version} is too old (KB Studio needs {minimum} or newer: it creates models with the /api/create "
        "form that version introduced): upgrade Ollama from ollama.com/download"),
    "ollama.requires_newer": (
        "Modelfile 的 REQUIRES 要求 Ollama {requires} 或更新版本，但这里是 {version}：请从 ollama.com/download 升级 Ollama",
        "The Modelfile's REQUIRES asks for Ollama {requires} or newer, but this one is {version}: upgrade Ollama "
        "from ollama.com/download"),
    "modelfile.from_value_invalid": (
        "FROM 的新值 {value} 不能用：它必须是一行，例如 qwen3:1.7b 或 ./models/x.gguf",
        "{value} cannot be a FROM value: it must be one line, e.g. qwen3:1.7b or ./models/x.gguf"),
    "modelfile.from_not_single": (
        "{path} 中有 {count} 个 FROM 行（或 FROM 跨了多行）：只有一个单行 FROM 时才能自动改写，请手动编辑",
        "{path} has {count} FROM lines (or a FROM spread over lines): it can be rewritten only with one FROM "
        "on one line; edit it by hand"),
    "modelfile.not_written": (
        "无法写入 Modelfile {path}：{error}。原文件没有改动；请检查写权限和磁盘空间",
        "Cannot write the Modelfile {path}: {error}. The file is unchanged; check the permissions and free space"),
    # -- the fit check ---------------------------------------------------------------------------------
    "fit.unknown_model": (
        "不知道模型 {model} 的结构：它不在内置表中（{known}），Ollama 里也没有；请先 `ollama pull {model}`，"
        "或选一个表中的模型",
        "The architecture of {model} is unknown: it is not in the built-in table ({known}) nor in Ollama; "
        "`ollama pull {model}` first, or pick one from the table"),
    "fit.no_gpu_memory": (
        "不知道显卡有多少空闲显存：没有找到 `nvidia-smi`；请用 `--vram` 给出显存大小（GiB），例如 `--vram 4`",
        "The GPU's free memory is unknown: `nvidia-smi` was not found; give it with `--vram` (GiB), e.g. `--vram 4`"),
    "fit.nvidia_smi_failed": (
        "`nvidia-smi` 没有给出显存信息（{error}）；请用 `--vram` 给出显存大小（GiB）",
        "`nvidia-smi` gave no memory figures ({error}); give the GPU memory with `--vram` (GiB)"),
    "fit.model_info_incomplete": (
        "Ollama 对 {model} 的 /api/show 缺少 {missing}，无法估算显存：请换一个模型，或升级 Ollama",
        "Ollama's /api/show for {model} lacks {missing}, so its memory cannot be estimated: pick another model "
        "or upgrade Ollama"),
    # -- chatting ------------------------------------------------------------------------------------
    "chat.question_empty": ("问题是空的：请输入一个问题", "The question is empty: type a question"),
    "chat.mode_unknown": (
        "未知的对话模式 {mode}：请用 docs 或 chat",
        "Unknown chat mode {mode}: use docs or chat"),
    "chat.answer_incomplete": (
        "{error}（上面的回答不完整）",
        "{error} (the answer above is incomplete)"),
    "chat.question_cut": (
        "问题太长（{tokens} 个词元），超出了模型 {num_ctx} 的上下文可容纳的 {budget} 个；只发送了开头的 {kept} 个"
        "词元（约 {kept_chars} 个字符）。请把问题拆成几个短问题。",
        "The question is too long ({tokens} tokens) for the {budget} the model's {num_ctx}-token context can "
        "hold; only its first {kept} tokens (about {kept_chars} characters) were sent. Split it into shorter "
        "questions."),
    "chat.answer_capped": (
        "回答达到了 {limit} 个词元的上限，已截断：可以调大 config.toml 中 [ollama] 的 `max_answer_tokens`，"
        "或把问题问得更具体",
        "The answer reached its cap of {limit} tokens and was cut: raise `max_answer_tokens` under [ollama] in "
        "config.toml, or ask a narrower question"),
    "chat.history_not_saved": (
        "回答没有存进对话记录（{path}：{error}）：这次的回答照常显示，但重新打开后不会再出现；请检查磁盘空间",
        "The answer was not saved to the chat history ({path}: {error}): it is shown as usual but will not be "
        "there when the conversation is reopened; check the free disk space"),
    "chat.history_item_not_object": (
        "对话记录 {source} 的第 {index} 条不是 {{\"role\", \"content\"}} 对象，而是 {kind}",
        "Item {index} of the chat history {source} is not a {{\"role\", \"content\"}} object but {kind}"),
    "chat.history_role_invalid": (
        "对话记录 {source} 的第 {index} 条角色是 {role}：只能是 user 或 assistant",
        "Item {index} of the chat history {source} has role {role}: it must be user or assistant"),
    "chat.history_content_not_text": (
        "对话记录 {source} 的第 {index} 条内容不是文字，而是 {kind}：content 必须是字符串",
        "Item {index} of the chat history {source} has content of type {kind}: content must be a string"),
    "chat.history_not_list": (
        "对话记录 {source} 无效：它必须是 JSON 列表，实际是 {kind}",
        "The chat history {source} is not valid: it must be a JSON list, not {kind}"),
    "chat.history_unreadable": (
        "无法读取对话记录文件 {source}：{error}。它必须是 [{{\"role\": \"user\", \"content\": \"…\"}}, …] 这样的 JSON 列表",
        "Cannot read the history file {source}: {error}. It must be a JSON list of "
        "{{\"role\": \"user\"|\"assistant\", \"content\": \"...\"}}"),
    # -- sessions --------------------------------------------------------------------------------------
    "session.name_invalid": (
        "“{name}” 不是有效的对话名称：请使用字母、数字和 - _ . :（最多 80 个字符）",
        "'{name}' is not a valid conversation name: use letters, digits, - _ . : (up to 80 characters)"),
    "session.save_failed": (
        "无法写入对话记录 {path}：{error}。请检查磁盘空间和文件夹的写权限",
        "Cannot write the chat history {path}: {error}. Check the free disk space and that the folder is writable"),
    "session.open_failed": (
        "无法打开对话记录 {path}：{error}",
        "Cannot open the chat history {path}: {error}"),
    # -- embeddings ------------------------------------------------------------------------------------
    "embed.ollama_unreachable": (
        "{error}；或者在 config.toml 中设置 [embedder] name = \"builtin\"，然后运行 `python -m kb rebuild`",
        "{error}; or set [embedder] name = \"builtin\" and run `python -m kb rebuild`"),
    "embed.model_missing": (
        "Ollama 中没有向量模型 “{model}”：请运行 `ollama pull {model}`",
        "The embedding model '{model}' is not in Ollama: run `ollama pull {model}`"),
    "embed.ollama_failed": ("Ollama 向量化失败：{error}", "Ollama embeddings failed: {error}"),
    "embed.bad_vector": (
        "向量模型 {embedder} 返回了无法使用的向量（{problem}）：请检查该模型，或改用 [embedder] name = \"builtin\"",
        "The embedder {embedder} returned an unusable vector ({problem}): check the model, or set "
        "[embedder] name = \"builtin\""),
    # -- the tokenizer ---------------------------------------------------------------------------------
    "tokens.package_missing": (
        "没有安装 `tokenizers` 包：请运行 `pip install -r requirements.txt`",
        "the `tokenizers` package is not installed: run `pip install -r requirements.txt`"),
    "tokens.data_missing": (
        "{path} 处缺少 Qwen 分词器数据：请重新安装 KB Studio，或运行 scripts/fetch_qwen_tokenizer.sh",
        "Qwen tokenizer data is missing at {path}: reinstall KB Studio or run scripts/fetch_qwen_tokenizer.sh"),
    "tokens.data_unreadable": (
        "{path} 处的 Qwen 分词器数据无法读取（{error}）：请运行 scripts/fetch_qwen_tokenizer.sh",
        "Qwen tokenizer data at {path} is unreadable ({error}): run scripts/fetch_qwen_tokenizer.sh"),
    "tokens.data_invalid": (
        "{path} 处的 Qwen 分词器数据不是有效的 tokenizer.json（{error}）：请运行 scripts/fetch_qwen_tokenizer.sh",
        "Qwen tokenizer data at {path} is not a valid tokenizer.json ({error}): run scripts/fetch_qwen_tokenizer.sh"),
}

# The same two errors with the fit check's numbers for this card (kb/llm/fit.py `memory_hint`).
_SETUP_ZH, _SETUP_EN = "，然后运行 `python -m kb model setup`", ", then run `python -m kb model setup`"
_LAYOUT_ZH = "如果 Modelfile 里有 `PARAMETER num_gpu`，先删掉它让 Ollama 自己安排各层。"
_LAYOUT_EN = "If the Modelfile sets `PARAMETER num_gpu`, remove it so Ollama places the layers itself. "
for _code, _what_zh, _what_en, _pre_zh, _pre_en in (
        ("ollama.out_of_memory", "模型装不进显存", "The model does not fit in GPU memory", "", ""),
        ("ollama.memory_layout", "Ollama 无法按当前设置分配显存", "Ollama cannot lay the model out in memory",
         _LAYOUT_ZH, _LAYOUT_EN)):
    MESSAGES[f"{_code}.ctx"] = (
        f"{_what_zh}（{{call}}：{{error}}）。{_pre_zh}这张显卡现有约 {{free_gib}} GiB 可用，当前模型在 num_ctx "
        f"{{num_ctx}} 以内能完整放进显存：请把 Modelfile 中的 `PARAMETER num_ctx` 从 {{current}} 调低到 {{num_ctx}}"
        + _SETUP_ZH,
        f"{_what_en} ({{call}}: {{error}}). {_pre_en}With about {{free_gib}} GiB free on this card the model fits "
        f"wholly on the GPU up to num_ctx {{num_ctx}}: lower `PARAMETER num_ctx` in the Modelfile from {{current}} "
        f"to {{num_ctx}}" + _SETUP_EN)
    MESSAGES[f"{_code}.model"] = (
        f"{_what_zh}（{{call}}：{{error}}）。{_pre_zh}这张显卡现有约 {{free_gib}} GiB 可用，当前模型即使调低上下文也放不下；"
        f"在 num_ctx {{current}} 下能放下的最大候选是 {{model}}：`python -m kb model setup --from {{model}}`",
        f"{_what_en} ({{call}}: {{error}}). {_pre_en}With about {{free_gib}} GiB free on this card the model does "
        f"not fit even with a smaller context; the largest candidate that fits at num_ctx {{current}} is {{model}}: "
        f"`python -m kb model setup --from {{model}}`")
    MESSAGES[f"{_code}.ctx_and_model"] = (
        f"{_what_zh}（{{call}}：{{error}}）。{_pre_zh}这张显卡现有约 {{free_gib}} GiB 可用：请把 Modelfile 中的 "
        f"`PARAMETER num_ctx` 从 {{current}} 调低到 {{num_ctx}}" + _SETUP_ZH
        + f"；或保留上下文，换用能放下的 {{model}}：`python -m kb model setup --from {{model}}`",
        f"{_what_en} ({{call}}: {{error}}). {_pre_en}With about {{free_gib}} GiB free on this card: lower "
        f"`PARAMETER num_ctx` in the Modelfile from {{current}} to {{num_ctx}}" + _SETUP_EN
        + f"; or keep the context and use {{model}}, which fits: `python -m kb model setup --from {{model}}`")

# Where a loaded model's layers went (/api/ps size_vram against size: kb.llm.ollama.Placement)
MESSAGES.update({
    "ollama.placement.gpu": ("全部在 GPU", "all on the GPU"),
    "ollama.placement.split": ("CPU/GPU 分担：GPU {gpu}%，CPU {cpu}%（比全部在 GPU 慢）",
                               "split CPU/GPU: {gpu}% on the GPU, {cpu}% on the CPU (slower than all on the GPU)"),
    "ollama.placement.cpu": ("全部在 CPU（很慢）", "all on the CPU (slow)"),
    "ollama.placement.unknown": ("未知（Ollama 报告的大小对不上）", "unknown (Ollama's sizes do not add up)"),
})
