-- wrk: POSTs the pre-signed bodies of $BODIES in turn, each thread from its own offset.
local bodies = {}
local counter = 0
local thread_index = 0

function setup(thread)
  thread:set("offset", thread_index * 7919)
  thread_index = thread_index + 1
end

function init(args)
  for line in io.lines(os.getenv("BODIES")) do
    local signature, body = line:match("^(.-)\t(.*)$")
    bodies[#bodies + 1] = { signature, body }
  end
  counter = offset or 0
end

function request()
  counter = counter + 1
  local item = bodies[(counter % #bodies) + 1]
  return wrk.format("POST", "/webhook", {
    ["Content-Type"] = "application/json",
    ["X-Hub-Signature-256"] = item[1],
  }, item[2])
end
