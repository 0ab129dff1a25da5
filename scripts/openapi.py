#!/usr/bin/env python3
"""Writes Sources/Gateway/Resources/openapi.json, the OpenAPI 3.1 document the gateway serves.

The document is generated so that the /api/v1 routes and their /api aliases stay identical: edit
this file, run `python3 scripts/openapi.py`, commit both. GatewayTests check the result against
the gateway's router, and validate it with openapi-spec-validator.
"""
import copy
import json
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Sources", "Gateway", "Resources", "openapi.json")

LANG_IDS = ["python", "javascript", "typescript", "c", "cpp", "java", "go", "ruby"]
SLUGS = [
    "bad-request", "validation", "not-found", "method-not-allowed", "conflict", "gone",
    "payload-too-large", "uri-too-long", "unsupported-media-type", "header-fields-too-large",
    "unauthorized", "forbidden", "unavailable", "request-timeout", "internal",
]


def ref(kind, name):
    return {"$ref": f"#/components/{kind}/{name}"}


def sref(name):
    return ref("schemas", name)


def ms(extra=None):
    s = {"type": "integer", "format": "int64", "description": "Unix milliseconds"}
    if extra:
        s.update(extra)
    return s


DESCRIPTION = """\
HTTP API of the CodeInterview gateway (collaborative coding interviews).

**Prefixes.** Every API route is served under `/api/v1` and, identically, under `/api` (an alias kept \
for older clients; operations on the alias carry the operationId suffix `Legacy`). `/health` and \
`/openapi.json` are additionally served at the root (operationId suffix `Root`).

**Format.** JSON everywhere with snake_case field names. Request bodies must be sent with \
`Content-Type: application/json` (a `charset` parameter is allowed); a POST/PATCH with a non-empty body \
of another content type is rejected with 415. An empty body counts as `{}`. `HEAD` works on every GET \
route (same headers, no body). CORS: `OPTIONS` preflight requests (with `Access-Control-Request-Method`) \
are answered with 204 and `Access-Control-Allow-Methods`/`-Allow-Headers`/`-Max-Age` for configured \
origins (`*` allowed); a matching `Origin` gets `Access-Control-Allow-Origin` and `Vary: Origin`; \
`Location` and `Retry-After` are exposed via `Access-Control-Expose-Headers`.

**Timestamps.** All timestamps (`created_at`, `updated_at`, `expires_at`, `joined_at`, `at`) are \
integers in Unix milliseconds.

**Authentication.** `Authorization: Bearer <token>`, where the token is a session's host token \
(returned once by `POST /sessions`) or a participant token (returned when joining, or to a named \
creator). Operations that need a token declare the `bearer` security scheme; where a token is optional \
the operation lists both `{}` and `bearer`. Missing token -> 401 `unauthorized`; a token that does not \
grant the action -> 403 `forbidden`.

**Errors.** Errors are RFC 9457 problem details (`Content-Type: application/problem+json`, schema \
`Problem`) with `type` = `urn:codeinterview:problem:<slug>`; `field` names the offending field on \
422/413 errors about a single field. Slugs: `bad-request` (400, malformed JSON or body not an object), \
`unauthorized` (401), `forbidden` (403), `not-found` (404), `method-not-allowed` (405), \
`request-timeout` (408), `conflict` (409), `gone` (410), `payload-too-large` (413), `uri-too-long` \
(414), `unsupported-media-type` (415), `validation` (422), `header-fields-too-large` (431), \
`internal` (500), `unavailable` (503).

Responses that can occur on any request and are therefore not repeated on each operation: an unknown \
path -> 404 `not-found`; a known path with a wrong method -> 405 `method-not-allowed` with an `Allow` \
header; a header block over the limit (16 KiB by default) -> 431 `header-fields-too-large`; a request \
URL over the limit (8 KiB by default) -> 414 `uri-too-long`; headers not received within the header-read \
timeout (10 s by default) -> 408 `request-timeout`, then the connection is closed; an unexpected server \
error -> 500 `internal`. Idle keep-alive connections are closed after 60 s by default. Request bodies \
over the body limit (1 MiB by default) -> 413 `payload-too-large`. When the session store (Redis) is \
unreachable, operations that touch it answer 503 `unavailable` (\"the session store is unreachable; \
retry shortly\") with `Retry-After: 1`. All limits are configurable.
"""

