"""The fixtures of the scenario tests (workspace copies) serve the replay tests too."""

from tests.scenarios.conftest import lab, shop

__all__ = ["lab", "shop"]
