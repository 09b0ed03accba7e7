"""`python -m servicekit.healthcheck`: the compose healthcheck, with nothing but Python.

The official python:*-slim images have no curl; exit 0 only if GET /health answers 200.
"""

import os
import sys
import urllib.request

url = f"http://127.0.0.1:{os.getenv('PORT', '5000')}/health"
try:
    with urllib.request.urlopen(url, timeout=3) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception as exc:  # any failure means unhealthy
    print(f"{url}: {exc}", file=sys.stderr)
    sys.exit(1)
