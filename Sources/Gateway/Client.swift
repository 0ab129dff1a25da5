import Interview
import Stores
import JSON
import Transport

/// Where a client is in one of the session's documents: the latest revision it has (welcome,
/// delivered ops, acks: older channel messages are not sent again), and the revisions its own
/// changes were committed as whose broadcast has not come by yet: when it does, the client gets its
/// ack there, in order with everyone else's ops.
struct DocumentPosition {
    var revision = 0
    private var own: Set<Int> = []

    enum Arrival { case old, ack, op }

    /// A message carrying `revision` arrives (`mine`: published with this connection excluded).
    mutating func arrive(_ revision: Int, mine: Bool) -> Arrival {
        guard revision > self.revision else { return .old }
        self.revision = revision
        return mine || own.remove(revision) != nil ? .ack : .op
    }

    /// The commit's reply: its ack goes out when the broadcast of that revision reaches this client
    /// (now, if it already has).
    mutating func committed(_ revision: Int) {
        if revision > self.revision { own.insert(revision) }
    }
}

/// A SHA-256 (Identifiers.tokenHash's 64 lowercase hex digits) as four words, no heap object.
struct TokenDigest: Equatable {
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    init?(hex: String) {
        let digits = Array(hex.utf8)
        guard digits.count == 64 else { return nil }
        var values: [UInt64] = []
        for word in 0..<4 {
            var value: UInt64 = 0
            for digit in digits[(word * 16)..<(word * 16 + 16)] {
                let nibble: UInt8
                switch digit {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = digit - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = digit - UInt8(ascii: "a") + 10
                default: return nil
                }
                value = value << 4 | UInt64(nibble)
            }
            values.append(value)
        }
        words = (values[0], values[1], values[2], values[3])
    }

