"""The EH sandbox's OAuth 2.0: authorization-code grant with mandatory S256 PKCE, no `scope`
parameter, a consent page, form-encoded token requests and rotating refresh tokens."""

from urllib.parse import urlencode

from flask import Blueprint, jsonify, redirect, render_template_string, request

from sandboxes.common import error, outcome, serve_fault
from sandboxes.eh_state import State, challenge_of, state

oauth = Blueprint("eh_oauth", __name__, url_prefix="/oauth2")

AUTHORIZE_PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "state",
    "code_challenge",
    "code_challenge_method",
)
TOKEN_FAULTS = ("500", "429", "slow", "drop")  # before the request is read
FORM = "application/x-www-form-urlencoded"

CONSENT = """<!doctype html><title>Employment Hero · Authorise</title>
<h1>Authorise {{ client_id }}</h1>
<p>Signed in as {{ user.name }} &lt;{{ user.email }}&gt;. The application will act as you.</p>
<form method="post">
{% for k, v in params.items() %}<input type="hidden" name="{{ k }}" value="{{ v }}">{% endfor %}
<button name="approve" value="1">Authorise</button>
<button name="approve" value="0">Deny</button>
</form>"""


def authorize_problem(params, config: dict) -> str | None:
    if "scope" in params:
        return "scope is not accepted: scopes are fixed on the API application"
    if params.get("response_type") != "code":
        return "response_type must be code"
    if params.get("client_id") != config.get("client_id"):
        return "unknown client_id"
    allowed = config.get("redirect_uris") or []
    uri = params.get("redirect_uri", "")
    if (allowed and uri not in allowed) or not uri.startswith(("http://", "https://")):
        return "redirect_uri is not registered for this application"
    if not params.get("code_challenge") or params.get("code_challenge_method") != "S256":
        return "PKCE is required: code_challenge with code_challenge_method S256"
    return None


def authorize_params(source) -> dict:
    return {k: source[k] for k in AUTHORIZE_PARAMS if k in source}


def invalid_request(description: str):
    return error(400, error="invalid_request", error_description=description)


@oauth.get("/authorize")
def authorize_page():
    st = state()
    problem = authorize_problem(request.args, st.config)
    if problem:
        return invalid_request(problem)
    params = authorize_params(request.args)
    return render_template_string(
        CONSENT, client_id=params["client_id"], params=params, user=st.user
    )


@oauth.post("/authorize")
def authorize_decision():
    st = state()
    problem = authorize_problem(request.form, st.config)
    if problem:
        return invalid_request(problem)
    params = authorize_params(request.form)
    target = params["redirect_uri"]
    if request.form.get("approve") != "1":
        query = {"error": "access_denied", "state": params.get("state", "")}
        return redirect(f"{target}?{urlencode(query)}")
    code = st.save_code(params)
    return redirect(f"{target}?{urlencode({'code': code, 'state': params.get('state', '')})}")


# -- the token endpoint -----------------------------------------------------------------------


def grant_error(code: str, description: str, status: int = 400):
    return error(status, error=code, error_description=description)


INJECTED = {
    "500": lambda: grant_error("server_error", "injected fault", 500),
    "429": lambda: grant_error("rate_limit_exceeded", "too many requests (injected)", 429),
}


@oauth.post("/token")
def token():
    st = state()
    grant = request.form.get("grant_type")  # read before any drop shuts the socket
    fault = st.faults.take(request.path, "POST", TOKEN_FAULTS)
    answer = serve_fault(fault, lambda kind: INJECTED[kind]()) or token_answer(st)
    st.log.add(method="POST", path=request.path, token_kind=grant, **outcome(answer[1]))
    return answer


def token_answer(st: State):
    if request.args or request.mimetype != FORM or not request.form:
        return invalid_request("send the parameters form-encoded in the body")
    form = request.form
    config = st.config
    if (form.get("client_id"), form.get("client_secret")) != (
        config.get("client_id"),
        config.get("client_secret"),
    ):
        return grant_error("invalid_client", "client authentication failed", 401)
    if st.faults.take(request.path, "POST", ("invalid_grant",)):
        return grant_error("invalid_grant", "the grant was revoked (injected)")
    if form.get("grant_type") == "authorization_code":
        return exchange(st, form)
    if form.get("grant_type") == "refresh_token":
        return refresh(st, form)
    return grant_error("unsupported_grant_type", "authorization_code or refresh_token only")


def exchange(st: State, form):
    saved = st.take_code(form.get("code", ""))
    if saved is None:
        return grant_error("invalid_grant", "the code is unknown, used or expired")
    if saved["redirect_uri"] != form.get("redirect_uri"):
        return grant_error("invalid_grant", "redirect_uri does not match")
    if challenge_of(form.get("code_verifier", "")) != saved["code_challenge"]:
        return grant_error("invalid_grant", "the code_verifier does not match")
    return jsonify(st.issue_tokens()), 200


def refresh(st: State, form):
    tokens = st.use_refresh_token(form.get("refresh_token", ""))
    if tokens is None:
        return grant_error("invalid_grant", "the refresh token is not valid")
    return jsonify(tokens), 200
