"""BuilderOS: an agent factory for a workspace, checked as you type, run with receipts."""

__version__ = "0.1.0"
