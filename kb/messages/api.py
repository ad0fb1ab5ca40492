"""Messages of the HTTP API (`python -m kb serve`, kb/api/): tokens, requests, the OpenAI-compatible chat.

A request's errors render in its `Accept-Language` (zh or en), else in the process language.
"""

MESSAGES: dict[str, tuple[str, str]] = {
    # the command
    "cli.help.serve": ("启动 HTTP API（兼容 OpenAI 的对话接口、搜索、文档）",
                       "serve the HTTP API (OpenAI-compatible chat, search, documents)"),
    "cli.help.host": ("监听的地址（默认 127.0.0.1，只有本机可连）；其他地址需要 [api] tokens",
                      "address to listen on (default 127.0.0.1: this computer only); others need [api] tokens"),
    "cli.help.port": ("端口（默认 8000）", "port (default 8000)"),
    "cli.serve.listening": ("HTTP API 已启动：{url}（接口说明见 {url}/docs；{auth}）。按 Ctrl-C 停止",
                            "HTTP API at {url} (endpoints at {url}/docs; {auth}). Ctrl-C stops it"),
    "cli.serve.auth_tokens": ("每个请求都需要 `Authorization: Bearer <令牌>`",
                              "every request needs `Authorization: Bearer <token>`"),
    "cli.serve.auth_loopback": ("只有本机可以连接，不需要令牌", "only this computer can connect; no token needed"),
    "config.rule.api.port": (
        "设置 {key} 的值 {value} 不可用：端口必须在 0 到 65535 之间（来自 {origin}）",
        "Bad setting {key} = {value}: a port is between 0 and 65535 (set in {origin})"),
    # starting the server
    "api.tokens_required": (
        "不能在 {host} 上启动 HTTP API：这个地址不只在本机可达，必须先设置 API 令牌"
        "（config.toml 中 [api] tokens，或环境变量 KB_API_TOKENS=\"令牌1,令牌2\"）。"
        "只在本机使用时请用 `python -m kb serve --host 127.0.0.1`",
        "Refusing to serve the HTTP API on {host}: that address is reachable from other computers, so API "
        "tokens are required first ([api] tokens in config.toml, or KB_API_TOKENS=\"token1,token2\"). "
        "For this computer only, use `python -m kb serve --host 127.0.0.1`"),
    "api.port_in_use": (
        "无法在 {host}:{port} 上启动 HTTP API：{reason}。请换一个端口，例如 `python -m kb serve --port 8001`",
        "Cannot serve the HTTP API on {host}:{port}: {reason}. Choose another port, e.g. "
        "`python -m kb serve --port 8001`"),
    # authentication
    "api.token_missing": (
        "需要 API 令牌：请在请求头中加上 `Authorization: Bearer <令牌>`（令牌在 config.toml 的 [api] tokens "
        "或 KB_API_TOKENS 中）",
        "An API token is required: send the header `Authorization: Bearer <token>` (the tokens are in "
        "[api] tokens of config.toml or KB_API_TOKENS)"),
    "api.token_rejected": (
        "API 令牌不正确：请使用 config.toml 的 [api] tokens 或 KB_API_TOKENS 中的一个令牌",
        "The API token is not valid: use one of the tokens in [api] tokens of config.toml or KB_API_TOKENS"),
    # requests
    "api.not_found": ("没有这个接口：{method} {path}。接口列表见 `/docs`",
                      "No such endpoint: {method} {path}. The endpoints are listed at `/docs`"),
    "api.method_not_allowed": ("接口 {path} 不接受 {method} 请求", "{path} does not accept {method}"),
    "api.bad_request": ("请求中的 {field} 不可用：{reason}", "Bad {field} in the request: {reason}"),
    "api.body_not_json": ("请求体不是有效的 JSON：{reason}", "The request body is not valid JSON: {reason}"),
    "api.model_not_found": (
        "没有名为 “{model}” 的知识库（model 字段就是知识库的名称）。现有的知识库：{available}。"
        "用 `GET /v1/models` 查看",
        "There is no knowledge base '{model}' (the model field names a knowledge base). The knowledge bases: "
        "{available}. See `GET /v1/models`"),
    "api.no_question": (
        "messages 的最后一条必须是用户（role 为 user）的问题",
        "The last of the messages must be the user's question (role user)"),
    "api.message_role_unsupported": (
        "第 {index} 条消息的角色 {role} 不受支持：请只用 system、user 和 assistant",
        "Message {index} has the role {role}, which is not supported: use system, user and assistant"),
    "api.content_not_text": (
        "第 {index} 条消息的内容含有 {kind} 类型的部分：知识库只能回答文字问题",
        "Message {index} has a part of type {kind}: the knowledge base answers text only"),
    # uploads
    "api.not_multipart": (
        "上传需要 multipart/form-data，文件放在 `files` 字段里，例如 "
        "`curl -F files=@note.md 'http://127.0.0.1:8000/api/documents?kb=notes'`",
        "An upload must be multipart/form-data with the files in the `files` field, e.g. "
        "`curl -F files=@note.md 'http://127.0.0.1:8000/api/documents?kb=notes'`"),
    "api.no_files": ("请求中没有文件：请把文件放在 `files` 字段里",
                     "The request holds no file: put the files in the `files` field"),
    "api.too_many_files": ("一次最多上传 {limit} 个文件（这次有 {n} 个）：请分几次上传",
                           "At most {limit} files per upload ({n} given): upload them in several requests"),
    "api.upload_too_large": (
        "这次上传超过了 {limit_mb} MB（每个文件最多 {file_mb} MB，每次最多 {files} 个文件）：请分几次上传，"
        "或在 config.toml 中调大 [storage] max_file_mb",
        "This upload is over {limit_mb} MB ({file_mb} MB a file, {files} files an upload at most): upload in "
        "several requests, or raise [storage] max_file_mb in config.toml"),
    "api.upload_unreadable": ("无法读取上传的内容：{reason}", "The upload could not be read: {reason}"),
    # answers
    "api.answer_failed": ("回答失败：{error}", "The answer failed: {error}"),
    "api.internal": (
        "服务器内部错误（{kind}）：这是程序的缺陷，不是你的请求有问题；详情见服务器日志",
        "Internal server error ({kind}): a bug, not a problem with your request; the server log has the details"),
}
