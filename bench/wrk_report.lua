-- wrk script for bench/run.py: POST an order (or GET with BENCH_METHOD=GET), then print one
-- machine-readable line with the latency percentiles wrk measured.
local method = os.getenv("BENCH_METHOD") or "POST"
wrk.method = method
if method == "POST" then
  wrk.body = '{"user_id": 1, "item": "Book"}'
  wrk.headers["Content-Type"] = "application/json"
else
  -- measure the hop, not the gateway's cache
  wrk.headers["Cache-Control"] = "no-cache"
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "seconds": %.6f, "errors": %d, "p50": %.4f, "p95": %.4f, "p99": %.4f}\n',
    summary.requests, summary.duration / 1e6, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