    /// The 64 lowercase hex digits again.
    var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for word in [words.0, words.1, words.2, words.3] {
            for shift in stride(from: 60, through: 0, by: -4) { out.append(digits[Int((word >> UInt64(shift)) & 15)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func == (a: TokenDigest, b: TokenDigest) -> Bool { a.words == b.words }
}

/// One WebSocket client of a session on this collaboration.
///
/// Life: connected (waiting for `join`) -> joining (room subscribed, state being read; channel
/// messages are buffered) -> joined (welcome sent, buffered messages newer than it flushed).
///
/// What it may see is decided here, when a message is sent to it (the role is known only once it
/// has joined): the private channel's messages (the notes' ops among them) go to interviewers
/// only; an events message excluding `ChannelMessage.exceptInterviewers` to candidates only.
final class Client: WebSocketDelegate {
    enum Phase { case connected, joining, joined, gone }
    /// Earlier frontends speak `join_session` / `code_update` / `session_state` and want the
    /// whole text on every change instead of operations.
    enum Flavor { case current, legacy }

    let socket: WebSocketConnection
    unowned let collaboration: Collaboration
    let sessionID: String
    let connectionID: String
    let joinURL: String
    /// When the connection opened, or when its last join was refused (the join deadline restarts).
    private(set) var connectedAt: UInt64
    /// The id an earlier frontend gave itself (`client_id` in join_session), echoed back.
    private var clientID: String?
    private(set) var phase = Phase.connected
    private(set) var flavor = Flavor.current
    private(set) var participant: Participant?
    /// Who its ops are by, made at its first op (a connection that never types makes none).
    private var author: CommitAuthor?
    /// The hash of the token it joined with (the room controls present it, as REST presents a token).
    var tokenHash: String { tokenDigest?.hex ?? "" }
    /// That hash kept as its 32 bytes inline: the hex String was a 112-byte heap object on every
    /// joined connection, and the hash is only presented when the room controls are used or on leave.
    private var tokenDigest: TokenDigest?
    /// Where it is in the code, and (an interviewer) in the notes.
    private var code = DocumentPosition()
    private var notes = DocumentPosition()
    private var buffered: [(body: [UInt8], revision: Int, exclude: String, channel: SessionChannel)] = []
    private var room: Room?
    /// Operations wait here while one is being committed: a client's ops commit in order.
    private var pendingOps: [(document: Document, op: TextOperation, base: Int)] = []
    private var committing = false
    /// Cursor throttling: the latest position not sent yet, and when the last one went.
    var pendingCursor: [UInt8]?
    var lastCursorAt: UInt64 = 0
    private var messages: MessageBucket
    private var cursors: MessageBucket
    /// `activity` messages' own bucket (Client+Activity.swift).
    var activityBucket = MessageBucket(rule: Activity.rate)
    /// Terminal input of this connection (Client+Terminal.swift).
    var terminalBudget = TerminalBudget()

    init(socket: WebSocketConnection, collaboration: Collaboration, sessionID: String, connectionID: String, joinURL: String) {
        self.socket = socket
        self.joinURL = joinURL
        self.collaboration = collaboration
        self.sessionID = sessionID
        self.connectionID = connectionID
        connectedAt = collaboration.loop.now
        messages = MessageBucket(rule: collaboration.configuration.protection.webSocketMessages)
        cursors = MessageBucket(rule: collaboration.configuration.protection.webSocketCursors)
    }

    var isAwaitingJoin: Bool { phase == .connected }

    /// Joined as an interviewer (which takes the host token): sees the private channel, the notes.
    var isInterviewer: Bool { participant?.role == .interviewer }

    // MARK: Sending

    func send(type: String, _ data: JSON) {
        let frame: JSON = ["type": .string(type), "data": data, "timestamp": .integer(Int(EventLoop.unixMillis()))]
        socket.send(text: frame.bytes)
    }

    func sendError(_ code: String, _ detail: String, about request: String? = nil) {
        var data: JSON = ["code": .string(code), "detail": .string(detail)]
        if let request { data.set("request_type", .string(request)) }
        send(type: "error", data)
    }

    func sendError(_ error: InterviewError, about request: String?) {
        let code: String
        switch error.kind {
        case .notFound: code = "not_found"
        case .gone: code = "session_ended"
        case .full: code = "session_full"
        case .forbidden: code = "forbidden"
        case .unauthorized: code = "unauthorized"
        case .conflict: code = "conflict"
        case .invalid: code = "invalid"
        case .tooLarge: code = "too_large"
        case .stale: code = "stale_revision"
        case .unavailable: code = "unavailable"
        case .internalError: code = "internal"
        }
        var data: JSON = ["code": .string(error.code ?? code), "detail": .string(error.detail)]
        if let field = error.field { data.set("field", .string(field)) }
        if let request { data.set("request_type", .string(request)) }
        send(type: "error", data)
    }

    /// A channel message for this session (already framed once for everybody), from `channel`.
    /// `exclude` is this connection's id when it made the change. Acks travel here too, so a
    /// client sees its acks and the others' ops in revision order (the commit's reply comes on
    /// another Redis connection).
    func receive(frame: [UInt8], body: [UInt8], revision messageRevision: Int, exclude: String, channel: SessionChannel,
                 legacyFrame: [UInt8]?) {
        switch phase {
        case .joining:
            buffered.append((body, messageRevision, exclude, channel))
        case .joined:
            switch channel {
            case .private: guard isInterviewer else { return }
            case .events: guard !(isInterviewer && exclude == ChannelMessage.exceptInterviewers) else { return }
            }
            let own = exclude == connectionID
            if messageRevision > 0 {
                let document = channel.document
                switch document == .code ? code.arrive(messageRevision, mine: own) : notes.arrive(messageRevision, mine: own) {
                case .old: return
                case .ack:
                    return socket.send(frame: Self.ackFrame(document.ackType, revision: messageRevision,
                                                            timestamp: Int(EventLoop.unixMillis())))
                case .op:
                    if document == .code && flavor == .legacy {
                        if let legacyFrame { socket.send(frame: legacyFrame) }
                        return
                    }
                }
            } else if own {
                return
            }
            socket.send(frame: frame)
        case .connected, .gone:
            break
        }
    }

    /// The frame of an ack: the text `send(type:data:)` writes for `{"revision": N}`
    /// (`{"type":"ack","data":{"revision":N},"timestamp":T}`), written here byte by byte, since
    /// one goes out per committed op (building and serializing a JSON value cost ~6,000
    /// instructions per op; scripts/bench.d/profile.py). Always under 126 bytes: one length byte.
    static func ackFrame(_ type: String, revision: Int, timestamp: Int) -> [UInt8] {
        var frame: [UInt8] = [0x80 | WebSocketFrame.text, 0]
        frame.reserveCapacity(96)
        frame += #"{"type":""#.utf8
        frame += type.utf8
        frame += #"","data":{"revision":"#.utf8
        appendDecimal(revision, to: &frame)
        frame += #"},"timestamp":"#.utf8
        appendDecimal(timestamp, to: &frame)
        frame.append(UInt8(ascii: "}"))
        frame[1] = UInt8(frame.count - 2)
        return frame
    }

    /// Appends a non-negative integer's decimal digits (no String made on the way).
    private static func appendDecimal(_ value: Int, to bytes: inout [UInt8]) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)   // room for 24 digits, on the stack
        withUnsafeMutableBytes(of: &digits) { buffer in
            var rest = UInt64(max(value, 0))
            var at = buffer.count
            repeat {
                at -= 1
                buffer[at] = UInt8(truncatingIfNeeded: 48 + rest % 10)
                rest /= 10
            } while rest > 0
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[at...]))
        }
    }

