"""The baseline for (a): a Flask endpoint that parses the JSON and answers 202, nothing more."""

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/webhooks/<tenant_id>/<token>")
def receive(tenant_id, token):
    body = request.get_json(force=True)
    return jsonify(status="accepted", event_id=body.get("event_id")), 202
