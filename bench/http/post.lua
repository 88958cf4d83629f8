wrk.method = "POST"
wrk.body   = "hello, dh-serverless"
wrk.headers["Content-Type"] = "text/plain"
