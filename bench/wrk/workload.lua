-- wrk script for the registrar benchmark (bench/run.py passes the arguments after "--"):
--   wrk ... -s bench/wrk/workload.lua URL -- W1|W2|W3|W4|W5 TOKEN STUDENT_LO STUDENT_HI COURSE_LO COURSE_HI SEED [FROM TO]
-- Each request picks random ids from the seeded ranges (W5: and a random instant between the epoch
-- seconds FROM and TO); done() prints one JSON line for run.py and history.py.

local kind, student_lo, student_hi, course_lo, course_hi, instant_lo, instant_hi

function init(args)
  kind = args[1]
  student_lo, student_hi = tonumber(args[3]), tonumber(args[4])
  course_lo, course_hi = tonumber(args[5]), tonumber(args[6])
  -- The same seed gives every server the same sequence of ids (run.py uses one thread).
  math.randomseed(tonumber(args[7]))
  instant_lo, instant_hi = tonumber(args[8] or "0"), tonumber(args[9] or "0")
  wrk.headers["Authorization"] = "Bearer " .. args[2]
  if kind == "W2" then
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
  end
end

local function two_courses()
  local a = math.random(course_lo, course_hi)
  local b = math.random(course_lo, course_hi - 1)
  if b >= a then b = b + 1 end -- two distinct ids
  return a, b
end

function request()
  if kind == "W3" then
    return wrk.format(nil, "/courses/" .. math.random(course_lo, course_hi) .. "/students?limit=50")
  elseif kind == "W5" then
    local as_of = os.date("!%Y-%m-%dT%H:%M:%SZ", math.random(instant_lo, instant_hi))
    return wrk.format(nil, "/courses/" .. math.random(course_lo, course_hi) .. "/students?limit=50&as_of=" .. as_of)
  end
  local student = math.random(student_lo, student_hi)
  if kind == "W1" then
    return wrk.format(nil, "/students/" .. student .. "/courses")
  elseif kind == "W2" then
    local a, b = two_courses()
    return wrk.format(nil, "/students/" .. student .. "/courses", nil, '{"course_ids":[' .. a .. "," .. b .. "]}")
  end
  return wrk.format(nil, "/students/" .. student)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,'
      .. '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout
  ))
end
