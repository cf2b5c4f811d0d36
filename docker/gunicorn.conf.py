"""gunicorn settings for the production image; each value can be overridden from the environment."""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "3"))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
# Workers import the application before forking, so a new worker serves its first request warm.
preload_app = True
# Restarting a worker costs a slow first request; do it rarely (a guard against slow leaks).
max_requests = 20000
max_requests_jitter = 2000
accesslog = "-"
# No client address or user agent: with a survey submission's time they could tie an employee's
# anonymous response to a person. The request id links a line to the application's own logs.
access_log_format = '%(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms request_id=%({x-request-id}o)s'
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
