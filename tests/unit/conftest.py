"""tests/unit/ mirrors the runtime packages (core/, service/, l1/, store/, ...; docs/architecture.md
section 7); the project-wide checks stay at this top level.

This file is here so that pytest (rootdir-relative "prepend" imports, no __init__.py under tests/) puts
tests/unit/ itself on sys.path: the helpers shared by several folders, `core_testkit` and `repo_root`,
are then importable from any of them, also when one moved file is run alone. The test layers are
decided in tests/conftest.py, not here."""