    func sendLegacyDocument(_ frame: [UInt8], revision: Int) {
        guard phase == .joined, revision >= code.revision else { return }
        code.revision = revision
        socket.send(frame: frame)
    }

    static func legacyCodeUpdate(text: String, revision: Int, author: JSON?) -> [UInt8] {
        var data: JSON = ["code": .string(text), "revision": .integer(revision)]
        for key in ["user_id", "name", "color"] { if let value = author?[key] { data.set(key, value) } }
        let frame: JSON = ["type": "code_update", "data": data, "timestamp": .integer(Int(EventLoop.unixMillis()))]
        return WebSocketFrame.text(frame.bytes)
    }

    // MARK: Receiving

    func webSocket(_ socket: WebSocketConnection, didReceiveText text: UnsafeRawBufferPointer) {
        let protection = collaboration.configuration.protection
        if protection.rateLimitsEnabled && !messages.take(now: collaboration.loop.now) {
            return refuseForRate(messages)
        }
        let message: JSON
        do {
            message = try JSON.parse(text)
        } catch {
            return sendError("invalid_json", "the message is not valid JSON: \(error)")
        }
        guard let type = message["type"]?.stringValue else {
            return sendError("invalid_message", "a message is a JSON object with a string \"type\" and a \"data\" object")
        }
        // Fields live in "data"; earlier clients put them at the top level.
        let data = message["data"].flatMap { $0.objectValue != nil ? $0 : nil } ?? message
        switch type {
        case "join", "join_session":
            guard phase == .connected else { return sendError("already_joined", "this connection has joined already", about: type) }
            flavor = type == "join_session" ? .legacy : .current
            join(data, request: type)
        case "ping":
            send(type: "pong", data["nonce"].map { ["nonce": $0] } ?? [:])
        default:
            guard phase == .joined, let participant else {
                return sendError("not_joined", "send a join message first", about: type)
            }
            switch type {
            case "op": submitOp(data, request: type, to: .code)
            case "notes-op":
                guard participant.role == .interviewer else {
                    return sendError("forbidden", "the notes are for the session's interviewers; this connection joined as a candidate",
                                     about: type)
                }
                submitOp(data, request: type, to: .notes)
            case "code-update", "code_update": replaceText(data, request: type, author: participant)
            case "cursor-position", "cursor_position", "cursor-update":
                if protection.rateLimitsEnabled && !cursors.take(now: collaboration.loop.now) { return refuseForRate(cursors) }
                cursor(data, request: type, author: participant)
            case "language-change", "language_change": changeLanguage(data, request: type, author: participant)
            case "activity": reportActivity(data, request: type, author: participant)
            case "leave": leave()
            case "control": control(data, request: type)
            case "run-input", "run-resize", "run-signal", "run-open": terminalMessage(type, data, participant: participant)
            default:
                sendError("unknown_type", "unknown message type '\(type)'; see the README's protocol section", about: type)
            }
        }
    }

    func webSocketDidClose(_ socket: WebSocketConnection, code: UInt16) {
        let wasJoined = phase == .joined || phase == .joining
        phase = .gone
        collaboration.clientClosed(self)
        if wasJoined {
            room?.remove(self)
            collaboration.sessions.disconnect(sessionID, connection: connectionID)
            if let room, room.isEmpty { collaboration.closeRoom(room) }
        }
        room = nil
        buffered = []
        pendingOps = []
    }

