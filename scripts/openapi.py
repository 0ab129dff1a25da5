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
    "unauthorized", "forbidden", "unavailable", "request-timeout", "internal", "upgrade-required",
    "too-many-requests",
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
        "is_online": {"type": "boolean", "description": "Whether a live WebSocket has this participant on any gateway "
                                                        "(absent in a join's answer, which precedes any connection)."},
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
        "ops": {"type": "array", "description": "With `since_revision`: the committed operations after it, oldest first.",
                "items": {"type": "object", "required": ["revision", "ops"],
                          "properties": {"revision": {"type": "integer", "minimum": 1},
                                         "ops": {"type": "array", "items": {"type": ["integer", "string"]},
                                                 "description": "ot.js-style: n>0 retain, n<0 delete, string insert; "
                                                                "lengths in Unicode scalars."},
                                         "user_id": {"type": "string"}, "name": {"type": "string"},
                                         "color": {"type": "string"}, "timestamp": ms()}}},
        "ops_complete": {"type": "boolean",
                         "description": "With `since_revision`: false when the op log no longer reaches back that far."},
        "revision": {"type": "integer", "minimum": 0, "description": "With `since_revision`: the current revision."},
    },
}

timeline_event = {
    "type": "object",
    "description": "One event of the timeline. `op`: a committed operation exactly as committed (over the whole "
                   "document, so applying the ops in order to the text at the page's start rebuilds every revision). "
                   "`checkpoint` (first page only, where the oldest ops were folded): the text at `revision`, from "
                   "which the ops after it apply. `execution`: a run (who ran what, its status and output as "
                   "stored). The others are the history's events (`created`, `joined`, `left`, `code_saved`, "
                   "`language_changed`, `ended`). Every event carries `timestamp`; `revision` is the document's "
                   "revision when it happened (the op's own for `op`; null for events before a checkpoint).",
    "required": ["type", "timestamp"],
    "properties": {
        "type": {"type": "string", "enum": ["op", "checkpoint", "execution", "created", "joined", "left", "code_saved",
                                            "language_changed", "ended"]},
        "timestamp": ms(),
        "revision": {"type": ["integer", "null"], "minimum": 0},
        "ops": {"type": "array", "items": {"type": ["integer", "string"]},
                "description": "`op`: ot.js-style components (n>0 retain, n<0 delete, string insert), in Unicode scalars."},
        "user_id": {"type": ["string", "null"], "description": "Who made the op, joined, left, ran... (null: the host "
                                                               "through the REST API, or nobody)."},
        "name": {"type": ["string", "null"]},
        "text": {"type": "string", "description": "`checkpoint`: the text at its revision."},
        "folded_ops": {"type": "integer", "minimum": 0, "description": "`checkpoint`: how many ops were folded into it."},
        "language": sref("LanguageId"),
        "execution_id": {"type": "string", "description": "`execution`: the job id (`GET /executions/{job_id}`)."},
        "code": {"type": "string", "description": "`execution`: the code that ran."},
        "state": {"type": "string", "enum": ["queued", "running", "done"]},
        "status": {"type": ["string", "null"], "description": "`execution`: the result's status (null until done)."},
        "stdout": {"type": "string"}, "stderr": {"type": "string"},
        "compile_output": {"type": ["string", "null"]},
        "exit_code": {"type": ["integer", "null"]},
    },
}

timeline = {
    "type": "object",
    "required": ["revision", "events", "next_after_revision"],
    "properties": {
        "revision": {"type": "integer", "minimum": 0, "description": "The session's current revision."},
        "events": {"type": "array", "items": sref("TimelineEvent"),
                   "description": "Oldest first: the ops of the page's revisions, each followed by the events of the "
                                  "document it made. At most `limit`, except that one revision's events are never "
                                  "split."},
        "next_after_revision": {"type": ["integer", "null"],
                                "description": "The `after_revision` of the next page; null on the last."},
        "participants": {"type": "array", "items": sref("Participant"),
                         "description": "Everyone who took part (names and colors of the events' `user_id`s)."},
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
    "TimelineEvent": timeline_event,
    "Timeline": timeline,
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
    "RateLimit-Policy": {"description": "The rate rule closest to its limit (IETF draft): `\"name\";q=COUNT;w=SECONDS`.",
                         "schema": {"type": "string"}},
    "RateLimit": {"description": "What is left of it (IETF draft): `\"name\";r=REMAINING;t=SECONDS_TO_FULL`.",
                  "schema": {"type": "string"}}
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
    "UriTooLong": problem_resp("`uri-too-long`: the request target (path and query) exceeds the URL limit (8 KiB by default)."),
    "UriTooLong": problem_resp("`uri-too-long`: the request URL exceeds the limit (8 KiB by default)."),
    "UnsupportedMediaType": problem_resp("`unsupported-media-type`: a non-empty body whose Content-Type is not application/json."),
    "ValidationFailed": problem_resp("`validation`: the body is well-formed JSON but a field is invalid (`field` names it)."),
    "HeaderFieldsTooLarge": problem_resp("`header-fields-too-large`: the header block exceeds the limit (16 KiB by default)."),
    "InternalError": problem_resp("`internal`: unexpected server error."),
    "Unavailable": problem_resp("`unavailable`: the session store is unreachable; retry shortly.", ["Retry-After"]),
    "UpgradeRequired": problem_resp("`upgrade-required`: this is a WebSocket endpoint (send `Upgrade: websocket`, "
                                    "`Connection: Upgrade`, `Sec-WebSocket-Version: 13`)."),
    "TooManyRequests": problem_resp("`too-many-requests`: over a rate limit (see `RateLimit-Policy`); retry after "
                                    "`Retry-After` seconds.", ["Retry-After", "RateLimit-Policy", "RateLimit"]),
}

parameters = {
    "SessionId": {"name": "id", "in": "path", "required": True, "description": "Session id.",
                  "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{22}$"}},
    "UserId": {"name": "user_id", "in": "path", "required": True, "description": "Participant id (`u_` + 16 hex digits).",
               "schema": {"type": "string"}},
    "Language": {"name": "language", "in": "path", "required": True,
                 "description": "Language id (" + ", ".join(LANG_IDS) + "); an unknown id -> 404.",
                 "schema": {"type": "string"}},
    "HistoryLimit": {"name": "limit", "in": "query", "required": False,
                     "description": "At most this many events (the newest); a positive integer, else 422.",
                     "schema": {"type": "integer", "minimum": 1}},
    "AfterRevision": {"name": "after_revision", "in": "query", "required": False,
                      "description": "The page after this revision (default 0: from the start); the previous page's "
                                     "`next_after_revision`. A non-negative integer, else 422.",
                      "schema": {"type": "integer", "minimum": 0, "default": 0}},
    "TimelineLimit": {"name": "limit", "in": "query", "required": False,
                      "description": "Events per page: 1 to 5000 (default 500), else 422.",
                      "schema": {"type": "integer", "minimum": 1, "maximum": 5000, "default": 500}},
    "CodeRevision": {"name": "revision", "in": "query", "required": False,
                     "description": "The text at this revision instead of the current one: for interviewers (the host "
                                    "token or an interviewer's participant token), and once the session has ended for its "
                                    "candidates too (a candidate's token while it is live -> 403; 401 without a token, 403 "
                                    "with another session's). 404 past the current revision or before the op log's checkpoint.",
                     "schema": {"type": "integer", "minimum": 0}},
    "SinceRevision": {"name": "since_revision", "in": "query", "required": False,
                      "description": "Also answer `ops`: the operations committed after this revision that the op log "
                                     "still holds (the last 1000 by default).",
                      "schema": {"type": "integer", "minimum": 0}},
}

# ---------------------------------------------------------------- operations
OPT_BEARER = [{}, {"bearer": []}]
BEARER = [{"bearer": []}]

ERR = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict",
    410: "Gone", 413: "PayloadTooLarge", 415: "UnsupportedMediaType", 422: "ValidationFailed",
    503: "Unavailable", 429: "TooManyRequests", 426: "UpgradeRequired", 414: "UriTooLong",
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


def route(path, method, op_id, summary, tag, success, errors, description=None, body=None, security=None, query=None):
    ROUTES.append(dict(path=path, method=method, op_id=op_id, summary=summary, tag=tag, success=success,
                       errors=errors, description=description, body=body, security=security, query=query))


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
      {"200": ok("The session.", "Session")}, [404, 410, 503],
      description="A session that ended or expired answers 410; on a gateway with the interview archive "
                  "(`--postgres`) the problem points to its record: `Link: </api/v1/interviews/{id}>; rel=\"archive\"` "
                  "and an `archive` member with that path.")
