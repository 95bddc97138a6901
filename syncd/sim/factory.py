"""Builders for single objects (ids, texts, contexts), drawn from a ``random.Random``."""

from __future__ import annotations

import functools
import hashlib
import random
from typing import Any

from syncd.sim import corpus
from syncd.sim.model import (
    Attachment,
    AttentionItem,
    Contact,
    Conversation,
    JSONObject,
    Message,
    advance,
    render_time,
    truncate,
)

PRECISE_SHARE = 0.8  # share of objects whose timestamps carry milliseconds


_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID_SET = (0x4000 << 64) | (0x8000 << 48)


def new_uuid(rng: random.Random) -> str:
    """A version-4 UUID drawn from ``rng`` (so reproducible from the seed)."""
    digits = f"{(rng.getrandbits(128) & _UUID_CLEAR) | _UUID_SET:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def new_prefixed_id(rng: random.Random, prefix: str) -> str:
    """An id like ``ws_3fa9...``: the prefix and 24 hex digits."""
    return f"{prefix}_{rng.getrandbits(96):024x}"


def new_user_id(rng: random.Random) -> str:
    """A user id; the API shows both ``usr_``-prefixed ids and bare UUIDs."""
    return new_prefixed_id(rng, "usr") if rng.random() < 0.5 else new_uuid(rng)


def is_precise(rng: random.Random) -> bool:
    """Whether a new object's timestamps render with milliseconds."""
    return rng.random() < PRECISE_SHARE


def stable_fraction(*parts: object) -> float:
    """A number in [0, 1) fixed by ``parts`` (a hash, independent of any RNG's state)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def order_number(rng: random.Random) -> str:
    """The order number a conversation is about."""
    return f"2026-{rng.randint(1000, 9999)}"


def subject(rng: random.Random, number: str) -> str:
    """An email subject line."""
    return rng.choice(corpus.SUBJECTS).format(n=number)


def message_body(
    rng: random.Random, channel: str, direction: str, speaker: str | None, number: str
) -> str:
    """A message text fitting the channel and who speaks."""
    lines: tuple[str, ...]
    if channel == "voice":
        lines = corpus.VOICE_AI_LINES if speaker == "ai" else corpus.VOICE_CALLER_LINES
    elif direction == "inbound":
        lines = corpus.INBOUND_BODIES
    else:
        lines = corpus.OUTBOUND_BODIES
    return rng.choice(lines).format(n=number)


def state_summary(number: str, messages: int) -> str:
    """The AI's running summary of a conversation."""
    return f"Customer asked about order {number}; {messages} message(s) so far."


def attachment_file(rng: random.Random, channel: str) -> tuple[str, str, int]:
    """File name, MIME type and size of a new attachment."""
    if channel == "voice":
        name, mime = "call-recording.mp3", "audio/mpeg"
    else:
        name, mime = rng.choice(corpus.FILES[:-2] + corpus.FILES[-1:])
    return name, mime, rng.randint(512, 8_000_000)


def context_entries(rng: random.Random) -> list[JSONObject]:
    """The KB and policy entries the AI used on its latest turn."""
    return [context_entry(rng) for _ in range(rng.randint(0, 3))]


def context_entry(rng: random.Random) -> JSONObject:
    """One KB or policy entry the AI used."""
    if rng.random() < 0.7:
        return {
            "type": "kb",
            "id": new_uuid(rng),
            "title": rng.choice(corpus.KB_TITLES),
            "score": round(rng.uniform(0.5, 0.99), 2),
        }
    return {"type": "policy", "name": "refund_limit", "value": {"amount": 100, "cur": "EUR"}}


def is_stuck(seed: int, attachment_id: str, rate: float) -> bool:
    """Whether a new unsettled attachment never settles (a hash: no RNG draw, seeds unchanged)."""
    return rate > 0.0 and stable_fraction(seed, "stuck", attachment_id) < rate


