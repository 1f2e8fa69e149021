"""`builderos serve`: the daemon (LSP + builderos/* over JSON-RPC)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any

from builderos.cli.common import UserError


def add_serve(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the daemon (the editor starts it)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--stdio", action="store_true", help="speak JSON-RPC over stdin/stdout (default)")
    mode.add_argument("--tcp", metavar="HOST:PORT", help="listen on a TCP address")
    p.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    started_at = time.time()  # runs the CLI starts from now on are news to the editor (run_service.watch)
    prefetch = None
    bridge = None
    if not args.tcp:
        from builderos.lsp.early_init import EarlyInit
        from builderos.lsp.prefetch import Prefetch

        prefetch = Prefetch.start(Path.cwd())  # fork before the LSP stack is imported (see prefetch.py)
        bridge = EarlyInit.start(prefetch)  # answers initialize meanwhile, if it can (early_init.py)
    from builderos.lsp.server import create_server

    server = create_server()
    server.started_at = started_at
    if args.tcp:
        host, _, port = str(args.tcp).rpartition(":")
        if not host or not port.isdigit():
            raise UserError(f"'{args.tcp}' is not HOST:PORT", "for example --tcp 127.0.0.1:2087")
        server.start_tcp(host, int(port))
    elif bridge is not None:
        bridge.decided.wait()
        server.prefetch = None if bridge.answered_early else prefetch
        server.start_io(bridge.pygls_stdin, bridge.pygls_stdout)
        bridge.finish()
    else:
        server.prefetch = prefetch
        server.start_io()
    # The editor is gone (exit, or its end of the pipe closed). Everything a run did is committed,
    # so leave now rather than wait for worker threads (a store thread, a command being awaited).
    with contextlib.suppress(OSError, ValueError):  # the pipe may be closed (ValueError) or broken
        sys.stdout.flush()
    os._exit(0)