# ---------------------------------------------------------------- schemas
participant = {
    "type": "object",
    "description": "A person in a session.",
    "required": ["id", "name", "role", "color", "joined_at"],
    "properties": {
        "id": {"type": "string", "pattern": "^u_[0-9a-f]{16}$", "description": "Participant id: `u_` followed by 16 hex digits.", "examples": ["u_3f9a0c12b7d4e865"]},
        "name": {"type": "string", "minLength": 1, "maxLength": 64, "description": "Display name (trimmed, 1..64 characters, no control characters)."},
        "role": {"type": "string", "enum": ["interviewer", "candidate"]},
        "color": {"type": "string", "pattern": "^#[0-9A-Fa-f]{6}$", "description": "Server-assigned `#rrggbb` color, distinct within the session.", "examples": ["#e6194b"]},
        "joined_at": ms(),
    },
}

session = {
    "type": "object",
    "description": "An interview session.",
    "required": ["id", "name", "join_url", "code", "language", "revision", "status", "created_at",
                 "updated_at", "expires_at", "max_participants", "participants"],
    "properties": {
        "id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{22}$", "description": "Session id: 22 base64url characters (128 random bits).", "examples": ["Zb3kQ9x_T1mR2aV7cW0yLg"]},
        "name": {"type": ["string", "null"], "description": "Session name, or null when none was given."},
        "join_url": {"type": "string", "description": "URL to join the session (based on the configured public URL, or on the request's Host header)."},
        "code": {"type": "string", "description": "Current code of the session."},
        "language": sref("LanguageId"),
        "revision": {"type": "integer", "format": "int64", "minimum": 0, "description": "Starts at 0 and is incremented by 1 per code change (a code save, or a code or language change via PATCH)."},
        "status": {"type": "string", "enum": ["active", "completed"]},
        "created_at": ms(),
        "updated_at": ms(),
        "expires_at": ms({"description": "Unix milliseconds"}),
        "max_participants": {"type": "integer", "minimum": 1, "description": "Maximum number of participants (default 10; 1..50 with the default limit)."},
        "participants": {"type": "array", "items": sref("Participant")},
    },
}

session_created = {
    "description": "A newly created session plus the tokens issued for it. `participant_token` and "
                   "`participant_id` are present only when a creator (`creator.name` or `host_name`) was named; "
                   "that person is then listed in `participants` with role `interviewer`.",
    "allOf": [
        sref("Session"),
        {
            "type": "object",
            "required": ["host_token"],
            "properties": {
                "host_token": {"type": "string", "description": "The session's host token (Bearer token for host-only actions). Returned only here."},
                "participant_token": {"type": "string", "description": "Participant token of the named creator."},
                "participant_id": {"type": "string", "pattern": "^u_[0-9a-f]{16}$", "description": "Participant id of the named creator."},
            },
        },
    ],
}

name_prop = {"type": "string", "minLength": 1, "maxLength": 64, "description": "Display name: 1..64 characters after trimming, no control characters."}