def attention_context(
    rng: random.Random, item_type: str, channel: str, now_ms: int, message_id: str | None
) -> JSONObject:
    """The type-specific ``context`` object of an attention item."""
    tool = rng.choice(corpus.TOOLS)
    contexts: dict[str, JSONObject] = {
        "validation_failed": {
            "field": rng.choice(["email", "postalCode", "orderNumber"]),
            "value": rng.choice(["henrik@@example", "12-345", "NP–2026"]),  # noqa: RUF001 (an en dash on purpose)
            "rule": "format",
        },
        "approval_gate": {
            "toolName": "issue_refund",
            "arguments": {"orderId": order_number(rng), "amount": 49.9, "currency": "EUR"},
        },
        "escalation": {
            "trigger": rng.choice(["sentiment_negative", "vip_customer", "repeated_contact"]),
            "score": round(rng.uniform(-1.0, -0.5), 2),
        },
        "mcp_failure": {"toolName": tool, "error": "Connection timeout after 30s"},
        "auth_failure": {"toolName": tool, "provider": "salesforce", "error": "token expired"},
        "customer_reply_pending": {
            "waitingSince": render_time(now_ms, True),
            "lastOutboundMessageId": message_id,
        },
        "expiry_warning": {
            "resource": rng.choice(["quote", "return_label", "payment_link"]),
            "expiresAt": render_time(now_ms + 86_400_000 * rng.randint(1, 7), True),
        },
        "human_requested": {"channel": channel, "message": "Can I talk to a person please? 🙏"},
    }
    return contexts.get(item_type, {"note": "unknown type"})


def reason_text(rng: random.Random) -> str:
    """A free-text reason, as some attention items carry."""
    return rng.choice(corpus.REASONS)


def json_copy(value: Any) -> Any:
    """A deep copy of plain JSON data (dicts, lists, scalars)."""
    if isinstance(value, dict):
        return {key: json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_copy(item) for item in value]
    return value


@functools.lru_cache(maxsize=4096)
def conversation_number(conversation_id: str) -> str:
    """The order number a conversation is about (fixed by its id)."""
    return f"2026-{1000 + int(stable_fraction('order', conversation_id) * 9000)}"


def make_message(
    rng: random.Random,
    conversation: Conversation,
    contact: Contact,
    *,
    direction: str,
    speaker: str | None,
    body: str | None,
    now_ms: int,
    subject_line: str | None = None,
) -> Message:
    """A message obeying the channel's rules (voice: always inbound, caller/ai speaker)."""
    channel = conversation.channel_type
    if channel == "voice":
        speaker = (
            speaker
            if speaker in ("caller", "ai")
            else ("ai" if direction == "outbound" else "caller")
        )
        direction = "inbound"
    else:
        speaker = None
    number = conversation_number(conversation.id)
    text = body if body is not None else message_body(rng, channel, direction, speaker, number)
    from_address: str | None = None
    if channel == "email" and direction == "inbound":
        from_address = contact.email
        base = conversation.subject or subject(rng, number)
        subject_line = subject_line or (f"Re: {base}" if conversation.messages else base)
    precise = is_precise(rng)
    last_sent = conversation.messages[-1].sent_ms if conversation.messages else 0
    return Message(
        id=new_uuid(rng),
        direction=direction,
        speaker=speaker,
        body=text,
        # At the conversation's precision too: its lastMessageAt (seconds, for some) must move
        # with every new message, as the list row of a real conversation does.
        sent_ms=advance(last_sent, now_ms, precise and conversation.precise),
        channel=channel,
        from_address=from_address,
        subject=subject_line if channel == "email" else None,
        precise=precise,
    )


def make_attachment(
    rng: random.Random, conversation: Conversation, message: Message, status: str, now_ms: int
) -> Attachment:
    """A file on ``message``, created at ``now_ms``."""
    name, mime, size = attachment_file(rng, conversation.channel_type)
    precise = is_precise(rng)
    return Attachment(
        id=new_uuid(rng),
        conversation_id=conversation.id,
        message_id=message.id,
        file_name=name,
        mime_type=mime,
        size_bytes=size,
        status=status,
        created_ms=truncate(now_ms, precise),
        precise=precise,
    )


def make_attention_item(
    rng: random.Random,
    conversation: Conversation,
    item_type: str,
    *,
    status: str,
    now_ms: int,
    reason: str | None = None,
    context: JSONObject | None = None,
) -> AttentionItem:
    """An attention item of ``item_type`` raised at ``now_ms`` with a type-specific context."""
    last_outbound = next(
        (m.id for m in reversed(conversation.messages) if m.direction == "outbound"), None
    )
    if context is None:
        context = attention_context(
            rng, item_type, conversation.channel_type, now_ms, last_outbound
        )
    precise = is_precise(rng)
    created = truncate(now_ms, precise)
    done = status in ("resolved", "dismissed")
    return AttentionItem(
        id=new_uuid(rng),
        conversation_id=conversation.id,
        workspace_id=conversation.workspace_id,
        type=item_type,
        status=status,
        context=context,
        created_ms=created,
        resolved_ms=advance(created, created + rng.randint(60_000, 86_400_000), precise)
        if done
        else None,
        turn_id=new_uuid(rng) if rng.random() < 0.8 else None,
        assigned_to_user_id=new_user_id(rng) if rng.random() < 0.2 else None,
        reason=reason,
        precise=precise,
    )
