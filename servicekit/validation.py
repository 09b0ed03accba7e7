"""Request bodies: parse strictly, answer a clear JSON error, never half-accept."""

import json
import unicodedata

from flask import abort, request
from gunicorn.http.errors import NoMoreData, ParseException
from werkzeug.exceptions import RequestEntityTooLarge

MAX_ID = 2**63 - 1  # SQLite's INTEGER range
IDEMPOTENCY_HEADER = "Idempotency-Key"


def idempotency_key():
    """The request's Idempotency-Key (None without one): 1 to 200 printable characters, else 400."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= 200 or not key.isprintable():
        abort(400, description=f"{IDEMPOTENCY_HEADER} must be 1 to 200 printable characters")
    return key


def json_object(allowed):
    """The body as a dict: JSON content type, valid JSON, an object, no unknown or repeated keys."""
    # application/json itself: werkzeug's is_json also takes any */*+json (merge-patch+json says
    # "apply as a patch", which these endpoints do not do).
    if request.mimetype != "application/json":
        abort(415, "expected Content-Type: application/json")
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding != "identity":  # a gzipped body read as JSON would be a confusing 400
        abort(415, f"Content-Encoding {encoding!r} is not supported; send the body uncompressed")
    raw = _whole_body()
    if not raw.strip():
        abort(400, "request body is empty; expected a JSON object")
    try:
        data = json.loads(raw, object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        abort(400, f"malformed JSON: {exc}")
    except RecursionError:
        abort(400, "malformed JSON: nested too deeply")
    if not isinstance(data, dict):
        abort(422, "expected a JSON object")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        abort(422, f"unknown field(s): {', '.join(unknown)}")
    return data


def _whole_body():
    """The body, all of it or an error. Without a Content-Length (chunked), werkzeug stops reading
    at MAX_CONTENT_LENGTH without a word: a body that goes on past it is refused here, not cut
    to it. A chunked encoding that breaks off or lies about its sizes is a 400."""
    try:
        raw = request.get_data(cache=True)
        limit = request.max_content_length
        if request.content_length is None and limit is not None and len(raw) >= limit:
            if request.environ["wsgi.input"].read(1):
                raise RequestEntityTooLarge()
    except (ParseException, NoMoreData) as exc:
        abort(400, f"malformed request body: {exc}")
    return raw


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
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in value):  # a lone surrogate is no character
        raise Invalid(f"'{name}' must not contain control characters or lone surrogates")
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
    not required. null, booleans, strings, NaN and out-of-range numbers are 422 (null is not
    "absent": the API documents a number)."""
    if name not in data:
        if required:
            abort(422, f"'{name}' is required")
        return None
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        abort(422, f"'{name}' must be a number")
    if not minimum <= value <= maximum:
        abort(422, f"'{name}' must be between {minimum:g} and {maximum:,}")
    cents = round(value * 100)
    # Exact: 0.29 is the double nearest 29/100, which is what 29 / 100 gives; 1e-9 or 1e-320
    # (within any tolerance of 0 cents) is not.
    if cents / 100 != value:
        abort(422, f"'{name}' must have at most two decimals")
    return cents


def money(cents):
    """Cents as the API shows them: 6000 -> 60, 6050 -> 60.5."""
    return cents // 100 if cents % 100 == 0 else cents / 100


def takes_query(*names):
    """The query parameters a view reads; any other is a 422 (checked before every view: web.py)."""

    def mark(view):
        view.query_parameters = frozenset(names)
        return view

    return mark


def refuse_unknown_query_parameters(view):
    """Unknown names, and a name given twice (which value would count?), are 422."""
    unknown = sorted(set(request.args) - getattr(view, "query_parameters", frozenset()))
    if unknown:
        abort(422, f"unknown query parameter(s): {', '.join(unknown)}")
    repeated = sorted(name for name, values in request.args.lists() if len(values) > 1)
    if repeated:
        abort(422, f"query parameter(s) given more than once: {', '.join(repeated)}")


def query_int(name, low, high):
    """A whole-number query parameter in [low, high], or None if absent; anything else is 422."""
    raw = request.args.get(name)
    if raw is None:
        return None
    # isdigit() alone takes "²" (int() does not) and "١" (which it does): ASCII digits only.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 20) or not low <= int(raw) <= high:
        abort(422, f"'{name}' must be a whole number from {low} to {high}")
    return int(raw)
