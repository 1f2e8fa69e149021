"""LLM providers: OpenAI-compatible Chat Completions and Anthropic Messages, built from a profile."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from builderos.agents.providers import anthropic, openai
from builderos.agents.providers.anthropic import AnthropicProvider
from builderos.agents.providers.base import (
    ChatRequest,
    ChatResponse,
    HttpProvider,
    Message,
    Provider,
    ProviderConfig,
    ProviderError,
    Sleep,
    ToolCall,
    ToolDef,
    Usage,
)
from builderos.agents.providers.openai import OpenAIProvider

#: provider → (default base_url, default API key variable)
DEFAULTS: dict[str, tuple[str, str]] = {
    "openai": (openai.DEFAULT_BASE_URL, openai.DEFAULT_KEY_ENV),
    "anthropic": (anthropic.DEFAULT_BASE_URL, anthropic.DEFAULT_KEY_ENV),
}

__all__ = [
    "DEFAULTS",
    "AnthropicProvider",
    "ChatRequest",
    "ChatResponse",
    "HttpProvider",
    "Message",
    "OpenAIProvider",
    "Provider",
    "ProviderConfig",
    "ProviderError",
    "ToolCall",
    "ToolDef",
    "Usage",
    "provider_for",
]


def provider_for(
    profile: Mapping[str, Any] | ProviderConfig,
    *,
    profile_name: str | None = None,
    client: httpx.AsyncClient | None = None,
    sleep: Sleep | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> HttpProvider:
    """The provider of a model profile (`provider: openai | anthropic`); ProviderError (kind
    `config`) for any other. `overrides` set ProviderConfig fields (max_attempts, backoff_initial…)."""
    if isinstance(profile, ProviderConfig):
        config = profile
    else:
        config = ProviderConfig.from_profile(profile, profile_name, **overrides)
    cls: type[HttpProvider] = OpenAIProvider if config.provider == "openai" else AnthropicProvider
    return cls(config, client=client, sleep=sleep, environ=environ)
