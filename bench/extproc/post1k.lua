-- POST a 1 KiB body (headers + buffered body: two ext_proc messages per request).
wrk.method = "POST"
wrk.body = string.rep("x", 1024)
wrk.headers["Content-Type"] = "application/octet-stream"
