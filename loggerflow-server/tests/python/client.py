"""A Python app using the real loggerflow 0.0.6 lifecycle clients, unchanged.

usage: python client.py {webhook|ws} BASE_URL PROJECT ERRORS SECONDS [PAUSE [distinct]]
Heartbeats every second; raises ERRORS identical errors (in a loop, PAUSE
seconds apart, 0.2 by default; with `distinct` each names its order), keeps
running SECONDS, then exits normally.
"""
import sys
import time
import traceback

from loggerflow import LoggerFlow
from loggerflow.lifecycle import WebhookLifecycle, WebSocketLifecycle

kind, base, project, errors, seconds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
pause = float(sys.argv[6]) if len(sys.argv) > 6 else 0.2
distinct = len(sys.argv) > 7 and sys.argv[7] == "distinct"
if kind == "webhook":
    lifecycle = WebhookLifecycle(webhook_url=base, heartbeat=1)
else:
    lifecycle = WebSocketLifecycle(websocket_url=base, heartbeat=1)
lf = LoggerFlow(project_name=project, backend=lifecycle)
lf.run()


def charge(order):
    if distinct:
        raise ZeroDivisionError(f"order {order} failed")
    return 100 / (order - order)


for order in range(errors):
    try:
        charge(order)
    except ZeroDivisionError:
        lf.send_traceback(traceback.format_exc())
    time.sleep(pause)
time.sleep(seconds)
