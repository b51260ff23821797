"""A structlog processor that masks personal data in every log line, ours or a library's."""

from collections.abc import Mapping
from typing import Final

from structlog.processors import format_exc_info
from structlog.types import EventDict, WrappedLogger

from functions._shared.pii.masking import mask_personal_data

# structlog's ProcessorFormatter keeps the LogRecord here for processors after us; it is
# removed before rendering and must stay an object.
_PROCESSOR_META_KEYS: Final = frozenset({"_record", "_from_structlog"})


def mask_log_event(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Mask every string in the event: ``event``, ``exception``, nested dicts, lists, tuples.

    Objects of other types are masked through their ``repr``, which is what the JSON and
    console renderers print for them. Numbers are left alone: a phone number kept as an int
    has lost its leading 0, and millisecond timestamps would pass for 13-digit card numbers.
    """
    if "exc_info" in event_dict:
        # Placed before format_exc_info, a renderer after us would print the raw traceback:
        # render it to the ``exception`` text here, so that text is masked too.
        event_dict = format_exc_info(logger, method_name, event_dict)
    for key, value in list(event_dict.items()):
        if key in _PROCESSOR_META_KEYS:
            continue
        masked_key = mask_personal_data(key)
        masked_value = _masked(value)
        if masked_key is not key:
            del event_dict[key]
        if masked_key is not key or masked_value is not value:
            event_dict[masked_key] = masked_value
    return event_dict


def _masked(value: object) -> object:
    """``value`` with personal data masked; the same object when there was none."""
    if isinstance(value, str):
        return mask_personal_data(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping):
        return _masked_mapping(value)
    if isinstance(value, list | tuple | set | frozenset):
        return _masked_collection(value)
    text = repr(value)
    masked_text = mask_personal_data(text)
    return value if masked_text is text else masked_text


def _masked_mapping(mapping: Mapping[object, object]) -> Mapping[object, object]:
    masked_items = [(_masked(key), _masked(item)) for key, item in mapping.items()]
    unchanged = all(
        masked_key is key and masked_item is item
        for (masked_key, masked_item), (key, item) in zip(
            masked_items, mapping.items(), strict=True
        )
    )
    return mapping if unchanged else dict(masked_items)


def _masked_collection(
    collection: list[object] | tuple[object, ...] | set[object] | frozenset[object],
) -> object:
    masked_elements = [_masked(element) for element in collection]
    if all(masked is element for masked, element in zip(masked_elements, collection, strict=True)):
        return collection
    if isinstance(collection, list):
        return masked_elements
    if isinstance(collection, tuple):
        # A named tuple becomes a plain one: the renderers print both as a list anyway.
        return tuple(masked_elements)
    return type(collection)(masked_elements)