    /// A message over the connection's rate: an error, and after 20 in a row the connection goes.
    private func refuseForRate(_ bucket: MessageBucket) {
        collaboration.counters.rateLimitedMessages += 1
        if bucket.refusals >= 20 {
            sendError("rate_limited", "too many messages; closing")
            socket.close(code: 1008, reason: "message rate exceeded")
        } else if bucket.refusals == 1 || bucket.refusals % 5 == 0 {
            sendError("rate_limited", "too many messages (\(bucket.rule.name): \(bucket.rule.count) per \(bucket.rule.periodMillis) ms); slow down")
        }
    }

    // MARK: Join

    private func join(_ data: JSON, request: String) {
        var since: Int?
        if let value = data["revision"], !value.isNull {
            guard let number = value.intValue, number >= 0 else { return sendError("invalid", "revision must be a non-negative integer", about: request) }
            since = number
        }
        if let value = data["client_id"], !value.isNull {
            guard let text = value.stringValue, (1...128).contains(text.utf8.count) else {
                return sendError("invalid", "client_id must be a string of 1 to 128 bytes", about: request)
            }
            clientID = text
        }
        let token = data["participant_token"]?.stringValue ?? data["token"]?.stringValue
        let hostToken = data["host_token"]?.stringValue
        var name: String?
        var role = Role.candidate
        if token == nil {
            let given = data["name"]?.stringValue ?? data["display_name"]?.stringValue ?? data["user_name"]?.stringValue
                ?? data["username"]?.stringValue ?? data["user"]?["name"]?.stringValue
            guard let given else { return sendError("invalid", "join needs a name (or a participant_token to rejoin)", about: request) }
            do {
                name = try Sessions.validName(given, field: "name")
            } catch {
                return sendError(error, about: request)
            }
            if let text = data["role"]?.stringValue {
                guard let parsed = Role(rawValue: text) else { return sendError("invalid", "role must be 'interviewer' or 'candidate'", about: request) }
                role = parsed
            }
        }
        phase = .joining
        let room = collaboration.room(for: sessionID)
        self.room = room
        room.add(self)
        // Subscribe first, read second: nothing published in between is missed.
        room.whenReady { [weak self] ok in
            guard let self, self.phase == .joining else { return }
            guard ok else { return self.refuse(InterviewError(.unavailable, "the session store is unreachable; reconnect shortly"), request: request, code: 1013) }
            let sessions = self.collaboration.sessions
            let proceed: (Result<(Participant, String), InterviewError>) -> Void = { [weak self] result in
                guard let self, self.phase == .joining else { return }
                switch result {
                case .failure(let error) where error.kind == .forbidden || error.kind == .unauthorized:
                    // A join the client can correct (an interviewer without the host key, a token
                    // of another session): say why and keep the connection, so it can join again.
                    self.refuseJoin(error, request: request)
                case .failure(let error): self.refuse(error, request: request, code: 1008)
                case .success(let (participant, token)): self.goOnline(participant, token: token, since: since, request: request)
                }
            }
            if let token {
                sessions.participant(forToken: token, in: self.sessionID) { proceed($0.map { ($0, token) }) }
            } else {
                sessions.join(self.sessionID, name: name!, role: role, token: hostToken, connected: true, proceed)
            }
        }
    }

    private func goOnline(_ participant: Participant, token: String, since: Int?, request: String) {
        collaboration.sessions.connect(sessionID, connection: connectionID, participant: participant, since: since) { [weak self] result in
            guard let self, self.phase == .joining else { return }
            switch result {
            case .failure(let error):
                self.refuse(error, request: request, code: 1008)
            case .success(let state):
                self.participant = state.you
                self.tokenDigest = TokenDigest(hex: Identifiers.tokenHash(token))
                self.code.revision = state.session.revision
                self.notes.revision = state.notes?.revision ?? 0
                self.phase = .joined
                if self.flavor == .legacy { self.room?.seedDocument(text: state.session.code, revision: state.session.revision) }
                self.send(type: self.flavor == .legacy ? "session_state" : "welcome", self.welcome(state, token: token, since: since))
                let waiting = self.buffered
                self.buffered = []
                for (body, revision, exclude, channel) in waiting {
                    self.receive(frame: WebSocketFrame.text(body), body: body, revision: revision, exclude: exclude, channel: channel,
                                 legacyFrame: nil)
                }
            }
        }
    }

