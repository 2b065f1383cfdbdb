"""pytest plugin with the test ModelScope hub fixtures: `pytest_plugins = ["tests.hubs.ms_plugin"]`.

(A separate module so that test files may also import helpers from `tests.hubs.ms_fixtures`
without pytest warning that the plugin module was imported before registration.)
"""

from tests.hubs.ms_fixtures import ms_env, ms_hub

__all__ = ["ms_env", "ms_hub"]