create_empty = {
    "title": "Empty",
    "type": "object",
    "description": "`{}` (or an empty body): a session with all defaults and no participants.",
    "additionalProperties": True,
}
create_creator = {
    "title": "WithCreator",
    "type": "object",
    "description": "Names the creator, who joins as `interviewer`. `creator.id` and `creator.color` are ignored (the server assigns them).",
    "properties": {
        "creator": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "id": {"description": "Ignored; the server assigns the participant id."},
                "name": name_prop,
                "color": {"description": "Ignored; the server assigns the color."},
            },
            "additionalProperties": True,
        },
        "code": {"type": "string", "description": "Initial code; defaults to the language's template."},
        "language": {"allOf": [sref("LanguageId")], "default": "python", "description": "Language id; default `python`."},
    },
    "additionalProperties": True,
}
create_host = {
    "title": "WithHost",
    "type": "object",
    "description": "Names the host, who joins as `interviewer`, and optionally the session.",
    "properties": {
        "host_name": name_prop,
        "session_name": {"type": "string", "description": "Session name (becomes `Session.name`)."},
        "initial_language": {"allOf": [sref("LanguageId")], "default": "python", "description": "Language id; default `python`. The code starts as this language's template."},
        "max_participants": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10, "description": "1..50 (the upper bound is the configurable max-participants limit, 50 by default); outside -> 422."},
    },
    "additionalProperties": True,
}

create_req = {
    "description": "Body of `POST /sessions`, accepted in any of three shapes; unknown fields are ignored, and an "
                   "empty body counts as `{}`. Defaults: code = the language's template, language `python`, "
                   "max_participants 10, expires_at = now + session TTL (24 h by default).",
    "anyOf": [create_empty, create_creator, create_host],
}

update_req = {
    "type": "object",
    "description": "Body of `PATCH /sessions/{id}`; every field is optional. A change of `code` or `language` "
                   "increments `revision`. Setting `status` to `completed` ends the session and needs the host token.",
    "properties": {
        "code": {"type": "string", "description": "New code (subject to the code size limit, 256 KiB by default; over it -> 413 naming the field)."},
        "language": sref("LanguageId"),
        "status": {"type": "string", "enum": ["active", "completed"], "description": "`completed` ends the session (host token required: 401 without a token, 403 with another token)."},
        "name": {"type": ["string", "null"], "description": "New session name."},
    },
}

join_req = {
    "type": "object",
    "description": "Body of `POST /sessions/{id}/users`.",
    "required": ["name"],
    "properties": {
        "name": name_prop,
        "role": {"type": "string", "enum": ["candidate", "interviewer"], "default": "candidate",
                 "description": "`interviewer` needs the session's host token (otherwise 403)."},
    },
}

join_resp = {
    "type": "object",
    "required": ["participant", "participant_token"],
    "properties": {
        "participant": sref("Participant"),
        "participant_token": {"type": "string", "description": "Bearer token of the new participant."},
    },
}

participant_list = {
    "type": "object",
    "required": ["participants", "count", "max_participants"],
    "properties": {
        "participants": {"type": "array", "items": sref("Participant")},
        "count": {"type": "integer", "minimum": 0, "description": "Number of participants."},
        "max_participants": {"type": "integer", "minimum": 1},
    },
}

code = {
    "type": "object",
    "description": "The session's current code.",
    "required": ["code", "language", "revision", "updated_at"],
    "properties": {
        "code": {"type": "string"},
        "language": sref("LanguageId"),
        "revision": {"type": "integer", "format": "int64", "minimum": 0},
        "updated_at": ms(),
    },
}

save_code_req = {
    "type": "object",
    "description": "Body of `POST /sessions/{id}/code`. Each save increments `revision` by 1.",
    "required": ["code"],
    "properties": {
        "code": {"type": "string", "description": "The code; over the code limit (256 KiB by default) -> 413 with `field` = `code`."},
        "language": sref("LanguageId"),
    },
}

history_event = {
    "type": "object",
    "required": ["type", "at"],
    "properties": {
        "type": {"type": "string", "enum": ["created", "joined", "left", "code_saved", "language_changed", "ended"]},
        "at": ms(),
        "revision": {"type": "integer", "format": "int64", "minimum": 0},
        "user_id": {"type": "string", "description": "Participant id concerned (e.g. who joined, left or saved)."},
        "name": {"type": "string", "description": "Participant name."},
        "language": sref("LanguageId"),
    },
}

