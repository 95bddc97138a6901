"""The initial data set: a pure function of ``SimConfig`` (same seed, same bytes).

Coverage is guaranteed rather than left to chance: the first five conversations use the five
channel types, the first eight carry one attention item of each type, the first four carry one
attachment in each status (the second one's ``processing`` attachment never settles). After that
everything is drawn from the seeded RNG.
"""

from __future__ import annotations

import gc
import random

from syncd.sim import corpus
from syncd.sim.config import SimConfig
from syncd.sim.factory import (
    context_entries,
    conversation_number,
    is_precise,
    is_stuck,
    make_attachment,
    make_attention_item,
    make_message,
    new_prefixed_id,
    new_user_id,
    new_uuid,
    reason_text,
    state_summary,
    subject,
)
from syncd.sim.model import (
    ATTACHMENT_STATUSES,
    ATTENTION_TYPES,
    CHANNEL_TYPES,
    STATUSES,
    TERMINAL_STATUSES,
    UNSETTLED_ATTACHMENT_STATUSES,
    Account,
    Contact,
    Conversation,
    Workspace,
    advance,
    to_ms,
    truncate,
)
from syncd.sim.world import World

HISTORY_MS = 90 * 86_400_000
CHANNEL_WEIGHTS = (35, 25, 10, 15, 15)
STATUS_WEIGHTS = (15, 15, 15, 40, 10, 5)
ATTACHMENT_WEIGHTS = (15, 15, 60, 10)


def generate_world(config: SimConfig) -> World:
    """Build the whole initial state from the config's seed."""
    # Hundreds of thousands of small objects, none of them garbage: collecting while they are
    # made costs a quarter of the time, so the collector pauses (and is restored) around it.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _generate(config)
    finally:
        if collecting:
            gc.enable()


