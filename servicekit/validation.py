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


def text_field(data, name, max_length):
    value = data.get(name)
    if value is None:
        abort(422, f"'{name}' is required")
    if not isinstance(value, str):
        abort(422, f"'{name}' must be a string")
    value = value.strip()
    if not value:
        abort(422, f"'{name}' must not be empty")
    if len(value) > max_length:
        abort(422, f"'{name}' must be at most {max_length} characters")
    return value


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