history = {
    "type": "object",
    "required": ["events"],
    "properties": {
        "events": {"type": "array", "items": sref("HistoryEvent"),
                   "description": "Events, newest last; capped (the most recent 200 by default)."},
    },
}

language = {
    "type": "object",
    "required": ["id", "name", "version", "extension", "available"],
    "properties": {
        "id": sref("LanguageId"),
        "name": {"type": "string", "description": "Human-readable name."},
        "version": {"type": "string"},
        "extension": {"type": "string", "description": "File extension for source files."},
        "available": {"type": "boolean", "description": "True when a live runner offers this language now."},
    },
}

language_list = {
    "type": "object",
    "required": ["languages"],
    "properties": {"languages": {"type": "array", "items": sref("Language")}},
}

template = {
    "type": "object",
    "required": ["language", "template"],
    "properties": {
        "language": sref("LanguageId"),
        "template": {"type": "string", "description": "Starter code for the language."},
    },
}

health = {
    "type": "object",
    "description": "Node and session-store health. 200 with `status` `ok` and `redis.reachable` true; "
                   "503 with `status` `unavailable`, `redis.reachable` false and `redis.error`.",
    "required": ["status", "node_id", "version", "uptime_ms", "redis"],
    "properties": {
        "status": {"type": "string", "enum": ["ok", "unavailable"]},
        "node_id": {"type": "string", "description": "This gateway node's id (default host-pid)."},
        "version": {"type": "string", "description": "Gateway version."},
        "uptime_ms": {"type": "integer", "format": "int64", "minimum": 0, "description": "Uptime in milliseconds."},
        "redis": {
            "type": "object",
            "required": ["reachable"],
            "properties": {
                "reachable": {"type": "boolean"},
                "rtt_ms": {"type": "number", "minimum": 0, "description": "Round-trip time of a Redis ping in milliseconds (when reachable)."},
                "error": {"type": "string", "description": "Why Redis is unreachable (when not reachable)."},
            },
        },
    },
}

problem = {
    "type": "object",
    "description": "RFC 9457 problem details (`application/problem+json`).",
    "required": ["type", "title", "status", "detail", "instance"],
    "properties": {
        "type": {"type": "string", "format": "uri", "enum": [f"urn:codeinterview:problem:{s}" for s in SLUGS],
                 "description": "`urn:codeinterview:problem:<slug>`."},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599, "description": "The HTTP status code."},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "The request path."},
        "field": {"type": "string", "description": "The offending field; only on 422/413 errors about one field."},
    },
}

schemas = {
    "LanguageId": {"type": "string", "enum": LANG_IDS, "description": "A language id."},
    "Participant": participant,
    "Session": session,
    "SessionCreated": session_created,
    "CreateSessionRequest": create_req,
    "UpdateSessionRequest": update_req,
    "JoinRequest": join_req,
    "JoinResponse": join_resp,
    "ParticipantList": participant_list,
    "Code": code,
    "SaveCodeRequest": save_code_req,
    "HistoryEvent": history_event,
    "History": history,
    "Language": language,
    "LanguageList": language_list,
    "Template": template,
    "Health": health,
    "Problem": problem,
}

# ---------------------------------------------------------------- responses
headers = {
    "Retry-After": {"description": "Seconds to wait before retrying (1).", "schema": {"type": "integer", "minimum": 0}},
    "Allow": {"description": "The methods allowed on the path.", "schema": {"type": "string"}},
    "Location": {"description": "Path of the new session: `/api/v1/sessions/{id}`.", "schema": {"type": "string"}},
}


def problem_resp(desc, hdrs=None):
    r = {"description": desc, "content": {"application/problem+json": {"schema": sref("Problem")}}}
    if hdrs:
        r["headers"] = {h: ref("headers", h) for h in hdrs}
    return r


