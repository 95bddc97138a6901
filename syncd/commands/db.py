"""``syncd db upgrade | current``: the schema revision (``syncd.store.migrate``)."""

from __future__ import annotations

from syncd.commands.context import EXIT_FAILED, EXIT_OK, CommandContext
from syncd.store.engine import missing_sqlite_file
from syncd.store.failures import engine_label
from syncd.store.migrate import current_revision, head_revision, known_revisions, upgrade


def upgrade_command(ctx: CommandContext) -> int:
    """``syncd db upgrade``: migrate to head and print the revision reached."""
    engine = ctx.engine("unchecked")
    before = current_revision(engine)
    after = upgrade(engine)
    if before == after:
        print(f"{engine_label(engine)}: already at revision {after} (head)")
    else:
        print(
            f"{engine_label(engine)}: upgraded from {before or 'an empty database'} "
            f"to {after} (head)"
        )
    return EXIT_OK


def current_command(ctx: CommandContext) -> int:
    """``syncd db current``: print the revision and whether it is head (exit 1 when not)."""
    settings = ctx.settings()
    head = head_revision()
    missing = missing_sqlite_file(settings.database.url.get_secret_value())
    if missing is not None:  # reading never creates the file (syncd.store.existing)
        print(
            f"sqlite:///{missing}: no schema yet: the file does not exist (database.url; a "
            f"relative path in a config file resolves against its directory); head is {head}, "
            "`syncd db upgrade` creates it"
        )
        return EXIT_FAILED
    engine = ctx.engine("unchecked")
    current = current_revision(engine)
    label = engine_label(engine)
    if current == head:
        print(f"{label}: revision {current} (head)")
        return EXIT_OK
    if current is None:
        print(f"{label}: no schema yet (head is {head}); run `syncd db upgrade`")
    elif current in known_revisions():
        print(f"{label}: revision {current}, behind head {head}; run `syncd db upgrade`")
    else:
        print(f"{label}: revision {current}, unknown to this syncd (newer?); head is {head}")
    return EXIT_FAILED
