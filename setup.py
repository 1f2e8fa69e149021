"""What pyproject.toml cannot say: the optional C accelerator of the audit chain's fast check.

It is built where a C compiler and OpenSSL's headers are at hand, and skipped (``optional``) where
they are not: the package is complete without it. ``BUILDEROS_PURE_PYTHON=1`` leaves it out on
purpose, for a wheel that installs on any platform (the one the VS Code extension carries).
"""

import os

from setuptools import Extension, setup


def extensions() -> list[Extension]:
    if os.environ.get("BUILDEROS_PURE_PYTHON"):
        return []
    return [
        Extension(
            "builderos.store._chainfast",
            ["server/builderos/store/_chainfast.c"],
            libraries=["crypto"],
            optional=True,
        )
    ]


setup(ext_modules=extensions())