route("/sessions/{id}", "patch", "updateSession", "Update a session", "sessions",
      {"200": ok("The updated session.", "Session")}, BODY_ERRS[:1] + [401, 403, 404, 410] + BODY_ERRS[1:] + [503],
      description="Updates `code`, `language`, `status` and/or `name`. A `code` change increments `revision` "
                  "(revisions number the text; a language change is not one). Setting `status` to `completed` ends "
                  "the session (the host token or an interviewer's participant token, as `PATCH /sessions/{id}/controls` "
                  "`end`); renaming it needs the host token (401 without a token, 403 with another token); "
                  "code and language changes need no token, except while the editor is locked (room controls): then "
                  "the host's or an interviewer's, else 403 with `code: editor_locked`. 410 if the session has already "
                  "ended or expired.",
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
route("/sessions/{id}/code", "get", "getCode", "Get the session's code (now, or at a revision)", "code",
      {"200": ok("The current code, or with `revision` the text at that revision.", "Code")}, [401, 403, 404, 410, 422, 503],
      description="The current code needs no token. With `revision`, the text at that revision, rebuilt from the op "
                  "log, for the session's interviewers, and once it has ended for its candidates too (session "
                  "playback: jump straight to a point).",
      query=[ref("parameters", "CodeRevision")], security=OPT_BEARER)
route("/sessions/{id}/code", "post", "saveCode", "Save the session's code", "code",
      {"200": ok("The saved code.", "Code")}, [400, 404, 410, 413, 415, 422, 503],
      description="Saves the code (and optionally changes the language); each save increments `revision` by 1. "
                  "Code over the code limit (256 KiB by default) -> 413 with `field` = `code`. An optional Bearer "
                  "participant token only attributes the save to that participant.",
      body=json_body("SaveCodeRequest", "The code to save.", required=True), security=OPT_BEARER)
route("/sessions/{id}/history", "get", "getHistory", "Get the session's event history", "sessions",
      {"200": ok("The session's events, newest last (capped, 200 by default).", "History")}, [404, 410, 422, 503],
      description="Creation, joins, leaves, saves, language changes and the end, newest last. With `since_revision`, "
                  "also the operations committed after that revision (from the capped op log): a REST client's "
                  "catch-up, the same operations the WebSocket's `missed_ops` carries.",
      query=[ref("parameters", "HistoryLimit"), ref("parameters", "SinceRevision")])
route("/sessions/{id}/timeline", "get", "getTimeline", "Replay the session: its timeline, page by page", "sessions",
      {"200": ok("One page of the timeline, oldest first.", "Timeline")}, [401, 403, 404, 410, 422, 503],
      description="Session playback, for the session's interviewers (the host token or an interviewer's participant "
                  "token; 401 without a token, 403 for another session's). A candidate's token is refused (403) while "
                  "the session is live; once it has ended (status `completed`) it reads the candidate's view: the same "
                  "ops, and only the events a candidate saw live (no integrity signals, nothing about the notes or "
                  "scorecards; a test run as `GET /test-runs/{id}` shows it to a candidate, with `kind` `test-run`, "
                  "`passed`, `total` and `cases`, a hidden case's name, status, time and memory only), never "
                  "`document=notes` (403). Every committed op with "
                  "its author and time, and among them the joins, leaves, language changes, saves, runs and the end. "
                  "Pages are cut by revision: ask again with `after_revision` = `next_after_revision` until it is "
                  "null. Where the op log's oldest ops were folded into a checkpoint (the op log is bounded in "
                  "bytes per session), the first page says so with a `checkpoint` event and starts from it. "
                  "Available while the session's data lives (its TTL), ended or not.",
      query=[ref("parameters", "AfterRevision"), ref("parameters", "TimelineLimit")], security=BEARER)
route("/languages", "get", "listLanguages", "List languages", "languages",
      {"200": ok("The supported languages; `available` tells whether a live runner offers each now.", "LanguageList")},
      [503])
route("/languages/{language}/template", "get", "getLanguageTemplate", "Get a language's starter template", "languages",
      {"200": ok("The template.", "Template")}, [404])

route("/ws/sessions/{id}", "get", "connectWebSocket", "Real-time collaboration (WebSocket)", "sessions",
      {"101": {"description": "Switching Protocols: the connection is now an RFC 6455 WebSocket. Send `join` first "
                              "(within 10 s); see the README's real-time protocol for every message."}},
      [400, 403, 404, 426, 503],
      description="The WebSocket endpoint of a session: `join`, `op`, `code-update`, `cursor-position`, "
                  "`language-change`, `ping`, `leave` from the client; `welcome`, `ack`, `op`, `user-joined`, "
                  "`user-left`, `cursor-position`, `language-changed`, `session-ended`, `execution-*`, `pong`, "
                  "`error` from the server; every message `{type, data, timestamp}`. Positions count Unicode scalars. "
                  "403 when the browser's Origin is not allowed; 426 without a proper upgrade.")
PATH_PARAMS = {"{id}": "SessionId", "{user_id}": "UserId", "{language}": "Language", "{job_id}": "JobId"}

# ================================================================ code execution (issue 4)
# Owned by the runner work: schemas, responses, parameters and routes of /execute and /executions.
LIMITS = [  # name, default, maximum, minimum, description
    ("cpu_time_ms", 5000, 20000, 100, "CPU time of the whole process tree, in milliseconds (`time_limit_exceeded` beyond)."),
    ("wall_time_ms", 10000, 60000, 100, "Wall-clock time of the run, in milliseconds (`time_limit_exceeded` beyond)."),
    ("memory_kb", 262144, 1048576, 16384, "Memory in KiB: each process's data segment (RLIMIT_DATA) and the process tree's resident anonymous memory (`memory_limit_exceeded` beyond)."),
    ("processes", 64, 256, 1, "Processes and threads (a fork bomb stops there)."),
    ("file_size_kb", 1024, 65536, 1, "Largest file the program may write, in KiB."),
    ("open_files", 64, 1024, 16, "Open file descriptors per process."),
    ("output_kb", 1024, 16384, 1, "Output (stdout + stderr) the program may write before it is stopped (`output_limit_exceeded`), in KiB. Independently, stdout and stderr are each kept up to 64 KiB (runner setting); beyond, `truncated` is true."),
]
EXEC_STATUSES = ["ok", "compile_error", "runtime_error", "time_limit_exceeded", "memory_limit_exceeded",
                 "output_limit_exceeded", "internal_error", "idle_timeout", "runner_lost"]

execution_limits = {
    "type": "object",
    "description": "Limits of one run. Every field is optional in a request: the server's default fills it; a value "
                   "outside minimum..maximum (the server's configurable maximum) -> 422 with `field` = `limits.<name>`. "
                   "Defaults and maxima shown are the shipped ones (`codeinterview gateway --help`, `--*-limit`, `--max-*-limit`).",
    "additionalProperties": False,
    "properties": {name: {"type": "integer", "minimum": low, "maximum": high, "default": default, "description": desc}
                   for name, default, high, low, desc in LIMITS},
}
execution_limits_full = {"allOf": [sref("ExecutionLimits")], "required": [n for n, *_ in LIMITS],
                         "description": "The limits the run had (defaults applied)."}
time_ms = {"type": "object", "required": ["cpu", "wall"],
           "properties": {"cpu": {"type": "integer", "minimum": 0, "description": "CPU time (user + system) of every process, from the kernel's accounting (wait4 rusage), ms."},
                          "wall": {"type": "integer", "minimum": 0, "description": "Wall-clock time of the step, ms."}}}
execute_common = {
    "stdin": {"type": "string", "default": "", "description": "Standard input of the program (256 KiB at most by default; 413 above)."},
    "limits": sref("ExecutionLimits"),
    "wait": {"type": "boolean", "default": True,
             "description": "true: answer when the result is there (200), or after the wait bound (60 s by default) with 202. "
                            "false: answer 202 at once with the job id."},
}
execute_req = {
    "type": "object",
    "description": "Body of `POST /execute`.",
    "required": ["code", "language"],
    "properties": {"code": {"type": "string", "description": "The program (256 KiB at most by default; 413 above)."},
                   "language": sref("LanguageId"), **execute_common},
}
session_execute_req = {
    "type": "object",
    "description": "Body of `POST /sessions/{id}/execute`; an empty body runs the session's document in its language.",
    "properties": {"code": {"type": "string", "description": "The program; default: the session's current code."},
                   "language": {"allOf": [sref("LanguageId")], "description": "Default: the session's language."},
                   **execute_common,
                   "interactive": {"type": "boolean", "default": False,
                                   "description": "true: run the program on a terminal shared by the room (a pseudo-terminal in the "
                                                  "sandbox): the answer is 202 at once, output streams as execution-output, input "
                                                  "comes from the WebSocket `run-input` messages, and the run ends when the program "
                                                  "exits, after the runner's idle timeout (no input, no output: `idle_timeout`) or its "
                                                  "interactive wall cap. `stdin` must be left out; 409 while the session has a live "
                                                  "interactive run."},
                   "mode": {"type": "string", "enum": ["program", "repl"], "default": "program",
                            "description": "`repl` (with `interactive`): the language's own prompt with the session's code loaded "
                                           "first (Python, JavaScript, Ruby; 422 for another language)."}},
}
execution_result = {
    "type": "object",
    "description": "The one result of a job (written once, even when the job was run again after a runner died).",
    "required": ["job_id", "status", "language", "runner_id", "stdout", "stderr", "exit_code", "signal", "time_ms",
                 "memory_kb", "truncated", "compile_output"],
    "properties": {
        "job_id": {"type": "string"},
        "status": {"type": "string", "enum": EXEC_STATUSES,
                   "description": "`ok` (exit 0), `compile_error` (the compile step failed or hit its limits; see `compile_output`), "
                                  "`runtime_error` (non-zero exit or a signal), `time_limit_exceeded` (CPU or wall clock), "
                                  "`memory_limit_exceeded`, `output_limit_exceeded`, `internal_error` (the sandbox itself failed), `idle_timeout` (an interactive run with no input and no output for the runner's idle timeout), `runner_lost` (the runner of an interactive run died; it is never run again)."},
        "message": {"type": ["string", "null"], "description": "A sentence saying why, when the status is not `ok`."},
        "language": sref("LanguageId"),
        "runner_id": {"type": "string", "description": "The runner that produced the result."},
        "stdout": {"type": "string", "description": "Standard output, up to the capture cap (64 KiB by default); invalid UTF-8 replaced."},
        "stderr": {"type": "string", "description": "Standard error, up to the capture cap."},
        "exit_code": {"type": ["integer", "null"], "description": "Exit status; null when killed by a signal or not run."},
        "signal": {"type": ["integer", "null"], "description": "The signal that killed the program, or null."},
        "signal_name": {"type": ["string", "null"], "examples": ["SIGSEGV"]},
        "time_ms": time_ms,
        "memory_kb": {"type": "integer", "minimum": 0, "description": "Peak resident memory (largest ru_maxrss of the program's processes, from wait4), KiB."},
        "truncated": {"type": "boolean", "description": "Output was cut: a stream passed the capture cap, or the output limit stopped the program."},
        "stdout_truncated": {"type": "boolean"},
        "stderr_truncated": {"type": "boolean"},
        "stdout_bytes": {"type": "integer", "description": "Bytes the program wrote to stdout in all."},
        "stderr_bytes": {"type": "integer"},
        "compile_output": {"type": ["string", "null"], "description": "Compiler output (compiled languages), else null."},
        "compile": {"type": ["object", "null"], "description": "The compile step: exit_code, signal, time_ms, memory_kb, truncated.",
                    "properties": {"exit_code": {"type": ["integer", "null"]}, "signal": {"type": ["integer", "null"]},
                                   "time_ms": time_ms, "memory_kb": {"type": "integer"}, "truncated": {"type": "boolean"}}},
        "limits": execution_limits_full,
        "attempt": {"type": "integer", "minimum": 1, "description": "Which run of the job produced the result."},
        "total_wall_ms": {"type": "integer", "description": "Wall-clock time of the whole sandbox (compile, run, set-up), ms."},
    },
}
execution_job = {
    "type": "object",
    "description": "A job: `queued` (waiting for a runner), `running` (a runner holds it), `done` (`result` is set).",
    "required": ["job_id", "state", "language", "session_id", "created_at", "started_at", "finished_at", "runner_id",
                 "attempts", "limits", "result"],
    "properties": {
        "job_id": {"type": "string", "pattern": "^j_[0-9a-f]{24}$"},
        "state": {"type": "string", "enum": ["queued", "running", "done"]},
        "language": sref("LanguageId"),
        "session_id": {"type": ["string", "null"]},
        "user_id": {"type": ["string", "null"], "description": "The participant whose token ran it (session runs)."},
        "name": {"type": ["string", "null"], "description": "That participant's name."},
        "created_at": ms(),
        "started_at": {"type": ["integer", "null"], "description": "Unix milliseconds of the latest start."},
        "finished_at": {"type": ["integer", "null"], "description": "Unix milliseconds."},
        "runner_id": {"type": ["string", "null"], "description": "The runner holding (or that last held) the job."},
        "attempts": {"type": "integer", "minimum": 0, "description": "Times a runner started it (more than 1 after a runner died; at most 3 by default, then `internal_error`)."},
        "limits": execution_limits_full,
        "result": {"oneOf": [sref("ExecutionResult"), {"type": "null"}]},
    },
}
execution_summary = {
    "type": "object",
    "required": ["job_id", "state", "language", "created_at", "status"],
    "properties": {
        "job_id": {"type": "string"}, "state": {"type": "string", "enum": ["queued", "running", "done"]},
        "language": sref("LanguageId"), "user_id": {"type": ["string", "null"]}, "name": {"type": ["string", "null"]},
        "created_at": ms(), "finished_at": {"type": ["integer", "null"]},
        "status": {"type": ["string", "null"], "enum": EXEC_STATUSES + [None]},
        "exit_code": {"type": ["integer", "null"]}, "signal": {"type": ["integer", "null"]},
        "time_ms": {"oneOf": [time_ms, {"type": "null"}]}, "memory_kb": {"type": ["integer", "null"]},
        "runner_id": {"type": ["string", "null"]},
    },
}
execution_history = {
    "type": "object",
    "required": ["executions", "count"],
    "properties": {"executions": {"type": "array", "items": sref("ExecutionSummary"),
                                  "description": "Newest first, without code or output; capped (50 by default)."},
                   "count": {"type": "integer", "minimum": 0}},
}
schemas.update({
    "ExecutionLimits": execution_limits, "ExecuteRequest": execute_req, "SessionExecuteRequest": session_execute_req,
    "ExecutionResult": execution_result, "ExecutionJob": execution_job, "ExecutionSummary": execution_summary,
    "ExecutionHistory": execution_history,
})
responses["ExecutionUnavailable"] = problem_resp(
    "`unavailable`: no live runner offers the language right now (`Retry-After: 5`), the execution queue is full "
    "(`Retry-After: 2`), or the session store is unreachable (`Retry-After: 1`).", ["Retry-After"])
headers["Location"]["description"] += " For a job not finished yet: `/api/v1/executions/{job_id}`."
parameters["JobId"] = {"name": "job_id", "in": "path", "required": True, "description": "Job id (`j_` + 24 hex digits).",
                       "schema": {"type": "string"}}
EXECUTE_ANSWERS = {
    "200": ok("The job finished within the wait bound; `result` is set.", "ExecutionJob"),
    "202": ok("The job is queued or running (`wait` false, or the wait bound passed); poll `GET /executions/{job_id}`.",
              "ExecutionJob", hdrs={"Location": ref("headers", "Location")}),
}
EVENTS = ("Every participant connected to the session's WebSocket receives `execution-started` "
          "(`{job_id, language, session_id, runner_id, attempt, user_id?, name?, interactive?, mode?}`: `interactive` true "
          "and `mode` `program` or `repl` for an interactive run), `execution-output` chunks as the "
          "program prints (`{job_id, stream: stdout|stderr, chunk, seq}`, up to the capture cap per stream) and "
          "one `execution-result` (data = `ExecutionResult`). When a runner dies mid-job the job runs again elsewhere "
          "(a second `execution-started` with `attempt` 2), and there is still exactly one `execution-result`.")
route("/execute", "post", "execute", "Run code", "executions", EXECUTE_ANSWERS,
      [400, 413, 415, 422, (503, "ExecutionUnavailable")],
      description="Queues the program for a runner (bubblewrap sandbox: no network, read-only system, private tmpfs "
                  "work directory, rlimits) and, by default, waits for the result. Compiled languages compile first; a "
                  "compile failure is `compile_error`. 503 when no live runner offers the language or the queue is full.",
      body=json_body("ExecuteRequest", "The program, its language, stdin and limits.", required=True))
route("/sessions/{id}/execute", "post", "executeInSession", "Run code in a session", "executions", EXECUTE_ANSWERS,
      [400, 403, 404, 410, 413, 415, 422, (503, "ExecutionUnavailable")],
      description="Like `POST /execute`, for a session (by default its current code and language). An optional "
                  "Bearer participant token attributes the run (`user_id`, `name`); a token of another session -> 403. " + EVENTS,
      body=json_body("SessionExecuteRequest", "What to run; empty runs the session's document."), security=OPT_BEARER)
route("/sessions/{id}/executions", "get", "listSessionExecutions", "A session's executions", "executions",
      {"200": ok("The session's executions, newest first (capped, 50 by default); `?limit=` asks for fewer.", "ExecutionHistory")},
      [404, 410, 422, 503])
route("/executions/{job_id}", "get", "getExecution", "Get a job and its result", "executions",
      {"200": ok("The job; `result` is set once `state` is `done`.", "ExecutionJob")}, [404, 503],
      description="Jobs and results are kept for 24 hours by default.")
# ================================================================ end of code execution

# ================================================================ cluster operations (issue 6)
# GET /cluster: the operator's view (the same document as `cluster/status --json`).
int_or_null = {"type": ["integer", "null"]}
cluster_node = {
    "type": "object",
    "description": "One node of the registry. Gateways have `connections`, `websockets`, `sessions`, `this`; runners "
                   "`jobs_running`, `jobs_capacity`, `jobs_completed`, `languages`; archivers `healthy`, `sessions_archiving`, "
                   "`concurrency`, `sessions_archived`, `failures`.",
    "required": ["kind", "id", "node_id", "address", "state", "started_at", "up_ms", "heartbeat_at", "heartbeat_age_ms",
                 "lease_left_ms"],
    "properties": {
        "kind": {"type": "string", "enum": ["gateway", "runner", "archiver"]},
        "id": {"type": "string", "description": "Registry id: a gateway's node id plus a per-process suffix; a runner's node id."},
        "node_id": {"type": "string", "description": "The node's `--node-id`."},
        "address": {"type": ["string", "null"], "description": "Where a gateway listens (host:port); a runner's host and pid."},
        "state": {"type": "string", "enum": ["up", "draining", "expired", "unhealthy"],
                  "description": "`expired`: its lease ran out (dead or cut off); `draining`: a runner finishing its jobs "
                                 "(an archiver its sessions); `unhealthy`: an archiver that cannot reach PostgreSQL."},
        "started_at": int_or_null, "up_ms": int_or_null, "heartbeat_at": int_or_null,
        "heartbeat_age_ms": {"type": ["integer", "null"], "description": "Since its last heartbeat, by Redis' clock."},
        "lease_left_ms": {"type": "integer", "description": "Until its lease runs out (negative: expired that long ago)."},
        "connections": {"type": "integer"}, "websockets": {"type": "integer"},
        "sessions": {"type": "integer", "description": "Session rooms the gateway has members of."},
        "this": {"type": "boolean", "description": "The gateway that answered."},
        "jobs_running": {"type": "integer"}, "jobs_capacity": {"type": "integer"}, "jobs_completed": {"type": "integer"},
        "languages": {"type": "array", "items": {"type": "string"}},
        "healthy": {"type": "boolean"}, "sessions_archiving": {"type": "integer"}, "concurrency": {"type": "integer"},
        "sessions_archived": {"type": "integer"}, "failures": {"type": "integer"},
    },
}
cluster_report = {
    "type": "object",
    "required": ["now", "redis", "queue", "totals", "nodes"],
    "properties": {
        "now": ms({"description": "Redis' clock (Unix milliseconds), which the leases are written in."}),
        "redis": {"type": "object", "required": ["address", "role"],
                  "properties": {"address": {"type": "string", "description": "The Redis this gateway uses (with Sentinel: the current primary)."},
                                 "role": {"type": ["string", "null"], "description": "`master`, or `slave` (then `primary` is set)."},
                                 "primary": {"type": "string"}, "version": {"type": ["string", "null"]},
                                 "uptime_s": int_or_null, "connected_clients": int_or_null, "connected_replicas": int_or_null,
                                 "used_memory_bytes": int_or_null, "used_memory_human": {"type": ["string", "null"]},
                                 "maxmemory_bytes": {"type": ["integer", "null"], "description": "0: no limit."},
                                 "aof_enabled": {"type": "boolean"}, "aof_last_write_status": {"type": ["string", "null"]}}},
        "queue": {"type": "object", "required": ["queued", "parked"],
                  "properties": {"queued": {"type": "integer", "description": "Jobs waiting for a runner."},
                                 "parked": {"type": "integer", "description": "Jobs waiting for a runner that offers their language."}}},
        "archive": {"type": "object", "required": ["queued", "overdue", "oldest_overdue_ms"],
                    "description": "The archive queue: ended sessions waiting for an archiver.",
                    "properties": {"queued": {"type": "integer", "description": "Sessions on the queue (live ones included, due at their expiry)."},
                                   "overdue": {"type": "integer", "description": "Sessions due now and not yet archived."},
                                   "oldest_overdue_ms": {"type": "integer", "description": "How long the oldest overdue one has waited."}}},
        "totals": {"type": "object",
                   "properties": {k: {"type": "integer"} for k in ("gateways_up", "runners_up", "archivers_up", "connections", "websockets",
                                                                    "sessions", "jobs_running", "jobs_capacity")}},
        "nodes": {"type": "array", "items": sref("ClusterNode")},
    },
}
schemas.update({"ClusterNode": cluster_node, "ClusterReport": cluster_report})
route("/cluster", "get", "getCluster", "Cluster status (operators)", "operations",
      {"200": ok("Every node in the registry, the job queue and Redis.", "ClusterReport")}, [401, 403, 503],
      description="The node registry (gateways and runners with their heartbeats and counters), the job queue's depth "
                  "and Redis' role, memory and persistence: the report `cluster/status` prints. Needs the admin token "
                  "(`--admin-token`) as a Bearer token: 401 without one, 403 with another or when the gateway has none.",
      security=BEARER)
# ================================================================ end of cluster operations

# ================================================================ interviewers' notes (issue 15)
# A second document per session, for its interviewers only: GET/PUT /sessions/{id}/notes, the notes'
# timeline (`document=notes`) and the WebSocket's notes-op / notes-ack.
notes = {
    "type": "object",
    "required": ["text", "revision", "updated_at"],
    "properties": {
        "text": {"type": "string", "description": "The whole notes (empty until written)."},
        "revision": {"type": "integer", "minimum": 0,
                     "description": "The notes' own revision (they are a second document, numbered apart from the code)."},
        "updated_at": ms({"description": "When they last changed (the session's creation when never written)."}),
    },
}
put_notes_req = {
    "type": "object",
    "required": ["text"],
    "properties": {
        "text": {"type": "string", "description": "The whole new notes (64 KiB at most by default, `--max-notes-bytes`; "
                                                  "413 above)."},
        "revision": {"type": "integer", "minimum": 0,
                     "description": "The revision the text was written against: 409 when the notes moved on since. "
                                    "Without it the text replaces whatever is there."},
    },
}
schemas.update({"Notes": notes, "PutNotesRequest": put_notes_req})
INTERVIEWERS_ONLY = ("For the session's interviewers only: the host token, or the participant token of someone who "
                     "joined as interviewer (401 without a token, 403 for a candidate's or another session's). ")
route("/sessions/{id}/notes", "get", "getNotes", "The interviewers' private notes", "sessions",
      {"200": ok("The notes.", "Notes")}, [401, 403, 404, 410, 503],
      description=INTERVIEWERS_ONLY + "They are never part of the session, its history or its code, nor of anything "
                  "a candidate can read. Readable while the session's data lives, ended or not.", security=BEARER)
route("/sessions/{id}/notes", "put", "putNotes", "Replace the interviewers' private notes", "sessions",
      {"200": ok("The notes as stored.", "Notes")}, [400, 401, 403, 404, 409, 410, 413, 415, 422, 503],
      description=INTERVIEWERS_ONLY + "Replaces the whole text as one revision of the notes and sends it to every "
                  "interviewer's WebSocket as a `notes-op` (delete all, insert the text). With `revision`, 409 when it "
                  "is not the current one. 410 once the session has ended.",
      body=json_body("PutNotesRequest", "The new notes.", required=True), security=BEARER)
parameters["TimelineDocument"] = {
    "name": "document", "in": "query", "required": False,
    "description": "Whose timeline: `code` (default) or `notes` (the interviewers' notes: their ops and checkpoint "
                   "only, paged by the notes' own revisions), else 422.",
    "schema": {"type": "string", "enum": ["code", "notes"], "default": "code"}}
for r in ROUTES:
    if r["op_id"] == "getTimeline":
        r["query"].append(ref("parameters", "TimelineDocument"))
        r["description"] += (" With `document=notes`, the same for the interviewers' notes: their ops (and checkpoint) "
                             "alone, `revision` and the pages counted in the notes' revisions.")
    if r["op_id"] == "connectWebSocket":
        r["description"] += (" Room controls: an interviewer's `control` message (`{editor_locked?, runs_held?, "
                             "question_hidden?}` or `{end: true}`, answered by `control-result`); every member gets "
                             "`session-controls`; the welcome's session has `controls`; a candidate's op while the "
                             "editor is locked -> `error` `editor_locked`.")
        r["description"] += (" Interviewers also get `notes` in `welcome`, send `notes-op` and get `notes-ack` and the "
                             "others' `notes-op` (the private notes; a candidate's `notes-op` -> `error` `forbidden`).")
timeline["properties"]["document"] = {"type": "string", "enum": ["code", "notes"],
                                      "description": "Which document's timeline this is (the `document` parameter)."}
timeline["properties"]["revision"]["description"] += " (With `document=notes`: the notes' current revision.)"
# ================================================================ end of interviewers' notes
# ================================================================ questions and the library (issue 15)
# Owned by the questions work: a session's question, the question library, and their events.
QUESTION_LIMITS = ("Bounds (413 naming the field when a size is passed, 422 for anything else wrong, the field named): "
                   "`title` 1..200 bytes, `prompt` up to 64 KiB, each starter code up to 64 KiB, at most 50 tests, a "
                   "test's `name` 1..100 bytes and unique, `stdin` and `expected_stdout` up to 64 KiB each and 1 MiB "
                   "for all tests together (more than the default body limit, 1 MiB: raise `--max-body-bytes` to "
                   "store that much). No NUL bytes.")
test_case = {
    "type": "object",
    "description": "A test case: the program gets `stdin` and must print `expected_stdout`. A hidden case is for "
                   "interviewers only: candidates never see it (only `hidden_test_count` says it is there).",
    "required": ["name", "expected_stdout"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "description": "1..100 bytes, unique within the question."},
        "stdin": {"type": "string", "default": ""},
        "expected_stdout": {"type": "string"},
        "hidden": {"type": "boolean", "default": False},
    },
}
starter_code = {"type": "object", "propertyNames": sref("LanguageId"), "additionalProperties": {"type": "string"},
                "description": "Language id -> starter code (64 KiB at most each)."}
