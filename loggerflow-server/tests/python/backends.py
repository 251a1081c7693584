"""A Python app with alarm backends (and their authors) beside its real
loggerflow 0.0.6 lifecycle client, as the original's projects page shows.

usage: python backends.py {webhook|ws} BASE_URL PROJECT SECONDS LOG_FILE
Says hello with a Telegram backend (authors @ann and @bob, never used: no
error is raised) and a file backend, heartbeats every second for SECONDS,
then exits.
"""
import sys
import time

from loggerflow import LoggerFlow
from loggerflow.backends import FileBackend, TelegramBackend
from loggerflow.lifecycle import WebhookLifecycle, WebSocketLifecycle

kind, base, project, seconds, log_file = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]
if kind == "webhook":
    lifecycle = WebhookLifecycle(webhook_url=base, heartbeat=1)
else:
    lifecycle = WebSocketLifecycle(websocket_url=base, heartbeat=1)
telegram = TelegramBackend(token="0:unused", chat_id=1, authors=["@ann", "@bob"])
lf = LoggerFlow(project_name=project, backend=[telegram, FileBackend(log_file), lifecycle])
lf.run()
time.sleep(seconds)
