"""The onestop test suite (a package, so that helpers import as ``tests.utils``)."""
