import Interview
import Stores
import JSON
import Transport

/// The two channels of a session: `events` for every member, `private` for its interviewers only
/// (ChannelMessage). Each numbers the revisions of one document: the code, the notes.
enum SessionChannel {
    case events, `private`

    var document: Document { self == .events ? .code : .notes }
}

/// This gateway's members of one session. The room listens on the session's two channels while it
/// has members; each published message is framed once and the same bytes go to every member that
/// may see it (Client.receive decides, by its role).
final class Room {
    let sessionID: String
    unowned let collaboration: Collaboration
    private(set) var members: [ObjectIdentifier: Client] = [:]
    private var listeners: [(channel: String, id: Int)] = []
    /// Subscriptions not confirmed yet; the room is ready when both are.
    private var unconfirmed = 2
    private var ready: Bool?
    private var waiting: [(Bool) -> Void] = []
    /// Highest code revision seen on the events channel, and notes revision on the private one.
    var revision = 0
    var notesRevision = 0
    /// The document text, kept only while a legacy (whole-text) client is here.
    private var document: (text: String, revision: Int)?
    /// Messages that came past a gap, per channel, and the channels whose gap is being read.
    private var held: [SessionChannel: [ChannelMessage]] = [:]
    private var filling: Set<SessionChannel> = []
    private var refreshing = false

    init(sessionID: String, collaboration: Collaboration) {
        self.sessionID = sessionID
        self.collaboration = collaboration
    }

    var isEmpty: Bool { members.isEmpty }

    /// Subscribes to both channels; `whenReady` callbacks run once both subscriptions are
    /// confirmed (with false as soon as one cannot be).
    func open() {
        let keys = SessionKeys(sessionID)
        for (key, channel) in [(keys.channel, SessionChannel.events), (keys.privateChannel, .private)] {
            let id = collaboration.subscriber.listen(key, ready: { [weak self] ok in self?.subscribed(ok) }) { [weak self] payload in
                self?.deliver(payload, on: channel)
            }
            listeners.append((key, id))
        }
        collaboration.sessions.trackRoom(instance: collaboration.instanceID, session: sessionID, open: true)
    }

    private func subscribed(_ ok: Bool) {
        guard ready == nil else { return }
        unconfirmed -= 1
        guard !ok || unconfirmed == 0 else { return }
        ready = ok
        let callbacks = waiting
        waiting = []
        callbacks.forEach { $0(ok) }
    }

    func close() {
        for (channel, id) in listeners { collaboration.subscriber.unlisten(channel, id) }
        listeners = []
        collaboration.sessions.trackRoom(instance: collaboration.instanceID, session: sessionID, open: false)
        let callbacks = waiting
        waiting = []
        callbacks.forEach { $0(false) }
    }

    func whenReady(_ callback: @escaping (Bool) -> Void) {
        if let ready { callback(ready) } else { waiting.append(callback) }
    }

    func add(_ client: Client) { members[ObjectIdentifier(client)] = client }

    func remove(_ client: Client) { members[ObjectIdentifier(client)] = nil }

    var hasLegacyMembers: Bool { members.values.contains { $0.flavor == .legacy } }

    /// The text as this room knows it (only while a legacy member keeps a copy current), to turn
    /// line/column cursors into positions.
    var knownText: String? { document?.text }

    /// A legacy member joined with this state: start (or keep) the document copy.
    func seedDocument(text: String, revision: Int) {
        if document == nil || document!.revision < revision { document = (text, revision) }
    }

    // MARK: Fan-out

    /// A channel message (ChannelMessage): framed once here, the same bytes to every member.
    func deliver(_ payload: [UInt8], on channel: SessionChannel) {
        guard let message = ChannelMessage(payload: payload) else { return }
        deliver(message, on: channel)
    }

    func deliver(_ message: ChannelMessage, on channel: SessionChannel) {
        // An op past a gap (the revision before it not seen here: published while the
        // subscription was moving to a slot's new owner, say) waits until the missing entries are
        // read from the log, so every member gets the revisions in order: a member takes only
        // revisions above its last, and would skip the missing one for good.
        let known = channel == .events ? revision : notesRevision
        if message.revision > 0, known > 0, message.revision > known + 1 || filling.contains(channel) {
            held[channel, default: []].append(message)
            return fill(channel, after: known)
        }
        broadcast(message, on: channel)
    }

