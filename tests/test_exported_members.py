"""The public Python API is exactly what ``syncd.__all__`` says (httpx's habit)."""

from __future__ import annotations

import types

import syncd
import syncd.errors

# Dunder names that are public all the same.
INCLUDED_PRIVATE_MEMBERS = ["__version__"]


def test_public_api_is_pinned() -> None:
    assert syncd.__all__ == [
        "ApiError",
        "AuthError",
        "ChangeEvent",
        "ConfigError",
        "MalformedResponse",
        "NotFound",
        "OhalloClient",
        "PaginationError",
        "Priority",
        "RateLimited",
        "ServerError",
        "SyncdError",
        "__version__",
    ]
    for name in syncd.__all__:
        assert getattr(syncd, name) is not None


def test_all_public_names_are_exported() -> None:
    """Every public name of the package is in ``__all__``, sorted, and nothing else is."""
    public = [
        name
        for name, value in vars(syncd).items()
        # Subpackages appear as attributes once imported; they are not exports.
        if not isinstance(value, types.ModuleType)
        and (not name.startswith("_") or name in INCLUDED_PRIVATE_MEMBERS)
    ]
    assert syncd.__all__ == sorted(public)


def test_public_names_live_where_their_docs_say() -> None:
    assert syncd.OhalloClient.__module__ == "syncd.api.client"
    assert syncd.ChangeEvent.__module__ == "syncd.events.envelope"
    assert syncd.Priority.__module__ == "syncd.api.limiter"
    for name in syncd.__all__:
        value = getattr(syncd, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert value.__module__ == "syncd.errors"
            assert value is getattr(syncd.errors, name)


def test_every_exported_error_is_a_syncd_error() -> None:
    errors = [getattr(syncd, name) for name in syncd.__all__ if name.endswith("Error")]
    errors += [syncd.NotFound, syncd.RateLimited, syncd.MalformedResponse]
    assert all(issubclass(error, syncd.SyncdError) for error in errors)


def test_the_errors_the_client_raises_are_exported() -> None:
    """Every ``syncd.errors`` class the client's modules import is public."""
    import syncd.api.client
    import syncd.api.http
    import syncd.api.pagination
    import syncd.api.parsing

    raised = {
        name
        for module in (syncd.api.client, syncd.api.http, syncd.api.pagination, syncd.api.parsing)
        for name, value in vars(module).items()
        if isinstance(value, type)
        and issubclass(value, syncd.errors.SyncdError)
        and value.__module__ == "syncd.errors"
    }
    assert raised <= set(syncd.__all__)