    /// The `welcome` (`session_state`) of a connection gone online as `state.you`.
    private func welcome(_ state: OnlineState, token: String, since: Int?) -> JSON {
        var data = state.session.json(joinURL: joinURL)
        data.set("session_id", .string(state.session.id))
        data.set("you", state.you.json)
        data.set("user_id", .string(state.you.id))
        data.set("participant_token", .string(token))
        data.set("max_message_bytes", .integer(collaboration.configuration.http.webSocketMaxMessageBytes))
        data.set("position_unit", "unicode_scalar")
        if let clientID { data.set("client_id", .string(clientID)) }
        if let missed = state.missed {
            data.set("missed_ops", .array(missed.map(\.data)))
        } else if since != nil {
            data.set("resync", true)
        }
        // What depends on the role, each read by Sessions.connect for `state.you.role`: the
        // question in the view for the role, and the notes, for interviewers only (a candidate's
        // welcome has no `notes` key at all).
        // A question hidden by the room controls is none to a candidate (session-controls says when it is revealed).
        let hidden = state.session.controls.questionHidden && state.you.role != .interviewer
        data.set("question", hidden ? .null : state.question?.json(forInterviewer: state.you.role == .interviewer) ?? .null)
        if let notes = state.notes {
            data.set("notes", ["text": .string(notes.text), "revision": .integer(notes.revision)])
        }
        return data
    }

    /// Back to waiting for a join, with the join deadline restarted.
    private func refuseJoin(_ error: InterviewError, request: String) {
        sendError(error, about: request)
        phase = .connected
        connectedAt = collaboration.loop.now
        buffered = []
        if let room {
            room.remove(self)
            if room.isEmpty { collaboration.closeRoom(room) }
        }
        room = nil
    }

    private func refuse(_ error: InterviewError, request: String, code: UInt16) {
        sendError(error, about: request)
        socket.close(code: code, reason: String(error.detail.prefix(120)))
    }

    // MARK: Editing

    /// An `op` or a `notes-op`: queued, committed in order with this client's other changes.
    private func submitOp(_ data: JSON, request: String, to document: Document) {
        guard let base = data["revision"]?.intValue, base >= 0 else {
            return sendError("invalid", "\(request) needs the integer revision it was made against", about: request)
        }
        guard let ops = data["ops"] ?? data["operation"] else { return sendError("invalid", "\(request) needs ops", about: request) }
        let op: TextOperation
        do {
            op = try TextOperation(json: ops)
        } catch {
            return sendError(error, about: request)
        }
        pendingOps.append((document, op, base))
        commitNext()
    }

    private func commitNext() {
        guard !committing, phase == .joined, !pendingOps.isEmpty, let participant else { return }
        let (document, op, base) = pendingOps.removeFirst()
        committing = true
        let author = self.author ?? CommitAuthor(participant)
        self.author = author
        collaboration.sessions.submit(sessionID, document, op: op, base: base, connection: connectionID,
                                      author: author) { [weak self] result in
            guard let self else { return }
            self.committing = false
            switch result {
            case .success(let revision):
                self.committed(revision, to: document)
            case .failure(let error):
                self.sendError(error, about: document.opType)
            }
            self.commitNext()
        }
    }

