"""${{ params.title }}."""

from ${{ params.package }}.app import app

__all__ = ["app"]
