"""Tests of the engine: actions, ledger, scheduler."""
