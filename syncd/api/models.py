"""Typed views of the oHallo API's JSON: lenient, frozen, and keeping the payload as received.

Every model: camelCase aliases (snake_case names work too), unknown fields kept (``model_extra``),
only ``id`` required, every other documented field ``None`` when absent, statuses and types plain
``str`` (new values are normal), timestamps aware UTC datetimes, and ``.raw`` the JSON object
exactly as the server sent it (excluded from ``model_dump``; empty when built from Python values),
each timestamp in it a ``syncd.stamps.Stamp``: the same text, carrying the instant read from it,
so nothing reads it again (``utc_datetime`` returns a Stamp's instant).

The JSON object is the form an API object keeps from here on (docs/internals.md, syncd/api):
the sync works on ``.raw``; the model is its typed view at the API's edge. ``.raw`` is attached
by the entry points that see the input: ``from_raw``, ``parse_item``/``parse_items``, and a
detail's validator for the detail and its nested parts (plain ``model_validate`` keeps none). It
lives in ``__pydantic_private__`` without a declared ``PrivateAttr``: a private attribute or a
model validator on every row would cost a Python call per instance, which was most of the price
of parsing a message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import GenericAlias
from typing import Annotated, Any, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    GetCoreSchemaHandler,
    GetPydanticSchema,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel, to_snake
from pydantic_core import CoreSchema
from pydantic_core import core_schema as cs

from syncd.stamps import Stamp, stamp


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:  # the API documents UTC; a zone-less stamp is read as UTC
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _utc_datetime_schema(source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
    # pydantic would read a number as a Unix time; the API sends ISO-8601 text only. The gate
    # (text or a datetime, else the same value_error as a validator raising ValueError would give)
    # runs inside pydantic-core; only the conversion to UTC is a Python call.
    only_text_or_datetime = cs.custom_error_schema(
        cs.union_schema([cs.str_schema(strict=True), cs.datetime_schema(strict=True)]),
        custom_error_type="value_error",
        custom_error_context={"error": "must be an ISO-8601 timestamp string"},
    )
    return cs.chain_schema(
        [only_text_or_datetime, cs.no_info_after_validator_function(_as_utc, handler(source))]
    )


UtcDatetime = Annotated[
    datetime,
    GetPydanticSchema(_utc_datetime_schema),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


_utc_datetime: Callable[[Any], datetime] = TypeAdapter(UtcDatetime).validate_python


def utc_datetime(value: Any) -> datetime | None:
    """An API timestamp by the models' own rule (ISO-8601 text → aware UTC); None stays None.

    A ``Stamp`` (left by validation) gives the instant validation read, without reading the
    text again; other text (the mirror's stored ``raw``, objects built by hand) is read here.
    Raises ``ValidationError`` (a ``ValueError``) for what validation would refuse.
    """
    if value is None:
        return None
    if type(value) is Stamp:
        return value.instant
    return _utc_datetime(value)


def describe_errors(exc: ValidationError) -> str:
    """A validation error as ``field: problem; ...`` without echoing the (personal) input."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = ".".join(str(part) for part in error["loc"]) or "(root)"
        parts.append(f"{loc}: {error['msg']}")
    return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class MalformedRow:
    """A row that failed validation: its id when it has one, the raw value, and why."""

    id: str | None
    raw: Any
    error: str
    path: str = ""


def row_id(raw: Any) -> str | None:
    """The id of a raw row if it has a usable one (text, or a number as text)."""
    if isinstance(raw, dict):
        value = raw.get("id")
        if isinstance(value, str) and value:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    return None


_object_setattr = object.__setattr__

# Per model class: (field name, alias) of its timestamp fields, worked out once.
_STAMPED: dict[type[BaseModel], tuple[tuple[str, str], ...]] = {}


def _stamped_fields(model: type[BaseModel]) -> tuple[tuple[str, str], ...]:
    fields = _STAMPED.get(model)
    if fields is None:
        fields = tuple(
            (name, info.alias or name)
            for name, info in model.model_fields.items()
            if UtcDatetime in (info.annotation, *getattr(info.annotation, "__args__", ()))
        )
        _STAMPED[model] = fields
    return fields


def _keep_raw(model: BaseModel, raw: dict[str, Any]) -> None:
    """Keep ``raw`` as the model's ``.raw``, each timestamp in it a ``Stamp`` carrying the
    instant validation read (so nothing reads the text again)."""
    # Only on a fresh instance: a detail's own validator already stored its raw and malformed.
    if model.__pydantic_private__ is None:
        _object_setattr(model, "__pydantic_private__", {"_raw": raw})
    stamp_raw(model, raw)


def stamp_raw(model: BaseModel, raw: dict[str, Any]) -> None:
    """Replace each timestamp text of ``raw`` by a ``Stamp`` of it and the model's instant."""
    for name, alias in _stamped_fields(type(model)):
        text = raw.get(alias)
        if type(text) is str:
            raw[alias] = stamp(text, getattr(model, name))
        elif text is None and name in raw and type(raw[name]) is str:  # sent by its own name
            raw[name] = stamp(raw[name], getattr(model, name))


class ApiModel(BaseModel):
    """Base of every API object: lenient, frozen, and remembering its raw payload."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        frozen=True,
    )

    @property
    def raw(self) -> dict[str, Any]:
        """The JSON object exactly as received (empty when built from Python values)."""
        private = self.__pydantic_private__
        if private is None:
            return {}
        raw: dict[str, Any] = private["_raw"]
        return raw

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> Self:
        """Validate one JSON object; the object itself is kept as ``.raw``."""
        model: Self = cls.__pydantic_validator__.validate_python(raw)
        _keep_raw(model, raw)
        return model


class Contact(ApiModel):
    """The contact of a conversation (detail payload)."""

    id: str
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None


class Account(ApiModel):
    """The account (company) of a conversation's contact (detail payload)."""

    id: str
    name: str | None = None


class Message(ApiModel):
    """One message; voice messages are all ``inbound`` with ``speaker`` caller/ai."""

    id: str
    direction: str | None = None
    speaker: str | None = None
    body: str | None = None
    sent_at: UtcDatetime | None = None
    channel: str | None = None
    from_address: str | None = None
    subject: str | None = None


class Attachment(ApiModel):
    """A file attached to a conversation's message."""

    id: str
    message_id: str | None = None
    file_name: str | None = None
    mime_type: str | None = None
    size_bytes: int | None = None
    status: str | None = None
    created_at: UtcDatetime | None = None


class AttentionItem(ApiModel):
    """A flag raised by the AI pipeline for a human (``context`` depends on ``type``)."""

    id: str
    tenant_id: str | None = None
    conversation_id: str | None = None
    type: str | None = None
    status: str | None = None
    context: dict[str, Any] | None = None
    reason: str | None = None
    created_at: UtcDatetime | None = None
    resolved_at: UtcDatetime | None = None
    turn_id: str | None = None
    assigned_to_user_id: str | None = None


class ConversationRow(ApiModel):
    """A row of ``GET /api/conversations``; the optional signal fields are None when absent."""

    id: str
    workspace_id: str | None = None
    channel_id: str | None = None
    contact_id: str | None = None
    status: str | None = None
    last_message_preview: str | None = None
    last_message_at: UtcDatetime | None = None
    contact_name: str | None = None
    contact_email: str | None = None
    account_name: str | None = None
    human_managed: bool | None = None
    form_type: str | None = None
    auto_resolved: bool | None = None
    # Shape undocumented (text in the samples we know): kept as whatever JSON it is.
    last_turn_routing_path: Any = None


_ItemT = TypeVar("_ItemT", bound=ApiModel)


def parse_item(
    model: type[_ItemT], raw: Any, path: str
) -> tuple[_ItemT | None, MalformedRow | None]:
    """One raw row as ``model``, or the MalformedRow saying why it is not one."""
    if not isinstance(raw, dict):
        return None, MalformedRow(None, raw, "not a JSON object", path)
    try:
        return model.from_raw(raw), None
    except ValidationError as exc:
        return None, MalformedRow(row_id(raw), raw, describe_errors(exc), path)


_list_validators: dict[type[ApiModel], Callable[[list[Any]], list[Any]]] = {}


def _list_validator(model: type[ApiModel]) -> Callable[[list[Any]], list[Any]]:
    """``validate_python`` of ``list[model]`` (straight to pydantic-core, built once per model)."""
    validate = _list_validators.get(model)
    if validate is None:
        list_type: Any = GenericAlias(list, (model,))  # list[model], for a model known at run time
        validate = TypeAdapter(list_type).validator.validate_python
        _list_validators[model] = validate
    return validate


def parse_items(
    model: type[_ItemT], raws: list[Any], path: str
) -> tuple[tuple[_ItemT, ...], tuple[MalformedRow, ...]]:
    """Every raw row of a list as ``model``; the bad ones go to the second tuple."""
    if all(isinstance(raw, dict) for raw in raws):
        # The usual case, every row good: the whole list in one call into pydantic-core. When
        # a row fails, the rows are parsed one by one below to tell the good from the bad.
        try:
            items: list[_ItemT] = _list_validator(model)(raws)
        except ValidationError:
            pass
        else:
            for parsed, raw in zip(items, raws, strict=True):
                _keep_raw(parsed, raw)
            return tuple(items), ()
    good: list[_ItemT] = []
    bad: list[MalformedRow] = []
    for index, raw in enumerate(raws):
        item, problem = parse_item(model, raw, f"{path}[{index}]")
        if item is not None:
            good.append(item)
        elif problem is not None:
            bad.append(problem)
    return tuple(good), tuple(bad)


# Nested parts of a detail parsed leniently: a bad message never fails the conversation.
_DETAIL_OBJECTS: dict[str, type[ApiModel]] = {"contact": Contact, "account": Account}
_DETAIL_LISTS: dict[str, type[ApiModel]] = {"history": Message, "attentionItems": AttentionItem}
_SNAKE_CASE_LISTS = {to_snake(key): key for key in _DETAIL_LISTS if to_snake(key) != key}


class ConversationDetail(ApiModel):
    """``GET /api/conversations/{id}``; each nested part is None when the server left it out.

    ``None`` (absent: the server's upstream fetch failed) is distinct from ``()`` (none exist).
    Nested rows that fail validation are dropped into ``.malformed`` rather than failing the detail.
    """

    id: str
    tenant_id: str | None = None
    workspace_id: str | None = None
    channel_id: str | None = None
    channel_type: str | None = None
    contact_id: str | None = None
    account_id: str | None = None
    status: str | None = None
    state_summary: str | None = None
    outcome: str | None = None
    human_managing_user_id: str | None = None
    last_activity_at: UtcDatetime | None = None
    created_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None
    contact: Contact | None = None
    account: Account | None = None
    history: tuple[Message, ...] | None = None
    context_entries: tuple[Any, ...] | None = None
    attention_items: tuple[AttentionItem, ...] | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _lenient_parts(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if not isinstance(data, dict):
            return handler(data)
        prepared = dict(data)
        malformed: list[MalformedRow] = []
        for key, part_model in _DETAIL_OBJECTS.items():
            if prepared.get(key) is not None:
                item, problem = parse_item(part_model, prepared[key], key)
                prepared[key] = item
                malformed.extend([problem] if problem else [])
        for key, item_model in _DETAIL_LISTS.items():
            value = prepared.get(key)
            if value is None:
                continue
            if not isinstance(value, list):
                malformed.append(MalformedRow(None, value, "not a JSON array", key))
                prepared[key] = None
                continue
            items, problems = parse_items(item_model, value, key)
            prepared[key] = items
            malformed.extend(problems)
        entries = prepared.get("contextEntries")
        if entries is not None and not isinstance(entries, list):
            malformed.append(MalformedRow(None, entries, "not a JSON array", "contextEntries"))
            prepared["contextEntries"] = None
        model = handler(prepared)
        if isinstance(model, ConversationDetail):
            private = {"_raw": data, "_malformed": tuple(malformed)}
            _object_setattr(model, "__pydantic_private__", private)
            stamp_raw(model, data)
            model._keep_raws_of_named_lists(data)
        return model

    def _keep_raws_of_named_lists(self, data: dict[str, Any]) -> None:
        # A list sent under its snake_case name (``attention_items``) is not parsed leniently
        # above but validated by pydantic with the detail; its rows get their raw here.
        for name, key in _SNAKE_CASE_LISTS.items():
            if key in data:
                continue
            raws, items = data.get(name), getattr(self, name)
            if isinstance(raws, list) and items is not None:
                for item, raw in zip(items, raws, strict=False):
                    if isinstance(raw, dict):
                        _keep_raw(item, raw)

    @property
    def malformed(self) -> tuple[MalformedRow, ...]:
        """Nested rows (messages, attention items, contact, account) that failed validation."""
        private = self.__pydantic_private__
        if private is None:
            return ()
        malformed: tuple[MalformedRow, ...] = private["_malformed"]
        return malformed