def _generate(config: SimConfig) -> World:
    rng = random.Random(config.seed)
    world = World(tenant_id=new_uuid(rng))
    epoch_ms = to_ms(config.epoch)
    pools: list[list[Contact]] = []
    per_workspace = max(1, config.conversations // config.workspaces)
    for number in range(config.workspaces):
        workspace = make_workspace(rng, number)
        world.add_workspace(workspace)
        pools.append(_contacts(rng, world, workspace, max(4, per_workspace // 3)))
    workspaces = list(world.workspaces.values())
    for number in range(config.conversations):
        slot = number % len(workspaces)
        if number < len(CHANNEL_TYPES):
            channel = CHANNEL_TYPES[number]
        else:
            channel = rng.choices(CHANNEL_TYPES, CHANNEL_WEIGHTS)[0]
        contact = _pick_contact(rng, world, pools[slot], channel)
        conversation = _conversation(
            rng, world, workspaces[slot], channel, contact, epoch_ms, config
        )
        world.add_conversation(conversation, indexed=False)
        _attachments(rng, world, conversation, number, config)
        _attention(rng, world, conversation, number)
    world.reindex_all()
    return world


def make_workspace(rng: random.Random, number: int) -> Workspace:
    """A workspace (UUID or ``ws_`` id, alternately) with one channel per channel type."""
    workspace_id = new_uuid(rng) if number % 2 == 0 else new_prefixed_id(rng, "ws")
    channels = {channel: new_uuid(rng) for channel in CHANNEL_TYPES}
    return Workspace(
        id=workspace_id, support_address=f"support{number}@ohallo.example", channels=channels
    )


def make_contact(
    rng: random.Random,
    workspace_id: str,
    *,
    first_name: str | None = None,
    last_name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    account_id: str | None = None,
) -> Contact:
    """A contact with exactly the given fields."""
    return Contact(
        id=new_uuid(rng),
        workspace_id=workspace_id,
        first_name=first_name,
        last_name=last_name,
        email=email,
        phone=phone,
        account_id=account_id,
    )


def _contacts(rng: random.Random, world: World, workspace: Workspace, count: int) -> list[Contact]:
    accounts = []
    for _ in range(max(2, count // 4)):
        account = Account(id=new_uuid(rng), name=rng.choice(corpus.COMPANIES))
        world.accounts[account.id] = account
        accounts.append(account)
    contacts = []
    for _ in range(count):
        first = rng.choice(corpus.FIRST_NAMES) if rng.random() < 0.92 else None
        last = rng.choice(corpus.LAST_NAMES) if first and rng.random() < 0.8 else None
        email = phone = None
        if rng.random() < 0.8:
            email = _email(rng)
        if email is None or rng.random() < 0.6:
            phone = _phone(rng)
        account_id = rng.choice(accounts).id if rng.random() < 0.6 else None
        contact = make_contact(
            rng,
            workspace.id,
            first_name=first,
            last_name=last,
            email=email,
            phone=phone,
            account_id=account_id,
        )
        world.add_contact(contact)
        contacts.append(contact)
    return contacts


def _email(rng: random.Random) -> str:
    local = rng.choice(corpus.EMAIL_LOCALS)
    return f"{local}{rng.randint(1, 99_999)}@{rng.choice(corpus.DOMAINS)}"


def _phone(rng: random.Random) -> str:
    return f"+45 {rng.randint(10_000_000, 99_999_999)}"


def _pick_contact(rng: random.Random, world: World, pool: list[Contact], channel: str) -> Contact:
    """A contact reachable on ``channel``; gives one an address when none in a few draws has it."""
    for _ in range(8):
        contact = rng.choice(pool)
        if channel == "chat" or (contact.email if channel == "email" else contact.phone):
            return contact
    if channel == "email":
        contact.email = _email(rng)
    else:
        contact.phone = _phone(rng)
    world.add_contact(contact)
    return contact


def _conversation(
    rng: random.Random,
    world: World,
    workspace: Workspace,
    channel: str,
    contact: Contact,
    epoch_ms: int,
    config: SimConfig,
) -> Conversation:
    precise = is_precise(rng)
    created = truncate(epoch_ms - rng.randint(3_600_000, HISTORY_MS), precise)
    conversation = Conversation(
        id=new_uuid(rng),
        workspace_id=workspace.id,
        channel_id=workspace.channels[channel],
        channel_type=channel,
        contact_id=contact.id,
        account_id=contact.account_id,
        status=rng.choices(STATUSES, STATUS_WEIGHTS)[0],
        subject=None,
        state_summary="",
        created_ms=created,
        updated_ms=created,
        activity_ms=created,
        last_message_ms=created,
        preview="",
        precise=precise,
    )
    number = conversation_number(conversation.id)
    if channel == "email":
        conversation.subject = subject(rng, number)
    count = rng.randint(1, 2 * config.messages_per_conversation - 1)
    window = epoch_ms - created
    times = sorted(created + int(window * 0.95 * rng.random()) for _ in range(count - 1))
    outbound_first = channel != "voice" and rng.random() < 0.1
    for position, moment in enumerate([created, *times]):
        inbound = (position % 2 == 0) != outbound_first
        message = make_message(
            rng,
            conversation,
            contact,
            direction="inbound" if inbound else "outbound",
            speaker="caller" if inbound else "ai",
            body=None,
            now_ms=moment,
        )
        world.append_message(conversation, message)
    conversation.state_summary = state_summary(number, count)
    last = conversation.last_message_ms
    settled = advance(last, last + rng.randint(0, 600_000), precise)
    conversation.updated_ms = conversation.activity_ms = settled
    _signals(rng, conversation)
    conversation.context_entries = context_entries(rng)
    return conversation


def _signals(rng: random.Random, conversation: Conversation) -> None:
    """The optional list-row signals: owner, assignee, outcome, form type, routing path."""
    if conversation.status == "resolved":
        conversation.outcome = rng.choice(corpus.OUTCOMES) if rng.random() < 0.6 else None
        conversation.auto_resolved = rng.random() < 0.5
    if conversation.status not in TERMINAL_STATUSES and rng.random() < 0.12:
        conversation.human_user_id = new_user_id(rng)
    if rng.random() < 0.15:
        conversation.assigned_user_id = new_user_id(rng)
    if conversation.channel_type in ("email", "chat") and rng.random() < 0.2:
        conversation.form_type = rng.choice(corpus.FORM_TYPES)
    ai_spoke = any(m.direction == "outbound" or m.speaker == "ai" for m in conversation.messages)
    if ai_spoke and rng.random() < 0.7:
        conversation.routing_path = rng.choice(corpus.ROUTING_PATHS)


def _attachments(
    rng: random.Random, world: World, conversation: Conversation, number: int, config: SimConfig
) -> None:
    """Files on inbound messages; pending/processing ones stuck at ``stuck_attachment_rate``.

    The second conversation's processing attachment is always stuck (when the rate is not 0).
    Stuckness is a hash of the id, so it draws nothing from ``rng`` (seeds render as before).
    """
    if number < len(ATTACHMENT_STATUSES):
        statuses = [ATTACHMENT_STATUSES[number]]
    elif rng.random() < 0.25:
        statuses = rng.choices(ATTACHMENT_STATUSES, ATTACHMENT_WEIGHTS, k=rng.randint(1, 3))
    else:
        return
    inbound = [m for m in conversation.messages if m.direction == "inbound"]
    rate = config.stuck_attachment_rate
    for status in statuses:
        message = rng.choice(inbound or conversation.messages)
        attachment = make_attachment(rng, conversation, message, status, message.sent_ms)
        if status in UNSETTLED_ATTACHMENT_STATUSES:
            guaranteed = rate > 0.0 and number == ATTACHMENT_STATUSES.index("processing")
            attachment.stuck = guaranteed or is_stuck(config.seed, attachment.id, rate)
        world.add_attachment(conversation, attachment)


def _attention(rng: random.Random, world: World, conversation: Conversation, number: int) -> None:
    if number < len(ATTENTION_TYPES):
        types = [ATTENTION_TYPES[number]]
    elif rng.random() < 0.2:
        types = rng.choices(ATTENTION_TYPES, k=rng.randint(1, 2))
    else:
        return
    for item_type in types:
        if conversation.status in TERMINAL_STATUSES:
            status = "resolved" if rng.random() < 0.7 else "dismissed"
        else:
            status = rng.choices(("open", "acknowledged", "resolved", "dismissed"), (6, 2, 1, 1))[0]
        moment = rng.choice(conversation.messages).sent_ms
        item = make_attention_item(
            rng,
            conversation,
            item_type,
            status=status,
            now_ms=moment,
            reason=reason_text(rng) if rng.random() < 0.3 else None,
        )
        world.add_attention_item(item)
