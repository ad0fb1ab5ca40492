"""Talking to the model: the Ollama client and its deadlines, the Modelfile, the fit check,
prompts, the token budget, chat sessions and the chat service."""
