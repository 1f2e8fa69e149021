"""The daemon fixtures of tests/lsp (`shop`, `client`, `lsp`), for the desk requests' tests."""

from lsp.conftest import client, lsp, shop

__all__ = ["client", "lsp", "shop"]