    private func replaceText(_ data: JSON, request: String, author: Participant) {
        guard let code = data["code"]?.stringValue else { return sendError("invalid", "\(request) needs code (a string)", about: request) }
        do {
            _ = try collaboration.sessions.validCode(code, field: "code")
        } catch {
            return sendError(error, about: request)
        }
        collaboration.sessions.update(sessionID, SessionChanges(code: code), token: nil, author: author.id, connection: connectionID) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let session):
                if let revision = session.committedRevision {
                    self.committed(revision, to: .code)
                } else {
                    // The text was already that: nothing to commit, nothing will be broadcast.
                    self.send(type: "ack", ["revision": .integer(self.code.revision)])
                }
            case .failure(let error):
                self.sendError(error, about: request)
            }
        }
    }

    /// The commit's reply. Its ack goes out when the broadcast of that revision reaches this
    /// client (now, if it already has).
    private func committed(_ revision: Int, to document: Document) {
        if document == .code { code.committed(revision) } else { notes.committed(revision) }
    }

    private func changeLanguage(_ data: JSON, request: String, author: Participant) {
        guard let language = data["language"]?.stringValue else { return sendError("invalid", "\(request) needs language", about: request) }
        do {
            _ = try Sessions.validLanguage(language, field: "language")
        } catch {
            return sendError(error, about: request)
        }
        collaboration.sessions.update(sessionID, SessionChanges(language: language), token: nil, author: author.id, connection: "") { [weak self] result in
            if case .failure(let error) = result { self?.sendError(error, about: request) }
        }
    }

    private func cursor(_ data: JSON, request: String, author: Participant) {
        // Earlier frontends send editor coordinates instead of a position: CodeMirror's
        // {line, ch} and {line, column} (0-based lines), Monaco's {lineNumber, column} (1-based).
        // They are relayed as sent; the position is added where this room knows the text.
        var coordinates: [(key: String, value: JSON)] = []
        var position: Int?
        if let raw = data["position"], !raw.isNull {
            guard let given = raw.intValue, given >= 0 else {
                return sendError("invalid", "cursor-position needs position, a non-negative integer", about: request)
            }
            position = given
        } else {
            let shapes: [(line: String, column: String, base: Int)] = [("lineNumber", "column", 1), ("line", "ch", 0), ("line", "column", 0)]
            guard let shape = shapes.first(where: { data[$0.line]?.intValue != nil && data[$0.column]?.intValue != nil }),
                  let line = data[shape.line]?.intValue, let column = data[shape.column]?.intValue,
                  line >= shape.base, column >= shape.base else {
                return sendError("invalid", "cursor-position needs position (a non-negative integer), or {line, ch}, {line, column} "
                                 + "or {lineNumber, column}", about: request)
            }
            coordinates = [(key: shape.line, value: .integer(line)), (key: shape.column, value: .integer(column))]
            position = room?.knownText.map { Self.position(in: $0, line: line - shape.base, utf16Column: column - shape.base) }
        }
        var out: JSON = ["user_id": .string(author.id), "name": .string(author.name), "color": .string(author.color)]
        if let position { out.set("position", .integer(position)) }
        for (key, value) in coordinates { out.set(key, value) }
        if let selection = data["selection"], !selection.isNull {
            guard let anchor = (selection["anchor"] ?? selection["start"])?.intValue,
                  let head = (selection["head"] ?? selection["end"])?.intValue, anchor >= 0, head >= 0 else {
                return sendError("invalid", "selection must be {\"anchor\": int, \"head\": int}", about: request)
            }
            out.set("selection", ["anchor": .integer(anchor), "head": .integer(head)])
        }
        if let revision = data["revision"]?.intValue { out.set("revision", .integer(revision)) }
        let frame: JSON = ["type": "cursor-position", "data": out, "timestamp": .integer(Int(EventLoop.unixMillis()))]
        pendingCursor = ChannelMessage(exclude: connectionID, revision: 0, frame: frame.bytes).payload
        collaboration.cursorMoved(self)
    }

    /// The Unicode scalar offset of a line (0-based) and a column in UTF-16 code units (what
    /// editors count), clamped to the line's end and the text's end.
    static func position(in text: String, line: Int, utf16Column: Int) -> Int {
        var offset = 0
        var currentLine = 0
        var scalars = text.unicodeScalars.makeIterator()
        while currentLine < line, let scalar = scalars.next() {
            offset += 1
            if scalar == "\n" { currentLine += 1 }
        }
        guard currentLine == line else { return offset }
        var units = 0
        while units < utf16Column, let scalar = scalars.next(), scalar != "\n" {
            units += scalar.utf16.count
            offset += 1
        }
        return offset
    }

    private func leave() {
        guard let participant else { return }
        phase = .gone
        room?.remove(self)
        collaboration.sessions.leave(sessionID, participant: participant.id, tokenHash: tokenHash) { _ in }
        socket.close(code: 1000, reason: "left the session")
        if let room, room.isEmpty { collaboration.closeRoom(room) }
        room = nil
    }
}
