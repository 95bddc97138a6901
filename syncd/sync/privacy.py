"""``[privacy]`` as a pure policy over API-shaped objects, and the suppression list. Pure.

The planning (syncd/sync/observe.py) applies ``Privacy`` to every object it is given before
comparing it with what the mirror holds, so the mirror rows, their ``raw`` and the event
payloads all carry the same, already reduced, values (and an unchanged object stays equal to
its stored row: no spurious events). Unknown fields are kept; only the fields named here change.

- ``store_message_bodies = false``: a message's ``body`` becomes ``None`` with
  ``bodyOmitted: true``; a conversation's ``lastMessagePreview`` is left out; an attention
  item's ``context.message`` (a customer's words) is left out with ``messageOmitted: true``.
- ``hash_contact_emails = true``: ``contactEmail`` (list rows), ``contact.email`` (details and
  the contacts table) and a message's ``fromAddress`` become ``hash_email(address)``: the
  lowercase hex HMAC-SHA256 of the address with surrounding whitespace removed and lowercased,
  keyed with ``privacy.hash_key``. The same address always gives the same hash, so joins work.

Every transform is idempotent (a value that already is a hash is left alone), which lets
``syncd purge --rewrite`` apply the policy again to what is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from syncd.config import PrivacySettings

_HASHED = re.compile(r"^[0-9a-f]{64}$")


def normalise_email(address: str) -> str:
    """The form an address is hashed in: surrounding whitespace removed, lowercased."""
    return address.strip().lower()


@dataclass(frozen=True, slots=True)
class Privacy:
    """What the mirror and the events may keep. The default keeps everything."""

    store_message_bodies: bool = True
    hash_contact_emails: bool = False
    key: bytes | None = field(default=None, repr=False)
    """The HMAC key (never shown: ``repr`` leaves it out)."""

    @classmethod
    def from_settings(cls, settings: PrivacySettings) -> Privacy:
        """The policy of ``[privacy]`` (the settings checked a key is there when hashing)."""
        key = settings.hash_key.get_secret_value().encode() if settings.hash_key else None
        return cls(settings.store_message_bodies, settings.hash_contact_emails, key)

    @property
    def active(self) -> bool:
        """Whether any object is changed at all."""
        return not self.store_message_bodies or self.hash_contact_emails

    def hash_email(self, address: str) -> str:
        """The keyed hash of an address (an unkeyed SHA-256 when no key is configured)."""
        text = normalise_email(address).encode()
        if self.key is None:
            return hashlib.sha256(text).hexdigest()
        return hmac.new(self.key, text, hashlib.sha256).hexdigest()

    def _email(self, value: Any) -> Any:
        if not isinstance(value, str) or _HASHED.match(value):
            return value
        return self.hash_email(value)

    def conversation(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """A list row, a detail's top level or merged conversation data (its ``contact`` too)."""
        out = dict(obj)
        if not self.store_message_bodies:
            out.pop("lastMessagePreview", None)
        if self.hash_contact_emails and out.get("contactEmail") is not None:
            out["contactEmail"] = self._email(out["contactEmail"])
        contact = out.get("contact")
        if isinstance(contact, Mapping):
            out["contact"] = self.contact(contact)
        return out

    def detail(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """A conversation detail with its nested messages and attention items."""
        out = self.conversation(obj)
        history = out.get("history")
        if isinstance(history, list):
            out["history"] = [self.message(m) if isinstance(m, Mapping) else m for m in history]
        items = out.get("attentionItems")
        if isinstance(items, list):
            out["attentionItems"] = [
                self.attention_item(i) if isinstance(i, Mapping) else i for i in items
            ]
        return out

    def contact(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """A contact: its ``email`` hashed when hashing is on."""
        out = dict(obj)
        if self.hash_contact_emails and out.get("email") is not None:
            out["email"] = self._email(out["email"])
        return out

    def message(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """A message: ``body`` omitted, ``fromAddress`` hashed, as the policy says."""
        out = dict(obj)
        if not self.store_message_bodies:
            out["body"] = None
            out["bodyOmitted"] = True
        if self.hash_contact_emails and out.get("fromAddress") is not None:
            out["fromAddress"] = self._email(out["fromAddress"])
        return out

    def attention_item(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """An attention item: a customer's words in its ``context`` omitted with the bodies."""
        out = dict(obj)
        context = out.get("context")
        if not self.store_message_bodies and isinstance(context, Mapping) and "message" in context:
            out["context"] = {
                **{k: v for k, v in context.items() if k != "message"},
                "messageOmitted": True,
            }
        return out

    def messages(self, objs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """``message`` over a list."""
        return [self.message(obj) for obj in objs]

    def attention_items(self, objs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """``attention_item`` over a list."""
        return [self.attention_item(obj) for obj in objs]


CONTACT = "contact"
EMAIL = "email"
CONVERSATION = "conversation"
KINDS = (CONTACT, EMAIL, CONVERSATION)
"""Suppression entries are keyed by contact id, an address's hash, or a conversation id."""


@dataclass(frozen=True, slots=True)
class Suppressed:
    """The suppression list as the planning needs it: what later syncs must leave out.

    A conversation is suppressed when its id is listed, or its contact's id, or its contact's
    address hash (``Privacy.hash_email``); an attention item when its conversation is.
    """

    contact_ids: frozenset[str] = frozenset()
    email_hashes: frozenset[str] = frozenset()
    conversation_ids: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.contact_ids or self.email_hashes or self.conversation_ids)

    def covers_row(self, conversation_id: str, row: Mapping[str, Any] | None) -> bool:
        """Whether a conversation is suppressed, judging by its id and list row alone."""
        if conversation_id in self.conversation_ids:
            return True
        if row is None:
            return False
        return str(row.get("contactId")) in self.contact_ids

    def covers(
        self,
        conversation_id: str,
        objects: Iterable[Mapping[str, Any] | None],
        privacy: Privacy,
    ) -> bool:
        """Whether a conversation is suppressed, judging by its list row and detail.

        ``objects`` are the raw (not yet reduced) list row and detail, either may be None.
        """
        if conversation_id in self.conversation_ids:
            return True
        for obj in objects:
            if obj is None:
                continue
            contact = obj.get("contact")
            contact = contact if isinstance(contact, Mapping) else {}
            for contact_id in (obj.get("contactId"), contact.get("id")):
                if contact_id is not None and str(contact_id) in self.contact_ids:
                    return True
            if self.email_hashes:
                for address in (obj.get("contactEmail"), contact.get("email")):
                    if isinstance(address, str) and self._hash_in(address, privacy):
                        return True
        return False

    def _hash_in(self, address: str, privacy: Privacy) -> bool:
        if _HASHED.match(address):
            return address in self.email_hashes
        return privacy.hash_email(address) in self.email_hashes