question_input = {
    "type": "object",
    "description": "A question: a title, a Markdown prompt, starter code per language, and test cases. " + QUESTION_LIMITS,
    "required": ["title"],
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "prompt": {"type": "string", "default": "", "description": "Markdown."},
        "starter_code": starter_code,
        "tests": {"type": "array", "maxItems": 50, "items": sref("TestCase")},
    },
}
question_view = {
    "type": "object",
    "description": "A question as its reader may see it: interviewers get every test; candidates the visible ones "
                   "only (`hidden_test_count` says how many are hidden).",
    "required": ["title", "prompt", "starter_code", "tests", "hidden_test_count"],
    "properties": {
        "title": {"type": "string"}, "prompt": {"type": "string"}, "starter_code": starter_code,
        "tests": {"type": "array", "items": sref("TestCase")},
        "hidden_test_count": {"type": "integer", "minimum": 0},
    },
}
session_question = {
    "description": "A session's question, in the reader's view.",
    "allOf": [sref("QuestionView"), {
        "type": "object",
        "required": ["updated_at"],
        "properties": {
            "source_question_id": {"type": "string", "description": "Interviewers' view: the library question it was copied from."},
            "updated_at": ms({"description": "When it was set (Unix milliseconds)."}),
            "code_revision": {"type": "integer", "minimum": 1,
                              "description": "In the answer to PUT only: the document's revision when the starter code was loaded."},
        },
    }],
}
set_question_req = {
    "description": "Body of `PUT /sessions/{id}/question`: a question, or `from` (the id of a library question, "
                   "copied in). `load_starter_code` (default true): when the question has starter code for the "
                   "session's language, the document becomes it, as one revision (an `op` to every member).",
    "anyOf": [
        {"title": "Question", "allOf": [sref("QuestionInput"), {"type": "object", "properties": {
            "load_starter_code": {"type": "boolean", "default": True}}}]},
        {"title": "FromLibrary", "type": "object", "required": ["from"], "properties": {
            "from": {"type": "string", "pattern": "^q_[0-9a-f]{24}$", "description": "A library question's id (404 naming `from` when there is none)."},
            "load_starter_code": {"type": "boolean", "default": True}}},
    ],
}
library_question = {
    "description": "A question of the library, hidden tests included.",
    "allOf": [sref("QuestionView"), {
        "type": "object",
        "required": ["id", "created_at", "updated_at"],
        "properties": {"id": {"type": "string", "pattern": "^q_[0-9a-f]{24}$"}, "created_at": ms(), "updated_at": ms()},
    }],
}
library_summary = {
    "type": "object",
    "required": ["id", "title", "languages", "test_count", "hidden_test_count", "created_at", "updated_at"],
    "properties": {
        "id": {"type": "string", "pattern": "^q_[0-9a-f]{24}$"}, "title": {"type": "string"},
        "languages": {"type": "array", "items": sref("LanguageId"), "description": "The languages it has starter code for."},
        "test_count": {"type": "integer", "minimum": 0}, "hidden_test_count": {"type": "integer", "minimum": 0},
        "created_at": ms(), "updated_at": ms(),
    },
}
library_page = {
    "type": "object",
    "required": ["questions", "next_cursor"],
    "properties": {
        "questions": {"type": "array", "items": sref("LibrarySummary"), "description": "Newest first (by `updated_at`)."},
        "next_cursor": {"type": ["string", "null"], "description": "The `cursor` of the next page; null on the last."},
    },
}
schemas.update({"TestCase": test_case, "QuestionInput": question_input, "QuestionView": question_view,
                "SessionQuestion": session_question, "SetQuestionRequest": set_question_req,
                "LibraryQuestion": library_question, "LibrarySummary": library_summary, "LibraryPage": library_page})
