"""Request bodies: parse strictly, answer a clear JSON error, never half-accept."""

import json

from flask import abort, request

MAX_ID = 2**63 - 1  # SQLite's INTEGER range


def json_object(allowed):
    """The body as a dict: JSON content type, valid JSON, an object, no unknown or repeated keys."""
    if not request.is_json:
        abort(415, "expected Content-Type: application/json")
    raw = request.get_data(cache=True)
    if not raw.strip():
        abort(400, "request body is empty; expected a JSON object")
    try:
        data = json.loads(raw, object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        abort(400, f"malformed JSON: {exc}")
    if not isinstance(data, dict):
        abort(422, "expected a JSON object")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        abort(422, f"unknown field(s): {', '.join(unknown)}")
    return data


class Invalid(ValueError):
    """Input that breaks a rule; the message says which (REST answers 422, gRPC INVALID_ARGUMENT)."""


def checked_text(value, name, max_length):
    """The text stripped, or Invalid: the one rule for names and items, whatever the protocol."""
    if value is None:
        raise Invalid(f"'{name}' is required")
    if not isinstance(value, str):
        raise Invalid(f"'{name}' must be a string")
    value = value.strip()
    if not value:
        raise Invalid(f"'{name}' must not be empty")
    if len(value) > max_length:
        raise Invalid(f"'{name}' must be at most {max_length} characters")
    return value


def text_field(data, name, max_length):
    try:
        return checked_text(data.get(name), name, max_length)
    except Invalid as exc:
        abort(422, str(exc))


def id_field(data, name):
    value = data.get(name)
    if value is None:
        abort(422, f"'{name}' is required")
    # bool is an int in Python; true is not a user id.
    if isinstance(value, bool) or not isinstance(value, int):
        abort(422, f"'{name}' must be an integer")
    if not 1 <= value <= MAX_ID:
        abort(422, f"'{name}' must be between 1 and {MAX_ID}")
    return value


def _reject_duplicate_keys(pairs):
    keys = [k for k, _ in pairs]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise ValueError(f"duplicate key(s): {', '.join(repeated)}")
    return dict(pairs)


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


MAX_AMOUNT = 1_000_000  # in the demo's currency: larger is a typo, not an order


def money_field(data, name, minimum=0.01, maximum=MAX_AMOUNT, required=True):
    """A positive amount with at most two decimals, as whole cents (int); None if absent and
    not required. Booleans, strings, NaN and out-of-range numbers are 422."""
    value = data.get(name)
    if value is None:
        if required:
            abort(422, f"'{name}' is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        abort(422, f"'{name}' must be a number")
    if not minimum <= value <= maximum:
        abort(422, f"'{name}' must be between {minimum:g} and {maximum:,}")
    cents = round(value * 100)
    if abs(cents - value * 100) > 1e-6:
        abort(422, f"'{name}' must have at most two decimals")
    return cents


def money(cents):
    """Cents as the API shows them: 6000 -> 60, 6050 -> 60.5."""
    return cents // 100 if cents % 100 == 0 else cents / 100


def query_int(name, low, high):
    """A whole-number query parameter in [low, high], or None if absent; anything else is 422."""
    raw = request.args.get(name)
    if raw is None:
        return None
    if not raw.isdigit() or not low <= int(raw) <= high:
        abort(422, f"'{name}' must be a whole number from {low} to {high}")
    return int(raw)
