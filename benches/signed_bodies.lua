-- wrk: POSTs the pre-signed bodies of $BODIES in turn. With $THREADS wrk threads (wrk's
-- -t, default 2), thread i sends bodies i, i + THREADS, i + 2 * THREADS, …: no two
-- threads send the same body, so every request is a distinct message until the list
-- runs out (then they repeat, and count as Meta's redeliveries).
local bodies = {}
local counter = 0
local thread_index = 0
local threads = tonumber(os.getenv("THREADS") or "2")

function setup(thread)
  thread:set("index", thread_index)
  thread_index = thread_index + 1
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