for event_schema in (history_event, timeline_event):
    event_schema["properties"]["type"]["enum"] += ["question_changed", "question_cleared"]
history_event["properties"]["title"] = {"type": "string", "description": "`question_changed`: the question's title (never its tests)."}
responses["LibraryFull"] = problem_resp("`conflict`: the question library holds `--max-library-questions` questions; delete one first.")
headers["QuestionLocation"] = {"description": "Path of the new question: `/api/v1/questions/{question_id}`.", "schema": {"type": "string"}}
parameters.update({
    "QuestionId": {"name": "question_id", "in": "path", "required": True, "description": "Question id (`q_` + 24 hex digits).",
                   "schema": {"type": "string"}},
    "ReaderSessionId": {"name": "session_id", "in": "query", "required": False,
                        "description": "With a host or interviewer token: the session it belongs to (not needed with the "
                                       "admin token). Not a session id -> 422; an unknown session -> 404, an ended one 410.",
                        "schema": {"type": "string"}},
    "LibraryLimit": {"name": "limit", "in": "query", "required": False, "description": "Questions per page: 1 to 100 (default 50), else 422.",
                     "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}},
    "LibraryCursor": {"name": "cursor", "in": "query", "required": False,
                      "description": "The previous page's `next_cursor` (anything else -> 422).", "schema": {"type": "string"}},
})
PATH_PARAMS["{question_id}"] = "QuestionId"
LIBRARY_READERS = ("Readers: the admin token (`--admin-token`), or the host token or an interviewer's participant token of "
                   "the session named by `?session_id=`. 401 without a token; 403 for a candidate's token, a token of "
                   "another session, or any token but the admin token without `session_id`.")
LIBRARY_WRITERS = ("Needs the admin token (`--admin-token`) as a Bearer token: 401 without a token, 403 with another, and 403 "
                   "when the gateway has no admin token. The library is kept in Redis without expiry (see the README: "
                   "persisted by the AOF).")
QUESTION_EVENT = ("Every member's WebSocket gets `question-changed` `{question}` (candidates their view, interviewers "
                  "theirs; `question: null` when cleared).")
route("/sessions/{id}/question", "get", "getSessionQuestion", "Get the session's question", "questions",
      {"200": ok("The question: every test for interviewers, the visible ones for anyone else.", "SessionQuestion")},
      [404, 410, 503],
      description="Interviewers (the host token, or an interviewer's participant token) get every test; anyone else "
                  "(a candidate's token, no token, a token of another session) gets the candidates' view: the visible "
                  "tests and `hidden_test_count`. 404 when the session has no question (or does not exist).",
      security=OPT_BEARER)
route("/sessions/{id}/question", "put", "setSessionQuestion", "Set the session's question", "questions",
      {"200": ok("The question as set (the interviewers' view), with `code_revision` when the starter code was loaded.",
                 "SessionQuestion")},
      [400, 401, 403, 404, 410, 413, 415, 422, 503],
      description="Needs the host token (401 without a token, 403 with another). Replaces any question the session "
                  "had. " + QUESTION_EVENT + " " + QUESTION_LIMITS,
      body=json_body("SetQuestionRequest", "The question, or the library question to copy.", required=True), security=BEARER)
route("/sessions/{id}/question", "delete", "clearSessionQuestion", "Clear the session's question", "questions",
      {"204": ok("The question was cleared.")}, [401, 403, 404, 410, 503],
      description="Needs the host token (401 without a token, 403 with another); 404 when the session has no question. "
                  + QUESTION_EVENT, security=BEARER)
route("/questions", "post", "createLibraryQuestion", "Add a question to the library", "questions",
      {"201": ok("The question was added.", "LibraryQuestion", hdrs={"Location": ref("headers", "QuestionLocation")})},
      [400, 401, 403, 413, 415, 422, (409, "LibraryFull"), 503],
      description=LIBRARY_WRITERS + " At most `--max-library-questions` questions (10000 by default): 409 beyond. "
                  + QUESTION_LIMITS,
      body=json_body("QuestionInput", "The question.", required=True), security=BEARER)
route("/questions", "get", "listLibraryQuestions", "List the library's questions", "questions",
      {"200": ok("A page of summaries, newest first; ask again with `cursor` = `next_cursor` until it is null.", "LibraryPage")},
      [401, 403, 404, 410, 422, 503], description=LIBRARY_READERS,
      query=[ref("parameters", "ReaderSessionId"), ref("parameters", "LibraryLimit"), ref("parameters", "LibraryCursor")],
      security=BEARER)
route("/questions/{question_id}", "get", "getLibraryQuestion", "Get a library question", "questions",
      {"200": ok("The question, hidden tests included.", "LibraryQuestion")}, [401, 403, 404, 410, 422, 503],
      description=LIBRARY_READERS + " Copy it into a session with `PUT /sessions/{id}/question {\"from\": id}`.",
      query=[ref("parameters", "ReaderSessionId")], security=BEARER)
route("/questions/{question_id}", "put", "replaceLibraryQuestion", "Replace a library question", "questions",
      {"200": ok("The question as replaced (its `created_at` kept).", "LibraryQuestion")},
      [400, 401, 403, 404, 413, 415, 422, 503],
      description=LIBRARY_WRITERS + " Sessions that copied it keep their copy. " + QUESTION_LIMITS,
      body=json_body("QuestionInput", "The whole new question.", required=True), security=BEARER)
route("/questions/{question_id}", "delete", "deleteLibraryQuestion", "Delete a library question", "questions",
      {"204": ok("The question was deleted.")}, [401, 403, 404, 503],
      description=LIBRARY_WRITERS + " Sessions that copied it keep their copy.", security=BEARER)
for r in ROUTES:
    if r["path"] == "/ws/sessions/{id}":
        r["description"] = r["description"].replace("`execution-*`, ", "`execution-*`, `question-changed`, ")
# ================================================================ end of questions and the library

# ================================================================ webhooks (issue 22, part 4)
# Owned by the webhooks work: signed webhook endpoints, their deliveries (docs/webhooks.md).
WEBHOOK_EVENTS = ["session.created", "session.ended", "scorecard.submitted", "interview.archived"]
webhook = {
    "type": "object",
    "required": ["id", "url", "events", "enabled", "created_at", "updated_at"],
    "properties": {
        "id": {"type": "string", "pattern": "^wh_[0-9a-f]{16}$"},
        "url": {"type": "string", "maxLength": 2048, "description": "http:// or https:// (the certificate chain and name verified at delivery)."},
        "events": {"type": "array", "items": {"type": "string", "enum": WEBHOOK_EVENTS}},
        "description": {"type": ["string", "null"]},
        "enabled": {"type": "boolean"},
        "disabled_reason": {"type": ["string", "null"], "description": "Why it was disabled (by the operator, or after "
                            "`--webhook-disable-after` deliveries in a row were given up)."},
        "disabled_at": {"type": ["integer", "null"]},
        "given_up": {"type": "integer", "description": "Deliveries given up in a row."},
        "last_success_at": {"type": "integer"},
        "created_at": ms(), "updated_at": ms(),
    },
}
webhook_created = {"allOf": [sref("Webhook"), {"type": "object", "required": ["secret"], "properties": {
    "secret": {"type": "string", "pattern": "^whsec_", "description": "The signing secret, shown this once."}}}]}
webhook_input = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "url": {"type": "string", "maxLength": 2048},
        "events": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": WEBHOOK_EVENTS}},
        "description": {"type": ["string", "null"], "maxLength": 500},
        "enabled": {"type": "boolean", "description": "PATCH only: true enables a disabled endpoint again."},
    },
}
webhook_delivery = {
    "type": "object",
    "properties": {
        "delivery_id": {"type": "string"}, "event_id": {"type": "string"}, "type": {"type": "string"},
        "attempt": {"type": "integer"}, "at": ms(), "status": {"type": ["integer", "null"]},
        "error": {"type": ["string", "null"]}, "duration_ms": {"type": "integer"},
        "address": {"type": ["string", "null"]}, "outcome": {"type": "string", "enum": ["delivered", "retrying", "given-up"]},
        "next_attempt_in_ms": {"type": ["integer", "null"]},
    },
}
schemas.update({"Webhook": webhook, "WebhookCreated": webhook_created, "WebhookInput": webhook_input,
                "WebhookList": {"type": "object", "required": ["webhooks"], "properties": {"webhooks": {"type": "array", "items": sref("Webhook")}}},
                "WebhookDelivery": webhook_delivery,
                "WebhookDeliveries": {"type": "object", "required": ["deliveries"],
                                      "properties": {"deliveries": {"type": "array", "items": sref("WebhookDelivery")}}},
                "WebhookTest": {"type": "object", "properties": {"event_id": {"type": "string"}, "type": {"type": "string"}}}})
