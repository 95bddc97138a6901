"""syncd's Alembic migrations: ``env.py``, ``script.py.mako`` and ``versions/``.

Kept at the top of the repository and installed as ``syncd.migrations`` (a package-dir mapping in
pyproject.toml), so a plain ``pip install .`` ships them inside the wheel and ``syncd db upgrade``
finds them from any directory.
"""
