-- wrk script for benchmarks/serving.py: POST the JSON file named by WRK_BODY_FILE
-- to the URL given on wrk's command line, on every request of every connection.
local path = os.getenv("WRK_BODY_FILE")
local file = assert(io.open(path or "", "rb"), "set WRK_BODY_FILE to a JSON body file")
wrk.method = "POST"
wrk.body = file:read("*a")
wrk.headers["Content-Type"] = "application/json"
file:close()
