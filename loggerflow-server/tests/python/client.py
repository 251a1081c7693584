"""A Python app using the real loggerflow 0.0.6 lifecycle clients, unchanged.

usage: python client.py {webhook|ws} BASE_URL PROJECT ERRORS SECONDS
Heartbeats every second; raises ERRORS identical errors (in a loop), keeps
running SECONDS, then exits normally.
"""
import sys
import time
import traceback

from loggerflow import LoggerFlow
from loggerflow.lifecycle import WebhookLifecycle, WebSocketLifecycle

kind, base, project, errors, seconds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
if kind == "webhook":
    lifecycle = WebhookLifecycle(webhook_url=base, heartbeat=1)
else:
    lifecycle = WebSocketLifecycle(websocket_url=base, heartbeat=1)
lf = LoggerFlow(project_name=project, backend=lifecycle)
lf.run()


def charge(order):
    return 100 / (order - order)


for order in range(errors):
    try:
        charge(order)
    except ZeroDivisionError:
        lf.send_traceback(traceback.format_exc())
    time.sleep(0.2)
time.sleep(seconds)