    /// Reads the log entries of `channel`'s document after `known`, delivers them, then what was
    /// held meanwhile, in revision order (what the read did not cover goes out as it is: a read
    /// that failed must not hold the room's messages for good).
    private func fill(_ channel: SessionChannel, after known: Int) {
        guard filling.insert(channel).inserted else { return }
        let document = channel.document
        collaboration.sessions.frames(sessionID, document, after: known) { [weak self] _, entries in
            guard let self else { return }
            self.filling.remove(channel)
            let waiting = (self.held.removeValue(forKey: channel) ?? []).sorted { $0.revision < $1.revision }
            // A revision both read and held goes out as it was published (its exclude makes it
            // its author's ack).
            let published = Dictionary(waiting.map { ($0.revision, $0) }, uniquingKeysWith: { first, _ in first })
            for entry in entries {
                self.broadcast(published[entry.revision]
                               ?? ChannelMessage(exclude: "", revision: entry.revision, frame: entry.frame(document)), on: channel)
            }
            for message in waiting where message.revision > (channel == .events ? self.revision : self.notesRevision) {
                self.broadcast(message, on: channel)
            }
        }
    }

    private func broadcast(_ message: ChannelMessage, on channel: SessionChannel) {
        let exclude = message.exclude, messageRevision = message.revision, body = message.frame
        let frame = WebSocketFrame.text(body)
        collaboration.counters.broadcasts += 1
        collaboration.counters.deliveries += members.count
        guard channel == .events else {
            notesRevision = max(notesRevision, messageRevision)
            for client in members.values {
                client.receive(frame: frame, body: body, revision: messageRevision, exclude: exclude, channel: channel, legacyFrame: nil)
            }
            return
        }
        revision = max(revision, messageRevision)
        var legacyFrame: [UInt8]?
        if messageRevision > 0 && hasLegacyMembers { legacyFrame = legacyUpdate(body, revision: messageRevision) }
        let kind = FrameKind(body)
        for client in members.values {
            client.receive(frame: frame, body: body, revision: messageRevision, exclude: exclude, channel: channel, legacyFrame: legacyFrame)
        }
        switch kind {
        case .userLeft:
            // A participant removed from the session loses its connections here too.
            if let json = try? JSON.parse(body), json["data"]?["removed"]?.boolValue == true,
               let user = json["data"]?["user_id"]?.stringValue {
                for client in members.values where client.participant?.id == user {
                    client.socket.close(code: 1008, reason: "removed from the session")
                }
            }
        case .sessionEnded:
            for client in members.values { client.socket.close(code: 1000, reason: "the session has ended") }
        case .other:
            break
        }
    }

    /// The frame types the room acts on, read from a frame's first bytes (every frame starts
    /// {"type":"...") without making a String of every op's type.
    private enum FrameKind {
        case userLeft, sessionEnded, other

        private static let userLeftPrefix = Array(#"{"type":"user-left""#.utf8)
        private static let sessionEndedPrefix = Array(#"{"type":"session-ended""#.utf8)

        init(_ body: [UInt8]) {
            if body.starts(with: Self.userLeftPrefix) {
                self = .userLeft
            } else if body.starts(with: Self.sessionEndedPrefix) {
                self = .sessionEnded
            } else {
                self = .other
            }
        }
    }

    /// Applies an op frame to the document copy and frames the whole text for legacy clients.
    private func legacyUpdate(_ body: [UInt8], revision: Int) -> [UInt8]? {
        guard let current = document, revision == current.revision + 1,
              let json = try? JSON.parse(body), let ops = json["data"]?["ops"],
              let op = try? TextOperation(json: ops, maxComponents: .max),
              let text = try? op.padded(to: current.text.unicodeScalars.count).apply(current.text) else {
            refreshDocument()
            return nil
        }
        document = (text, revision)
        return Client.legacyCodeUpdate(text: text, revision: revision, author: json["data"])
    }

    /// The copy fell behind (a gap or a reconnect): read the document and send it whole.
    private func refreshDocument() {
        guard !refreshing else { return }
        refreshing = true
        collaboration.sessions.session(sessionID) { [weak self] result in
            guard let self else { return }
            self.refreshing = false
            guard case .success(let session) = result else { return }
            self.document = (session.code, session.revision)
            let frame = Client.legacyCodeUpdate(text: session.code, revision: session.revision, author: nil)
            for client in self.members.values where client.flavor == .legacy { client.sendLegacyDocument(frame, revision: session.revision) }
        }
    }

    /// After the subscriptions were lost and restored: deliver the ops of both documents committed
    /// meanwhile (the notes' go to the interviewers only, as on their channel).
    func catchUp() {
        for (channel, after) in [(SessionChannel.events, revision), (.private, notesRevision)] {
            let document = channel.document
            collaboration.sessions.frames(sessionID, document, after: after) { [weak self] _, entries in
                for entry in entries {
                    self?.deliver(ChannelMessage(exclude: "", revision: entry.revision, frame: entry.frame(document)), on: channel)
                }
            }
        }
    }
}
