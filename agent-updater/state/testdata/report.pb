
á
host-1.examplechannels/stable/cloudcanary"1.0.0(20.1.08*B|
1.0.01.1.0"S1.1.0 is unhealthy: GET http://127.0.0.1:8080/readyz returned HTTP 503
â€˜quotedâ€™*€‚’É•šï:2ª‚’ÉB|
1.0.01.1.0"S1.1.0 is unhealthy: GET http://127.0.0.1:8080/readyz returned HTTP 503
â€˜quotedâ€™*€‚’É•šï:2ª‚’ÉJ 0123456789abcdef0123456789abcdefP#outcome-001764000000-123456789-3.pb#outcome-001764000042-000000005-1.pb