responses = {
    "BadRequest": problem_resp("`bad-request`: malformed JSON, or the body is not a JSON object."),
    "Unauthorized": problem_resp("`unauthorized`: a token is required but none was sent."),
    "Forbidden": problem_resp("`forbidden`: the token sent does not grant this action."),
    "NotFound": problem_resp("`not-found`: unknown session (or other resource)."),
    "MethodNotAllowed": problem_resp("`method-not-allowed`: known path, wrong method.", ["Allow"]),
    "RequestTimeout": problem_resp("`request-timeout`: the request headers were not received in time; the connection is then closed."),
    "Conflict": problem_resp("`conflict`: the session is full."),
    "Gone": problem_resp("`gone`: the session has ended (status completed) or expired."),
    "PayloadTooLarge": problem_resp("`payload-too-large`: the body exceeds the body limit (1 MiB by default), or a field exceeds its limit (then `field` names it)."),
    "UriTooLong": problem_resp("`uri-too-long`: the request URL exceeds the limit (8 KiB by default)."),
    "UnsupportedMediaType": problem_resp("`unsupported-media-type`: a non-empty body whose Content-Type is not application/json."),
    "ValidationFailed": problem_resp("`validation`: the body is well-formed JSON but a field is invalid (`field` names it)."),
    "HeaderFieldsTooLarge": problem_resp("`header-fields-too-large`: the header block exceeds the limit (16 KiB by default)."),
    "InternalError": problem_resp("`internal`: unexpected server error."),
    "Unavailable": problem_resp("`unavailable`: the session store is unreachable; retry shortly.", ["Retry-After"]),
}

parameters = {
    "SessionId": {"name": "id", "in": "path", "required": True, "description": "Session id.",
                  "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{22}$"}},
    "UserId": {"name": "user_id", "in": "path", "required": True, "description": "Participant id (`u_` + 16 hex digits).",
               "schema": {"type": "string"}},
    "Language": {"name": "language", "in": "path", "required": True,
                 "description": "Language id (" + ", ".join(LANG_IDS) + "); an unknown id -> 404.",
                 "schema": {"type": "string"}},
}

# ---------------------------------------------------------------- operations
OPT_BEARER = [{}, {"bearer": []}]
BEARER = [{"bearer": []}]

ERR = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict",
    410: "Gone", 413: "PayloadTooLarge", 415: "UnsupportedMediaType", 422: "ValidationFailed",
    503: "Unavailable",
}
BODY_ERRS = [400, 413, 415, 422]


def json_body(schema_name, desc, required=False):
    return {"description": desc, "required": required,
            "content": {"application/json": {"schema": sref(schema_name)}}}


def ok(desc, schema_name=None, ctype="application/json", hdrs=None, schema=None):
    r = {"description": desc}
    if schema_name or schema:
        r["content"] = {ctype: {"schema": schema if schema else sref(schema_name)}}
    if hdrs:
        r["headers"] = hdrs
    return r


# Each route: key -> dict(path suffix, method, opId, summary, tag, success{code: response}, errors, extra)
ROUTES = []


def route(path, method, op_id, summary, tag, success, errors, description=None, body=None, security=None):
    ROUTES.append(dict(path=path, method=method, op_id=op_id, summary=summary, tag=tag, success=success,
                       errors=errors, description=description, body=body, security=security))


route("/health", "get", "getHealth", "Node and session-store health", "operations",
      {"200": ok("The node is healthy and Redis is reachable.", "Health"),
       "503": ok("Redis is unreachable (`status` `unavailable`, `redis.reachable` false, `redis.error` set).", "Health")},
      [])
route("/openapi.json", "get", "getOpenApiDocument", "This OpenAPI 3.1 document", "operations",
      {"200": ok("The OpenAPI 3.1 document.", schema={"type": "object"})}, [])
