-- wrk script for bench/api.py: POST /orders with a unique order id per request, the body PlaceOrder takes.
--
--   wrk -t1 -c64 -d10s --timeout 60s -s bench/api_orders.lua http://127.0.0.1:PORT -- PREFIX
--
-- Ids are PREFIX .. thread number .. "-" .. a counter of the thread's requests, so no two requests of one
-- run (or of the warm-up before it) name the same order. Each thread tallies its answers (200 or not) and
-- keeps the ids it sent whose answer has not come yet; done() prints the sums and those ids, which
-- api_load.py reads: wrk stops at the end of the duration with requests still in flight, and the server may
-- or may not have committed them, so the verification looks each of them up instead of guessing.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("number", #threads)
end

function init(args)
  prefix = (args[1] or "W") .. number .. "-"
  sent, ok, failed, first_failure = 0, 0, 0, ""
  pending = {}
  headers = { ["Content-Type"] = "application/json" }
end

function request()
  sent = sent + 1
  local id = prefix .. sent
  pending[id] = true
  local body = string.format('{"id":"%s","customer_id":"C%05d","sku":"SKU-1","quantity":1}', id, sent % 997)
  return wrk.format("POST", "/orders", headers, body)
end

function response(status, headers, body)
  -- Both servers answer with the order, whose "id" is the one sent (customer_id does not match: no quote
  -- before its "id").
  local id = body:match('"id"%s*:%s*"([^"]+)"')
  if id ~= nil then
    pending[id] = nil
  end
  if status == 200 then
    ok = ok + 1
  else
    failed = failed + 1
    if first_failure == "" then
      first_failure = status .. " " .. body:sub(1, 200):gsub("%s", " ")
    end
  end
end

function done(summary, latency, requests)
  local sums = { sent = 0, ok = 0, failed = 0 }
  local unanswered, failure = {}, ""
  for _, thread in ipairs(threads) do
    for key, _ in pairs(sums) do
      sums[key] = sums[key] + thread:get(key)
    end
    for id, _ in pairs(thread:get("pending")) do
      table.insert(unanswered, id)
    end
    if failure == "" then
      failure = thread:get("first_failure")
    end
  end
  local errors = summary.errors
  io.write(string.format(
    "result duration_us=%d requests=%d sent=%d ok=%d failed=%d connect=%d read=%d write=%d timeout=%d "
      .. "p50_us=%d p99_us=%d max_us=%d\n",
    summary.duration, summary.requests, sums.sent, sums.ok, sums.failed, errors.connect, errors.read,
    errors.write, errors.timeout, latency:percentile(50), latency:percentile(99), latency.max
  ))
  io.write("unanswered " .. table.concat(unanswered, " ") .. "\n")
  io.write("first_failure " .. failure .. "\n")
end