parameters["WebhookId"] = {"name": "webhook_id", "in": "path", "required": True, "description": "Webhook id (`wh_` + 16 hex digits).",
                           "schema": {"type": "string"}}
parameters["WebhookDeliveriesLimit"] = {"name": "limit", "in": "query", "required": False,
                                        "description": "Attempts to list: 1 to 100 (default 100), else 422.",
                                        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 100}}
headers["WebhookLocation"] = {"description": "Path of the new webhook: `/api/v1/webhooks/{webhook_id}`.", "schema": {"type": "string"}}
PATH_PARAMS["{webhook_id}"] = "WebhookId"
WEBHOOK_ADMIN = ("Needs the admin token (`--admin-token`) as a Bearer token: 401 without a token, 403 with another, and 403 "
                 "when the gateway has no admin token.")
WEBHOOK_URL = (" The url: http:// or https://, at most 2,048 bytes, no user info or fragment; unless the gateways run with "
               "`--webhook-allow-private`, 400 when its host is, or resolves to, a loopback, private, link-local, CGNAT, "
               "unique-local, multicast, broadcast or unspecified address (in any spelling). See docs/webhooks.md.")
route("/webhooks", "post", "createWebhook", "Register a webhook endpoint", "webhooks",
      {"201": ok("The endpoint, with its signing `secret` (shown this once).", "WebhookCreated",
                 hdrs={"Location": ref("headers", "WebhookLocation")})},
      [400, 401, 403, 409, 413, 415, 503],
      description=WEBHOOK_ADMIN + " At most `--webhook-max-endpoints` (50): 409 beyond." + WEBHOOK_URL,
      body=json_body("WebhookInput", "`url` and `events` (required), `description`.", required=True), security=BEARER)
route("/webhooks", "get", "listWebhooks", "List the webhook endpoints", "webhooks",
      {"200": ok("Every endpoint, oldest first, without secrets.", "WebhookList")}, [401, 403, 503],
      description=WEBHOOK_ADMIN, security=BEARER)
route("/webhooks/{webhook_id}", "get", "getWebhook", "Get a webhook endpoint", "webhooks",
      {"200": ok("The endpoint (no secret); `disabled_reason` says why it is disabled.", "Webhook")}, [401, 403, 404, 503],
      description=WEBHOOK_ADMIN, security=BEARER)
route("/webhooks/{webhook_id}", "patch", "updateWebhook", "Change a webhook endpoint", "webhooks",
      {"200": ok("The endpoint as changed.", "Webhook")}, [400, 401, 403, 404, 413, 415, 503],
      description=WEBHOOK_ADMIN + " Any of url, events, description, enabled (`true` enables it again and restarts its "
                  "count of given-up deliveries)." + WEBHOOK_URL,
      body=json_body("WebhookInput", "The fields to change.", required=True), security=BEARER)
route("/webhooks/{webhook_id}", "delete", "deleteWebhook", "Delete a webhook endpoint", "webhooks",
      {"204": ok("The endpoint and its attempt log were deleted; its queued deliveries are dropped.")}, [401, 403, 404, 503],
      description=WEBHOOK_ADMIN, security=BEARER)
route("/webhooks/{webhook_id}/deliveries", "get", "listWebhookDeliveries", "A webhook's last delivery attempts", "webhooks",
      {"200": ok("The last attempts (at most 100 kept), newest first.", "WebhookDeliveries")}, [401, 403, 404, 422, 503],
      description=WEBHOOK_ADMIN, query=[ref("parameters", "WebhookDeliveriesLimit")], security=BEARER)
route("/webhooks/{webhook_id}/test", "post", "testWebhook", "Send a ping event", "webhooks",
      {"202": ok("A `ping` event was queued for this endpoint alone.", "WebhookTest")}, [401, 403, 404, 409, 503],
      description=WEBHOOK_ADMIN + " 409 when the endpoint is disabled.", security=BEARER)
# ================================================================ end of webhooks
# ================================================================ test runs (issue 15)
# Owned by the test-runs work: a session's document against its question's tests.
CASE_STATUSES = ["passed", "failed", "time_limit_exceeded", "memory_limit_exceeded", "output_limit_exceeded",
                 "runtime_error", "compile_error", "internal_error"]
