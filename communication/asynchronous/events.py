"""The message envelope every event travels in.

body    {"id": "<uuid>", "type": "order.created", "time": 1763870000.123, "data": {...}}
headers Nats-Msg-Id: <id> (JetStream drops a re-published duplicate), X-Request-ID (the
        request that caused it: grep one id and see the whole trip), Event-Type
"""

import json
import time
import uuid
from dataclasses import dataclass, field

from servicekit.correlation import REQUEST_ID_HEADER, safe_or_new

from .streams import subject_of


class Malformed(ValueError):
    """A message that is not an event of ours: it goes to the dead letters, never back."""


@dataclass
class Event:
    type: str
    data: dict
    request_id: str = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    time: float = field(default_factory=time.time)

    @property
    def subject(self):
        return subject_of(self.type)

    def body(self):
        return json.dumps({"id": self.id, "type": self.type, "time": self.time, "data": self.data}).encode()

    def headers(self):
        return {"Nats-Msg-Id": self.id, REQUEST_ID_HEADER: self.request_id or "", "Event-Type": self.type}


def decode(data, headers=None):
    """The Event in a message's bytes and headers; Malformed if it is not one."""
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Malformed(f"not JSON: {exc}") from None
    except RecursionError:
        raise Malformed("not JSON we read: nested too deeply") from None
    if not isinstance(body, dict):
        raise Malformed("not a JSON object")
    missing = [k for k in ("id", "type", "time", "data") if k not in body]
    if missing:
        raise Malformed(f"missing {', '.join(missing)}")
    if not isinstance(body["id"], str) or not isinstance(body["type"], str) or not isinstance(body["data"], dict):
        raise Malformed("id and type must be strings, data an object")
    if not isinstance(body["time"], int | float) or isinstance(body["time"], bool):
        raise Malformed("time must be a number")
    request_id = safe_or_new((headers or {}).get(REQUEST_ID_HEADER))
    return Event(type=body["type"], data=body["data"], request_id=request_id, id=body["id"], time=body["time"])