route("/sessions", "post", "createSession", "Create a session", "sessions",
      {"201": ok("The session was created.", "SessionCreated", hdrs={"Location": ref("headers", "Location")})},
      BODY_ERRS + [503],
      description="Creates a session. The body may take any of three shapes (see `CreateSessionRequest`); an empty "
                  "body counts as `{}`. With a creator/host name, that person is added with role `interviewer` and "
                  "the response includes their `participant_token` and `participant_id`. `max_participants` "
                  "outside 1..50 -> 422. The `Location` header is `/api/v1/sessions/{id}` (under either prefix).",
      body=json_body("CreateSessionRequest", "Session options (any of the accepted shapes)."))
route("/sessions/{id}", "get", "getSession", "Get a session", "sessions",
      {"200": ok("The session.", "Session")}, [404, 410, 503])
route("/sessions/{id}", "patch", "updateSession", "Update a session", "sessions",
      {"200": ok("The updated session.", "Session")}, BODY_ERRS[:1] + [401, 403, 404, 410] + BODY_ERRS[1:] + [503],
      description="Updates `code`, `language`, `status` and/or `name`. A `code` or `language` change increments "
                  "`revision`. Setting `status` to `completed` ends the session and needs the host token "
                  "(401 without a token, 403 with another token); other changes need no token. 410 if the session "
                  "has already ended or expired.",
      body=json_body("UpdateSessionRequest", "Fields to change."), security=OPT_BEARER)
route("/sessions/{id}", "delete", "deleteSession", "End and delete a session", "sessions",
      {"204": ok("The session was deleted; a later GET answers 410.")}, [401, 403, 404, 410, 503],
      description="Needs the host token (401 without a token, 403 with another token). Afterwards "
                  "`GET /sessions/{id}` answers 410.", security=BEARER)
route("/sessions/{id}/users", "post", "joinSession", "Join a session", "participants",
      {"201": ok("The participant joined.", "JoinResponse")}, [400, 403, 404, 409, 410, 413, 415, 422, 503],
      description="Adds a participant. `role` defaults to `candidate`; `interviewer` needs the session's host token "
                  "(otherwise 403). 409 when the session is full; 404 unknown session; 410 ended or expired session.",
      body=json_body("JoinRequest", "The participant to add.", required=True), security=OPT_BEARER)
route("/sessions/{id}/users", "get", "listUsers", "List participants", "participants",
      {"200": ok("The session's participants.", "ParticipantList")}, [404, 410, 503])
route("/sessions/{id}/participants", "get", "listParticipants", "List participants (same as /users)", "participants",
      {"200": ok("The session's participants.", "ParticipantList")}, [404, 410, 503],
      description="Identical to `GET /sessions/{id}/users`.")
route("/sessions/{id}/users/{user_id}", "delete", "removeParticipant", "Remove a participant", "participants",
      {"204": ok("The participant was removed.")}, [401, 403, 404, 410, 503],
      description="Needs that participant's own token or the session's host token (401 without a token, 403 with "
                  "another token). 404 for an unknown session or user.", security=BEARER)
route("/sessions/{id}/code", "get", "getCode", "Get the session's code", "code",
      {"200": ok("The current code.", "Code")}, [404, 410, 503])
route("/sessions/{id}/code", "post", "saveCode", "Save the session's code", "code",
      {"200": ok("The saved code.", "Code")}, [400, 404, 410, 413, 415, 422, 503],
      description="Saves the code (and optionally changes the language); each save increments `revision` by 1. "
                  "Code over the code limit (256 KiB by default) -> 413 with `field` = `code`. An optional Bearer "
                  "participant token only attributes the save to that participant.",
      body=json_body("SaveCodeRequest", "The code to save.", required=True), security=OPT_BEARER)
route("/sessions/{id}/history", "get", "getHistory", "Get the session's event history", "sessions",
      {"200": ok("The session's events, newest last (capped, 200 by default).", "History")}, [404, 410, 503])
