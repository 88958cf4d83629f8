-- wrk: POST the body in $OI_BODY to $OI_PATH; $OI_HEADER_LEN (if set) is the
-- Inference-Header-Content-Length of a binary-extension body, else the body is JSON.
local file = assert(io.open(os.getenv("OI_BODY"), "rb"))
wrk.method = "POST"
wrk.path = os.getenv("OI_PATH")
wrk.body = file:read("*a")
file:close()
local header_length = os.getenv("OI_HEADER_LEN")
if header_length and header_length ~= "" then
  wrk.headers["Inference-Header-Content-Length"] = header_length
  wrk.headers["Content-Type"] = "application/octet-stream"
else
  wrk.headers["Content-Type"] = "application/json"
end
