"""Registers every feature module; each exposes `setup(server)` and owns its handlers."""

from __future__ import annotations

import importlib
import logging

from builderos.lsp.server import BuilderOSServer

log = logging.getLogger("builderos.lsp")

FEATURE_MODULES = (
    "builderos.lsp.sync",
    "builderos.lsp.runs",
    "builderos.lsp.completion",
    "builderos.lsp.hover",
    "builderos.lsp.navigation",
    "builderos.lsp.symbols",
    "builderos.lsp.code_actions",
    "builderos.lsp.editor_requests",
    "builderos.lsp.scenario_requests",
    "builderos.lsp.prompt_requests",
    "builderos.lsp.eval_requests",
    "builderos.lsp.desk_requests",
    "builderos.lsp.code_lens",
)


def setup_all(server: BuilderOSServer) -> None:
    for name in FEATURE_MODULES:
        try:
            module = importlib.import_module(name)
            module.setup(server)
        except Exception:  # one broken feature must not take the others down
            log.exception("feature %s failed to load", name)