RUN_STATUSES = ["passed", "failed", "compile_error", "internal_error"]
test_run_req = {
    "type": "object",
    "description": "Body of `POST /sessions/{id}/test-runs`; an empty body runs the session's document in its language, "
                   "comparing with `trailing_whitespace`. Any other field -> 422.",
    "additionalProperties": False,
    "properties": {
        "compare": {"type": "string", "enum": ["exact", "trailing_whitespace"], "default": "trailing_whitespace",
                    "description": "`exact`: byte for byte. `trailing_whitespace`: spaces, tabs and carriage returns at the "
                                   "end of each line, and empty lines at the end of the output, do not count."},
        "language": {"allOf": [sref("LanguageId")], "description": "Default: the session's language."},
        "limits": {"allOf": [sref("ExecutionLimits")], "description": "The limits of each case (the compile step has the "
                                                                       "runner's compile limits)."},
    },
}
test_diff = {
    "type": "object",
    "description": "Where the output first differs from the expected output (after the comparison's normalization), and the "
                   "lines around it: up to 20 lines each side, each cut at 200 characters (a cut line ends with `…`).",
    "required": ["line", "from_line", "expected", "actual", "expected_lines", "actual_lines"],
    "properties": {
        "line": {"type": "integer", "minimum": 1, "description": "The first line that differs (1-based)."},
        "from_line": {"type": "integer", "minimum": 1, "description": "The line `expected[0]` and `actual[0]` are."},
        "expected": {"type": "array", "items": {"type": "string"}},
        "actual": {"type": "array", "items": {"type": "string"}},
        "expected_lines": {"type": "integer", "minimum": 0},
        "actual_lines": {"type": "integer", "minimum": 0},
    },
}
test_case_result = {
    "type": "object",
    "description": "One case of a run. Interviewers (the host token, an interviewer's participant token) get every field of "
                   "every case. Anyone else gets a hidden case's `name`, `hidden`, `status`, `time_ms` and `memory_kb` "
                   "only: never its input, expected output, output, errors or diff. `status` is null for a case not run yet.",
    "required": ["name", "hidden", "status"],
    "properties": {
        "name": {"type": "string"},
        "hidden": {"type": "boolean"},
        "status": {"type": ["string", "null"], "enum": CASE_STATUSES + [None]},
        "time_ms": {"type": "integer", "minimum": 0, "description": "CPU time of the case's processes, ms."},
        "memory_kb": {"type": "integer", "minimum": 0, "description": "Peak resident memory (largest ru_maxrss), KiB."},
        "wall_ms": {"type": "integer", "minimum": 0, "description": "Wall-clock time of the case, ms."},
        "message": {"type": ["string", "null"], "description": "Why it did not pass, in words."},
        "exit_code": {"type": ["integer", "null"]},
        "signal_name": {"type": ["string", "null"], "examples": ["SIGSEGV"]},
        "stdin": {"type": "string"},
        "expected_stdout": {"type": "string"},
        "actual_stdout": {"type": "string", "description": "What the program printed (kept up to 64 KiB, or the largest "
                                                           "expected output and a byte more; more fails the case)."},
        "stdout_truncated": {"type": "boolean"},
        "stderr": {"type": "string", "description": "What it printed on stderr, kept up to 8 KiB."},
        "stderr_truncated": {"type": "boolean"},
        "diff": {"oneOf": [sref("TestDiff"), {"type": "null"}], "description": "Set when the output differs."},
    },
}
test_run = {
    "type": "object",
    "description": "A test run: `queued`, `running` (cases finished so far carry their result) or `done` (`status` set). "
                   "Cases are in run order: the visible ones first, then the hidden ones.",
    "required": ["id", "session_id", "state", "language", "compare", "created_at", "status", "passed", "total", "cases",
                 "compile_output"],
    "properties": {
        "id": {"type": "string", "pattern": "^t_[0-9a-f]{24}$"},
        "session_id": {"type": ["string", "null"]},
        "state": {"type": "string", "enum": ["queued", "running", "done"]},
        "language": sref("LanguageId"),
        "compare": {"type": "string", "enum": ["exact", "trailing_whitespace"]},
        "user_id": {"type": ["string", "null"], "description": "The participant whose token started it."},
        "name": {"type": ["string", "null"]},
        "created_at": ms(),
        "started_at": {"type": ["integer", "null"]},
        "finished_at": {"type": ["integer", "null"]},
        "attempts": {"type": "integer", "minimum": 0},
        "runner_id": {"type": ["string", "null"]},
        "limits": execution_limits_full,
        "status": {"type": ["string", "null"], "enum": RUN_STATUSES + [None],
                   "description": "`passed`: every case passed; `failed`: some did not; `compile_error`: the program did "
                                  "not compile (every case `compile_error`); `internal_error`: the run broke off."},
        "message": {"type": ["string", "null"]},
        "passed": {"type": "integer", "minimum": 0},
        "total": {"type": "integer", "minimum": 1},
        "cases": {"type": "array", "items": sref("TestCaseResult")},
        "compile_output": {"type": ["string", "null"], "description": "The compiler's output, once for the run (compiled "
                                                                      "languages), else null."},
    },
}
test_run_list = {
    "type": "object",
    "required": ["test_runs", "count"],
    "properties": {
        "test_runs": {"type": "array", "description": "Newest first (capped, 50 by default); each case by `name`, `hidden`, "
                                                      "`status`, `time_ms`, `memory_kb` only; no `compile_output`.",
                      "items": {"type": "object", "required": ["id", "state", "status", "passed", "total", "cases"],
                                "properties": {k: v for k, v in test_run["properties"].items() if k != "compile_output"}}},
        "count": {"type": "integer", "minimum": 0},
    },
}
schemas.update({"TestRunRequest": test_run_req, "TestDiff": test_diff, "TestCaseResult": test_case_result,
                "TestRun": test_run, "TestRunList": test_run_list})
responses["TestRunConflict"] = problem_resp("`conflict`: the session has no question, or its question has no tests.")
parameters["TestRunId"] = {"name": "run_id", "in": "path", "required": True,
                           "description": "Test run id (`t_` + 24 hex digits).", "schema": {"type": "string"}}
PATH_PARAMS["{run_id}"] = "TestRunId"
TEST_RUN_EVENTS = (
    "Every member's WebSocket gets `test-run-started` (`{run_id, language, session_id, runner_id, attempt, compare, "
    "cases: [{name, hidden}], user_id, name}`; again with `attempt` 2 when a runner died and another runs it), one "
    "`test-case-result` per case as it finishes (`{run_id, index, ...TestCaseResult}`), then one `test-run-result` "
    "(data: the run's result: `run_id`, `status`, `message`, `passed`, `total`, `cases`, `compile_output`, ...). "
    "Candidates get hidden cases cut down as in `TestCaseResult`.")
route("/sessions/{id}/test-runs", "post", "startTestRun", "Run the session's code against its question's tests", "test runs",
      {"202": ok("The run is queued; follow it with `GET /sessions/{id}/test-runs/{run_id}` or the WebSocket events.",
                 "TestRun", hdrs={"Location": ref("headers", "Location")})},
      [400, 403, 404, (409, "TestRunConflict"), 410, 413, 415, 422, (503, "ExecutionUnavailable")],
      description="Runs the session's current document against every test of its question as one job: the runner compiles "
                  "once, then runs each case in the sandbox with the limits, its stdin fed from the supervisor's memory "
                  "(never a file), visible cases before hidden ones. 409 when the session has no question or no tests; "
                  "the same rate limits and queue bound as `POST /sessions/{id}/execute`. An optional Bearer token "
                  "attributes the run; a token of another session -> 403. " + TEST_RUN_EVENTS,
      body=json_body("TestRunRequest", "How to compare, and optionally the language and limits."), security=OPT_BEARER)
route("/sessions/{id}/test-runs", "get", "listTestRuns", "A session's test runs", "test runs",
      {"200": ok("The session's test runs, newest first (capped, 50 by default); `?limit=` asks for fewer.", "TestRunList")},
      [403, 404, 410, 422, 503], query=[ref("parameters", "HistoryLimit")], security=OPT_BEARER,
      description="Each run with its cases' statuses (no case's input or output, for any role). A token of another "
                  "session -> 403.")
route("/sessions/{id}/test-runs/{run_id}", "get", "getTestRun", "Get a test run", "test runs",
      {"200": ok("The run, in the caller's view: interviewers see every case whole, anyone else hidden cases by name, "
                 "status, time and memory only.", "TestRun")},
      [403, 404, 410, 503], security=OPT_BEARER,
      description="Test runs are kept for 24 hours by default. A token of another session -> 403; a run of another "
                  "session -> 404.")
# ================================================================ end of test runs


# ================================================================ the interview record (issue 21)
responses["ArchiveBadRequest"] = problem_resp("`bad-request`: a malformed interview id or query parameter (`field` names "
                                              "it; a `cursor` not given out by this API).")
responses["ArchiveUnavailable"] = problem_resp("`unavailable`: the interview archive (PostgreSQL) is unreachable or slow, "
                                               "or this gateway has none (`--postgres` not set); retry shortly.",
                                               ["Retry-After"])
interview_record = {
    "type": "object",
    "description": "A finished interview as archived (the same id as its session). Interviewers (the host token, an "
                   "interviewer's participant token, the admin token) get everything; a candidate's token gets what a "
                   "candidate saw: no `notes`, the question without hidden tests, test runs in the candidate's view, "
                   "no `scorecards` or `integrity` extras (`view` says which).",
    "properties": {
        "id": {"type": "string"}, "name": {"type": ["string", "null"]}, "language": {"type": "string"},
        "created_at": ms(), "ended_at": ms(),
        "ending": {"type": "string", "enum": ["completed", "deleted", "expired"]},
        "view": {"type": "string", "enum": ["interviewer", "candidate"]},
        "participants": {"type": "array", "items": {"type": "object"}},
        "code": {"type": "object", "properties": {"text": {"type": "string"}, "revision": {"type": "integer"}}},
        "notes": {"type": "object", "properties": {"text": {"type": "string"}, "revision": {"type": "integer"}},
                  "description": "Interviewers only."},
        "question": {"type": ["object", "null"]},
        "runs": {"type": "array", "items": {"type": "object"},
                 "description": "Executions (as `GET /executions/{job_id}`) and test runs (as `GET /sessions/{id}/test-runs/{run_id}` for the role), each with `kind`."},
        "history": {"type": "array", "items": {"type": "object"}},
        "extras": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "object"}}},
    },
    "required": ["id", "language", "created_at", "ended_at", "ending", "view", "participants", "code", "runs", "history"],
}
interview_list = {
    "type": "object",
    "properties": {
        "interviews": {"type": "array", "items": {"type": "object", "properties": {
            "id": {"type": "string"}, "name": {"type": ["string", "null"]}, "language": {"type": "string"},
            "created_at": ms(), "ended_at": ms(), "ending": {"type": "string"},
            "question_title": {"type": ["string", "null"]},
            "participants": {"type": "array", "items": {"type": "object"}}}}},
        "next_cursor": {"type": ["string", "null"], "description": "Pass as `cursor` for the next page; null on the last."},
    },
    "required": ["interviews", "next_cursor"],
}
schemas.update({"InterviewRecord": interview_record, "InterviewList": interview_list})
health["properties"]["archive"] = {
    "type": "object", "required": ["reachable"],
    "description": "Only on a gateway with `--postgres`: whether the interview archive (PostgreSQL) has a connection "
                   "ready now. It never makes the gateway unhealthy: live interviews need only Redis.",
    "properties": {"reachable": {"type": "boolean"}}}
