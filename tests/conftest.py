"""Shared test configuration.

This file also makes ``tests/`` importable (pytest puts a rootdir-less ``conftest.py``'s folder
on ``sys.path``), so test modules in sub-folders can ``import builders``.
"""
