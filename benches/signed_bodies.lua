-- wrk: POSTs the pre-signed bodies of $BODIES in turn. With $THREADS wrk threads (wrk's
-- -t, default 2), thread i sends bodies i, i + THREADS, i + 2 * THREADS, …: no two
-- threads send the same body, so every request is a distinct message until the list
-- runs out (then they repeat, and count as Meta's redeliveries).
local bodies = {}
counter = 0 -- global: done() reads it from each thread
local thread_index = 0
local threads = tonumber(os.getenv("THREADS") or "2")
local started = {}

function setup(thread)
  thread:set("index", thread_index)
  thread_index = thread_index + 1
  started[#started + 1] = thread
end

function init(args)
  for line in io.lines(os.getenv("BODIES")) do
    local signature, body = line:match("^(.-)\t(.*)$")
    bodies[#bodies + 1] = { signature, body }
  end
end

function request()
  local item = bodies[((counter * threads + (index or 0)) % #bodies) + 1]
  counter = counter + 1
  return wrk.format("POST", "/webhook", {
    ["Content-Type"] = "application/json",
    ["X-Hub-Signature-256"] = item[1],
  }, item[2])
end

-- How many distinct bodies the threads sent between them: a fast server may take one
-- thread past its share of the list while the other is still within its own.
function done(summary, latency, requests)
  local lines = 0
  for _ in io.lines(os.getenv("BODIES")) do
    lines = lines + 1
  end
  local distinct = 0
  for i, thread in ipairs(started) do
    local share = math.floor((lines - (i - 1) + threads - 1) / threads)
    distinct = distinct + math.min(thread:get("counter"), share)
  end
  io.write(string.format("Distinct bodies sent: %d\n", distinct))
end
