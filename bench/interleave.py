"""Two systems asked in turn, one request each, so both meet the same moment's noise.

    python -m bench.interleave PAIRS URL_A URL_B     (bench/outbox.py runs it on wrk's CPU)

On this VM the p50 of back-to-back 1-s wrk runs of one system swings by half (2.1–3.8 ms for the
same order); a ratio of two such runs cannot resolve a few percent. Here each pair of requests
is a few milliseconds apart, the order within a pair alternates, and each system keeps one
keep-alive connection. Prints one JSON line: the latencies (ms) of each system and its errors.
The client's own time (http.client, ~0.1 ms) is in both latencies alike.
"""

import http.client
import json
import sys
import time
from urllib.parse import urlsplit

ORDER = b'{"user_id": 1, "item": "Book"}'  # what wrk_report.lua sends
HEADERS = {"Content-Type": "application/json"}


def post(connection, path):
    """One order; (ms, ok)."""
    started = time.perf_counter_ns()
    connection.request("POST", path, body=ORDER, headers=HEADERS)
    response = connection.getresponse()
    response.read()
    return (time.perf_counter_ns() - started) / 1e6, response.status == 201


def main(pairs, urls, gap=0.0):
    targets = []
    for url in urls:
        parts = urlsplit(url)
        targets.append((http.client.HTTPConnection(parts.hostname, parts.port, timeout=5), parts.path))
    latencies, errors = [[], []], [0, 0]
    for n in range(pairs):
        for i in (0, 1) if n % 2 else (1, 0):
            ms, ok = post(*targets[i])
            latencies[i].append(ms)
            errors[i] += not ok
            if gap:
                time.sleep(gap)
    for connection, _ in targets:
        connection.close()
    print(json.dumps({"latencies": latencies, "errors": errors}))


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2:4], float(sys.argv[4]) / 1000 if len(sys.argv) > 4 else 0.0)