parameters.update({
    "ArchiveFrom": {"name": "from", "in": "query", "required": False,
                    "description": "Interviews that ended at or after this time (Unix ms), else 400.",
                    "schema": {"type": "integer", "minimum": 0}},
    "ArchiveTo": {"name": "to", "in": "query", "required": False,
                  "description": "Interviews that ended before this time (Unix ms), else 400.",
                  "schema": {"type": "integer", "minimum": 0}},
    "ArchiveQuery": {"name": "q", "in": "query", "required": False,
                     "description": "A case-insensitive substring of the session name, a participant's name or the "
                                    "question title (`%` and `_` match themselves); at most 200 bytes.",
                     "schema": {"type": "string", "maxLength": 200}},
    "ArchiveCursor": {"name": "cursor", "in": "query", "required": False,
                      "description": "The previous page's `next_cursor` (opaque); anything else -> 400.",
                      "schema": {"type": "string"}},
    "ArchiveLimit": {"name": "limit", "in": "query", "required": False,
                     "description": "Interviews per page: 1 to 200 (default 50), else 400.",
                     "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
    "ArchiveRevision": {"name": "revision", "in": "query", "required": False,
                        "description": "The code at this revision (default: the final code); past the last revision or "
                                       "folded into the checkpoint -> 400.",
                        "schema": {"type": "integer", "minimum": 0}},
})
ARCHIVE_ERRS = [(400, "ArchiveBadRequest"), 401, 403, 404, (503, "ArchiveUnavailable")]
route("/interviews", "get", "listInterviews", "The admin's list of finished interviews", "interviews",
      {"200": ok("A page of finished interviews, newest first (`ended_at`, then `id`).", "InterviewList")},
      [(400, "ArchiveBadRequest"), 401, 403, (503, "ArchiveUnavailable")], security=BEARER,
      query=[ref("parameters", n) for n in ("ArchiveFrom", "ArchiveTo", "ArchiveQuery", "ArchiveCursor", "ArchiveLimit")],
      description="The admin token only (401 without a token; 403 with another, or when the gateway has no "
                  "`--admin-token`). Keyset-paged: ask again with `cursor` = `next_cursor` until it is null.")
route("/interviews/{id}", "get", "getInterview", "A finished interview's record", "interviews",
      {"200": ok("The record, in the caller's view.", "InterviewRecord")}, ARCHIVE_ERRS, security=BEARER,
      description="The host token, an interviewer's participant token or the admin token: everything; a candidate's "
                  "participant token: what a candidate saw. 401 without a token, 403 with a token the interview does "
                  "not know, 404 when it was never archived or was erased. Malformed id -> 400.")
route("/interviews/{id}", "delete", "eraseInterview", "Erase a finished interview", "interviews",
      {"204": ok("Erased: every part of it (participants, code, notes, ops, runs, history, extras); a later GET answers 404.")},
      ARCHIVE_ERRS, security=BEARER,
      description="The host token or the admin token (a candidate's deletion request). 404 when there is nothing to erase.")
route("/interviews/{id}/timeline", "get", "getInterviewTimeline", "Replay a finished interview: its timeline", "interviews",
      {"200": ok("One page of the timeline, oldest first: the same pages and events as the live "
                 "`GET /sessions/{id}/timeline`.", "Timeline")},
      ARCHIVE_ERRS, security=BEARER,
      query=[ref("parameters", "AfterRevision"), ref("parameters", "TimelineLimit"), ref("parameters", "TimelineDocument")],
      description="Interviewers and the admin: everything, as live; a candidate's token: the code's timeline in the "
                  "candidate's view, as the live route answers a candidate once the session has ended (no integrity "
                  "signals, notes or scorecard events, test runs as a candidate saw them); `document=notes` with a "
                  "candidate's token -> 403. Malformed parameters -> 400.")
route("/interviews/{id}/code", "get", "getInterviewCode", "A finished interview's code, at a revision", "interviews",
      {"200": ok("The code at the revision (`code`, `language` then, `revision`, `updated_at`).", "Code")},
      ARCHIVE_ERRS, security=BEARER, query=[ref("parameters", "ArchiveRevision")],
      description="The final code, or with `revision` the code at that revision (playback), for every token of the "
                  "interview (its candidates' too: they saw the code) and the admin.")
# ================================================================ room controls (issue 22, part 2)
# The interviewers steer the room: lock the editor, hold back runs, hide the question (session fields
# set by control.lua), and end (PATCH status completed's path). Enforced by the scripts that commit
# ops and start runs; the WebSocket's `control` message does the same.
room_controls = {
    "type": "object",
    "description": "The room controls: what the interviewers hold back from the candidates.",
    "required": ["editor_locked", "runs_held", "question_hidden"],
    "properties": {
        "editor_locked": {"type": "boolean", "description": "Candidates' code and language changes are refused "
                          "(WebSocket `error` `editor_locked`, REST 403 with `code: editor_locked`)."},
        "runs_held": {"type": "boolean", "description": "Candidates' runs and test runs are refused (403, `code: runs_held`)."},
        "question_hidden": {"type": "boolean", "description": "Candidates get no question (welcome `null`, GET 404, "
                            "`question-changed` null) until it is revealed."},
    },
}
controls_req = {
    "type": "object",
    "description": "Body of `PATCH /sessions/{id}/controls`: one or more controls (booleans), or `end: true` alone. "
                   "Any other member, a non-boolean value, `end` with anything else, or nothing to change -> 422 "
                   "naming the field.",
    "properties": {
        "editor_locked": {"type": "boolean"},
        "runs_held": {"type": "boolean"},
        "question_hidden": {"type": "boolean"},
        "end": {"type": "boolean", "const": True, "description": "End the interview (status completed; irreversible)."},
    },
    "additionalProperties": False,
}
controls_state = {
    "description": "The room controls after the change.",
    "allOf": [sref("RoomControls"), {
        "type": "object",
        "required": ["changed", "status"],
        "properties": {
            "changed": {"type": "array", "items": {"type": "string"},
                        "description": "The controls this request changed (empty when all were so already: nothing "
                                       "is published then); `[\"status\"]` for an end."},
            "status": {"type": "string", "enum": ["active", "completed"]},
            "updated_at": ms({"description": "When the session last changed."}),
        },
    }],
}
schemas.update({"RoomControls": room_controls, "ChangeControlsRequest": controls_req, "RoomControlsState": controls_state})
session["properties"]["controls"] = sref("RoomControls")
route("/sessions/{id}/controls", "patch", "changeControls", "Change the room controls, or end the interview", "sessions",
      {"200": ok("The controls as they are now.", "RoomControlsState")}, BODY_ERRS[:1] + [401, 403, 404, 410] + BODY_ERRS[1:] + [503],
      description=("The host token or an interviewer's participant token (401 without one, 403 for a candidate's). "
                   "Each change is one history event (`controls_changed`, on the timeline and in the record) and one "
                   "`session-controls` WebSocket frame to every member (the whole state, what changed, who). "
                   "`{\"end\": true}` ends the interview exactly as `PATCH /sessions/{id}` with status `completed` "
                   "(`session-ended`, archived); after that the room is read-only for everyone (410)."),
      body=json_body("ChangeControlsRequest", "The controls to change.", required=True), security=BEARER)
# ================================================================ end of the interview record
# ================================================================ integrity signals (issue 22, part 1)
# What participants' browsers report (WebSocket `activity`), kept with the session, for its interviewers.
activity_signal = {
    "type": "object", "required": ["type", "kind", "seq", "at", "user_id", "name", "role"],
    "description": "One integrity signal as stored: `kind` and its own fields as the browser reported them (validated), "
                   "who and when stamped by the server (never the client's word). A hint for a conversation, not proof "
                   "(docs/integrity.md).",
    "properties": {
        "type": {"type": "string", "enum": ["integrity"]},
        "kind": {"type": "string", "enum": ["paste", "away", "back", "insert"],
                 "description": "`paste`: a paste into the code or the notes; `away`: the page was hidden or the window "
                                "lost focus; `back`: it came back (with `duration_ms`); `insert`: one insertion of more "
                                "than the client's threshold (200 characters) that was not a paste."},
        "seq": {"type": "integer", "minimum": 1, "description": "Its position in the session's list (1 = the first)."},
        "at": {"type": "integer", "format": "int64", "description": "When the server received it (Unix ms, Redis' clock)."},
        "user_id": {"type": "string"}, "name": {"type": "string"},
        "role": {"type": "string", "enum": ["interviewer", "candidate"]},
        "length": {"type": "integer", "minimum": 1, "description": "paste, insert: characters."},
        "source": {"type": "string", "enum": ["document", "notes", "external"],
                   "description": "paste: whether its text was found in this session's own code (`document`) or notes, "
                                  "or not (`external`). The text itself is never sent."},
        "document": {"type": "string", "enum": ["code", "notes"], "description": "paste, insert: where it landed."},
        "offset": {"type": "integer", "minimum": 0, "description": "paste, insert: where it landed (Unicode scalars)."},
        "line": {"type": "integer", "minimum": 1, "description": "paste, insert: the line it landed on (1-based)."},
        "cause": {"type": "string", "enum": ["hidden", "blur"],
                  "description": "away, back: the page hidden (visibilitychange) or the window's focus lost (blur)."},
        "duration_ms": {"type": "integer", "minimum": 0, "description": "back: how long it was away."},
    }}
activity_list = {
    "type": "object", "required": ["session_id", "signals", "count", "cap"],
    "properties": {
        "session_id": {"type": "string"},
        "signals": {"type": "array", "items": sref("ActivitySignal"), "description": "Oldest first, after `after`."},
        "count": {"type": "integer", "minimum": 0, "description": "How many the session holds up to the last one returned."},
        "cap": {"type": "integer", "description": "Most signals a session keeps (5,000); later ones are refused."},
    }}
schemas.update({"ActivitySignal": activity_signal, "ActivityList": activity_list})
parameters["ActivityAfter"] = {
    "name": "after", "in": "query", "required": False,
    "description": "Only the signals after the N-th (`seq` > N): what a rejoining page has not seen. 0..5000, else 422.",
    "schema": {"type": "integer", "minimum": 0, "maximum": 5000, "default": 0}}
route("/sessions/{id}/activity", "get", "getActivity", "The session's integrity signals", "sessions",
      {"200": ok("The signals.", "ActivityList")}, [401, 403, 404, 410, 422, 503],
      description=INTERVIEWERS_ONLY + "The admin token too. Every participant's signals (pastes, the page hidden or "
                  "left and for how long, large insertions that were not pastes), as the interviewers also get them "
                  "live (WebSocket `activity` frames). Readable while the session's data lives, ended or not; then in "
                  "the interview record (extras `integrity`, interviewers only).",
      security=BEARER, query=[ref("parameters", "ActivityAfter")])
for r in ROUTES:
    if r["op_id"] == "connectWebSocket":
        r["description"] += (" Any participant sends `activity` (integrity signals: `paste`, `away`, `back`, `insert`; "
                             "over its own rate of 20 per 10 s, malformed or unknown -> `error`); interviewers get "
                             "everyone's as `activity` frames, candidates none.")
# ================================================================ end of integrity signals


# ================================================================ scorecards (issue 22, part 3)
# One scorecard per interviewer per session: GET/PUT /sessions/{id}/scorecards/mine, GET
# /sessions/{id}/scorecards; a question's `rubric`. docs/scorecards.md.
rubric_criterion = {
    "type": "object",
    "required": ["id", "name"],
    "properties": {
        "id": {"type": "string", "pattern": "^[a-z0-9_-]{1,40}$", "description": "Unique within the rubric; what ratings are keyed by."},
        "name": {"type": "string", "minLength": 1, "description": "1..80 bytes."},
        "description": {"type": "string", "default": "", "description": "Up to 1,000 bytes."},
    },
}
question_input["properties"]["rubric"] = {
    "type": "array", "maxItems": 12, "items": sref("RubricCriterion"),
    "description": "What interviewers rate on (at most 12 criteria; interviewers' view only). Without one, sessions "
                   "use the standard rubric: problem_solving, code_quality, communication, testing."}
question_view["properties"]["rubric"] = {"type": "array", "items": sref("RubricCriterion"),
                                         "description": "Interviewers' view, when the question has its own rubric."}
scorecard = {
    "type": "object",
    "required": ["author_id", "author_name", "status", "recommendation", "ratings", "text", "created_at", "updated_at"],
    "properties": {
        "author_id": {"type": "string", "description": "The interviewer's participant id, or `host` for the host token."},
        "author_name": {"type": "string"},
        "status": {"type": "string", "enum": ["draft", "submitted"]},
        "recommendation": {"type": ["string", "null"], "enum": ["strong_no", "no", "yes", "strong_yes", None]},
        "ratings": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 1, "maximum": 4},
                    "description": "Criterion id -> 1 (poor) .. 4 (excellent); criteria left out are not rated."},
        "text": {"type": "string"},
        "created_at": ms(), "updated_at": ms(),
        "submitted_at": ms({"description": "When first submitted."}),
        "amended_at": ms({"description": "When last amended after submitting."}),
        "amendments": {"type": "integer", "minimum": 0, "description": "PUTs after submitting."},
    },
}
scale = {"type": "array", "items": {"type": "object", "properties": {"value": {"type": "integer"}, "label": {"type": "string"}}}}
my_scorecard = {
    "type": "object",
    "required": ["rubric", "scale", "scorecard"],
    "properties": {
        "rubric": {"type": "array", "items": sref("RubricCriterion")}, "scale": scale,
        "scorecard": {"oneOf": [sref("Scorecard"), {"type": "null"}], "description": "Null before the first PUT."},
    },
}
scorecard_list = {
    "type": "object",
    "required": ["rubric", "scale", "scorecards", "submitted", "unlocked"],
    "properties": {
        "rubric": {"type": "array", "items": sref("RubricCriterion")}, "scale": scale,
        "scorecards": {"type": "array", "items": sref("Scorecard"),
                       "description": "The caller's own (draft or submitted), and the others' submitted ones once the "
                                      "caller has submitted (`unlocked`); the admin: every submitted one."},
        "submitted": {"type": "array", "description": "Who has submitted (never what), for everyone allowed here.",
                      "items": {"type": "object", "properties": {"author_id": {"type": "string"}, "author_name": {"type": "string"},
                                                                 "submitted_at": ms()}}},
        "unlocked": {"type": "boolean"},
    },
}
put_scorecard_req = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "recommendation": {"type": ["string", "null"], "enum": ["strong_no", "no", "yes", "strong_yes", None]},
        "ratings": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 1, "maximum": 4}},
        "text": {"type": "string", "description": "10,000 bytes at most (413 above)."},
        "submit": {"type": "boolean", "default": False, "description": "Submit (needs a recommendation)."},
        "status": {"type": "string", "enum": ["draft", "submitted"], "description": "Another way to say submit."},
    },
}
schemas.update({"RubricCriterion": rubric_criterion, "Scorecard": scorecard, "MyScorecard": my_scorecard,
                "ScorecardList": scorecard_list, "PutScorecardRequest": put_scorecard_req})
