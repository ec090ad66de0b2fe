-- bench/web/codes.lua: wrk counts the replies by status (a 304 or a 503 is
-- "non-2xx" to wrk either way); printed as "status N: COUNT" lines.
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) codes = {} end
function response(status, headers, body) codes[status] = (codes[status] or 0) + 1 end
function done(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("codes")) do all[k] = (all[k] or 0) + v end
  end
  for k, v in pairs(all) do io.write(string.format("status %d: %d\n", k, v)) end
end
