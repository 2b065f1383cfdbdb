"""pytest plugin exposing the test-hub fixtures: `pytest_plugins = ["tests.hubs.hf_plugin"]`.

(A separate module so that test files may also import helpers from `tests.hubs.fixtures`
without pytest warning that the plugin module was imported before registration.)
"""

from tests.hubs.fixtures import hf_hub, hub_env

__all__ = ["hf_hub", "hub_env"]