SCORECARD_READERS = ("For the session's interviewers only: the host token, or the participant token of someone who "
                     "joined as interviewer (401 without a token, 403 for a candidate's or another session's). Works "
                     "while the session lives, ended or not, and after it is archived on a gateway with `--postgres` "
                     "(then in the record, under the same rules; 503 when PostgreSQL is away); else 410 once the room "
                     "is gone. ")
route("/sessions/{id}/scorecards/mine", "get", "getMyScorecard", "The caller's scorecard and the session's rubric", "sessions",
      {"200": ok("The rubric, the scale and the caller's scorecard.", "MyScorecard")}, [401, 403, 404, 410, 503],
      description=SCORECARD_READERS, security=BEARER)
route("/sessions/{id}/scorecards/mine", "put", "putMyScorecard", "Write or submit the caller's scorecard", "sessions",
      {"200": ok("The scorecard as stored.", "MyScorecard")}, [400, 401, 403, 404, 409, 410, 413, 415, 422, 503],
      description=SCORECARD_READERS + "Replaces the caller's recommendation, ratings and text (absent fields clear "
                  "them); ratings are checked against the session's rubric (422 naming the field: an unknown criterion, "
                  "a rating outside 1..4, a bad recommendation, a wrong type; 413 for text over 10,000 bytes), and "
                  "nothing changes on a refusal. `submit: true` (or `status: submitted`) submits; it needs a "
                  "recommendation. A submitted scorecard stays submitted: a further PUT must say submit and is "
                  "recorded as an amendment (409 for one that does not).",
      body=json_body("PutScorecardRequest", "The scorecard.", required=True), security=BEARER)
route("/sessions/{id}/scorecards", "get", "listScorecards", "The scorecards the caller may see", "sessions",
      {"200": ok("The visible scorecards and who has submitted.", "ScorecardList")}, [401, 403, 404, 410, 503],
      description=SCORECARD_READERS + "Before the caller submits their own, only their own and who has submitted; "
                  "after, every submitted one; never another's draft. The admin token (`--admin-token`) sees every "
                  "submitted one.", security=BEARER)
# ================================================================ end of scorecards


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
    if r.get("query"):
        op["parameters"] = copy.deepcopy(r["query"])
    if r["body"] is not None:
        op["requestBody"] = copy.deepcopy(r["body"])
    resps = {}
    for code_, resp in r["success"].items():
        resp = copy.deepcopy(resp)
        if head:
            resp.pop("content", None)
            resp["description"] = resp["description"] + " (headers only, no body)"
        resps[code_] = resp
    errors = list(r["errors"])
    # Every API route is rate limited (per client address); /health and /openapi.json are not.
    if r["path"] not in ("/health", "/openapi.json") and r in ROUTES and 429 not in errors:
        errors.append(429)
    # A query can make any request target longer than the URL limit.
    if r.get("query") and 414 not in errors:
        errors.append(414)
    for e in errors:
        # An error is a status (its response from ERR) or a (status, response name) pair.
        e, name = e if isinstance(e, tuple) else (e, ERR[e])
        if head:
            resps[str(e)] = {"description": responses[name]["description"] + " (headers only, no body)"}
            if e == 503:
                resps[str(e)]["headers"] = {"Retry-After": ref("headers", "Retry-After")}
        else:
            resps[str(e)] = ref("responses", name)
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
    if r["method"] == "get" and "101" not in r["success"]:
        m, op = build_op(r, full, suffix, head=True)
        item[m] = op


ROOT_ONLY = {"/health", "/openapi.json", "/ws/sessions/{id}"}
for r in ROUTES:
    if r["path"] in ROOT_ONLY:
        add("", "Root", r)
for prefix, suffix in (("/api/v1", ""), ("/api", "Legacy")):
    for r in ROUTES:
        add(prefix, suffix, r)

# ================================================================ web client (issue 8)
# The reference web client's page and files: served at the root only, never under /api/v1 or /api.
headers.update({
    "ETag": {"description": "A strong validator from the file's content (the same on every gateway).",
             "schema": {"type": "string"}},
    "Last-Modified": {"description": "The file's modification time.", "schema": {"type": "string"}},
    "Cache-Control": {"description": "`no-cache` for the page and its files (revalidated with the ETag each time), "
                                     "`public, max-age=86400` for CodeMirror and xterm.js.", "schema": {"type": "string"}},
})
parameters["FilePath"] = {"name": "path", "in": "path", "required": True,
                          "description": "A file's path below the folder (may contain `/`). Each segment is percent-decoded "
                                         "once; `..`, `.`, hidden names, NUL and backslashes are refused, and the resolved "
                                         "path must stay inside the folder (symbolic links included) -> 404 otherwise.",
                          "schema": {"type": "string"}}
PATH_PARAMS["{path}"] = "FilePath"
FILE_HEADERS = {h: ref("headers", h) for h in ("ETag", "Last-Modified", "Cache-Control")}
NOT_MODIFIED = {"description": "`If-None-Match` matched the ETag (or `If-Modified-Since` is not older than the file).",
                "headers": FILE_HEADERS}
PAGE = {"200": ok("The web client's page (web/index.html).", ctype="text/html", schema={"type": "string"}, hdrs=FILE_HEADERS),
        "304": NOT_MODIFIED}
PAGE_ROUTES = []
for path, op_id, summary, desc, success in (
    ("/", "getWebClient", "The web client",
     "The reference web client: create a session, or join one, and interview in the browser. 404 when the gateway "
     "has no web root (see `--web-root`).", PAGE),
    ("/s/{id}", "getWebClientSession", "A session's shareable link",
     "The same page as `/`, which joins the session in the path (the `join_url` of a session).", PAGE),
    ("/s/{id}/replay", "getWebClientReplay", "A session's replay",
     "The same page as `/`, showing the Replay view of the session in the path: for its interviewers, who watch the "
     "code being written (the page reads `GET /sessions/{id}/timeline`), and once it has ended for its candidates, "
     "in the candidate's view.", PAGE),
    ("/static/{path}", "getWebClientFile", "A file of the web client",
     "A file from the web client's folder (`--web-root`), with its Content-Type.",
     {"200": ok("The file.", ctype="*/*", schema={"type": "string", "format": "binary"}, hdrs=FILE_HEADERS),
      "304": NOT_MODIFIED}),
    ("/vendor/codemirror/{path}", "getCodeMirrorFile", "A CodeMirror 5 file",
     "A file of CodeMirror 5 as Debian's libjs-codemirror installs it (`--codemirror-root`, default "
     "/usr/share/javascript/codemirror).",
     {"200": ok("The file.", ctype="*/*", schema={"type": "string", "format": "binary"}, hdrs=FILE_HEADERS),
      "304": NOT_MODIFIED}),
    ("/vendor/xterm/xterm.js", "getXtermScript", "xterm.js for the browser",
     "xterm.js 3.8 as one browser script, bundled by the gateway at start-up from the CommonJS modules Debian's "
     "node-xterm installs (`--xterm-root`, default /usr/share/nodejs/xterm/lib; tests and source maps left out), "
     "each wrapped in a small CommonJS registry; it sets `window.Terminal` (the fit addon applied). 404 when "
     "node-xterm is not installed: the page then shows interactive runs in its plain output box.",
     {"200": ok("The script.", ctype="text/javascript", schema={"type": "string"}, hdrs=FILE_HEADERS),
      "304": NOT_MODIFIED}),
    ("/vendor/xterm/xterm.css", "getXtermStyle", "xterm.js's style sheet",
     "xterm.css as Debian's libjs-xterm installs it (`--xterm-style-root`, default /usr/share/javascript/xterm).",
     {"200": ok("The style sheet.", ctype="text/css", schema={"type": "string"}, hdrs=FILE_HEADERS),
      "304": NOT_MODIFIED}),
):
    PAGE_ROUTES.append(dict(path=path, method="get", op_id=op_id, summary=summary, tag="web client", success=success,
                            errors=[404], description=desc, body=None, security=None))
for r in PAGE_ROUTES:
    add("", "", r)
# ================================================================ end of web client

# Prometheus metrics: served at the root only (where scrapers look), never under /api.
add("", "", dict(path="/metrics", method="get", op_id="getMetrics", summary="Prometheus metrics", tag="operations",
                 success={"200": ok("The Prometheus text format (version 0.0.4): connections, sessions with local members, "
                                    "WebSocket messages in and frames out, broadcasts and their deliveries, Redis command "
                                    "latency histogram and reconnects, rate-limited requests, execution queue depth, "
                                    "executions by language and status, runner slots.",
                                    ctype="text/plain", schema={"type": "string"})},
                 errors=[401, 403],
                 description="Open when the gateway has no `--admin-token`; with one, it needs `Authorization: Bearer` "
                             "with that token.",
                 body=None, security=OPT_BEARER))

METHOD_ORDER = ["parameters", "get", "head", "post", "put", "patch", "delete"]
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
        {"name": "executions", "description": "Run code in a sandbox on a runner; read jobs and a session's executions."},
        {"name": "questions", "description": "A session's question with its test cases, and the deployment's question library."},
        {"name": "test runs", "description": "Run a session's code against its question's tests; read the runs."},
        {"name": "webhooks", "description": "Signed webhook endpoints and their deliveries (the admin token's)."},
        {"name": "operations", "description": "Health check and this document."},
        {"name": "web client", "description": "The reference web client's page and files (root only)."},
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