route("/languages", "get", "listLanguages", "List languages", "languages",
      {"200": ok("The supported languages; `available` tells whether a live runner offers each now.", "LanguageList")},
      [503])
route("/languages/{language}/template", "get", "getLanguageTemplate", "Get a language's starter template", "languages",
      {"200": ok("The template.", "Template")}, [404])

PATH_PARAMS = {"{id}": "SessionId", "{user_id}": "UserId", "{language}": "Language"}


def build_op(r, prefix_path, suffix, head=False):
    method = "head" if head else r["method"]
    op_id = r["op_id"]
    if head:
        op_id = "head" + op_id[3:] if op_id.startswith("get") else "head" + op_id[0].upper() + op_id[1:]
    op = {
        "operationId": op_id + suffix,
        "summary": ("Headers of: " + r["summary"][0].lower() + r["summary"][1:]) if head else r["summary"],
        "tags": [r["tag"]],
    }
    desc = r["description"]
    if head:
        desc = f"Same as `GET {prefix_path}` with the same headers and no body."
    if suffix == "Legacy":
        alias = "/api/v1" + prefix_path[len("/api"):]
        desc = (desc + "\n\n" if desc else "") + f"Alias of `{method.upper()} {alias}` for older clients."
    if desc:
        op["description"] = desc
    if r["security"] is not None:
        op["security"] = copy.deepcopy(r["security"])
    if r["body"] is not None:
        op["requestBody"] = copy.deepcopy(r["body"])
    resps = {}
    for code_, resp in r["success"].items():
        resp = copy.deepcopy(resp)
        if head:
            resp.pop("content", None)
            resp["description"] = resp["description"] + " (headers only, no body)"
        resps[code_] = resp
    for e in r["errors"]:
        if head:
            resps[str(e)] = {"description": responses[ERR[e]]["description"] + " (headers only, no body)"}
            if e == 503:
                resps[str(e)]["headers"] = {"Retry-After": ref("headers", "Retry-After")}
        else:
            resps[str(e)] = ref("responses", ERR[e])
    op["responses"] = dict(sorted(resps.items()))
    return method, op


paths = {}


def add(prefix, suffix, r):
    full = prefix + r["path"]
    item = paths.setdefault(full, {})
    params = [ref("parameters", name) for tok, name in PATH_PARAMS.items() if tok in r["path"]]
    if params:
        item["parameters"] = params
    m, op = build_op(r, full, suffix)
    item[m] = op
    if r["method"] == "get":
        m, op = build_op(r, full, suffix, head=True)
        item[m] = op


ROOT_ONLY = {"/health", "/openapi.json"}
for r in ROUTES:
    if r["path"] in ROOT_ONLY:
        add("", "Root", r)
for prefix, suffix in (("/api/v1", ""), ("/api", "Legacy")):
    for r in ROUTES:
        add(prefix, suffix, r)

METHOD_ORDER = ["parameters", "get", "head", "post", "patch", "delete"]
for p in paths:
    paths[p] = {k: paths[p][k] for k in METHOD_ORDER if k in paths[p]}

doc = {
    "openapi": "3.1.0",
    "info": {"title": "CodeInterview gateway API", "version": "0.1.0", "description": DESCRIPTION},
    "servers": [{"url": "/"}],
    "tags": [
        {"name": "sessions", "description": "Create, read, update and end interview sessions; session history."},
        {"name": "participants", "description": "Join a session, list and remove participants."},
        {"name": "code", "description": "Read and save a session's code."},
        {"name": "languages", "description": "Supported languages and their starter templates."},
        {"name": "operations", "description": "Health check and this document."},
    ],
    "paths": paths,
    "components": {
        "schemas": schemas,
        "responses": responses,
        "parameters": parameters,
        "headers": headers,
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "a session's host token or a participant token"},
        },
    },
}

with open(OUT, "w") as f:
    json.dump(doc, f, indent=2, ensure_ascii=False)
    f.write("\n")
print("wrote", OUT)
