import Interview
import JSON
import Redis

/// A session's two documents, stored alike (an op log, a snapshot, a checkpoint: see SessionKeys
/// and prelude.lua's CODE and NOTES) and edited with the same operations: the code every member
/// edits, and the interviewers' private notes. The raw value is the scripts' name for it.
public enum Document: String, Sendable {
    case code, notes

    /// The `type` of its op broadcasts, and of the author's acknowledgement.
    public var opType: String { self == .code ? "op" : "notes-op" }
    public var ackType: String { self == .code ? "ack" : "notes-ack" }

    /// Its state hash: the revision, length and byte bound (the code's is the session hash).
    func state(_ keys: SessionKeys) -> String { self == .code ? keys.session : keys.notes }
    func checkpoint(_ keys: SessionKeys) -> String { self == .code ? keys.checkpoint : keys.notesCheckpoint }
}

/// One entry of a document's op log (the list `ci:{id}:log`, or `ci:{id}:notes-log`; element i is
/// revision checkpoint_revision + 1 + i): a committed revision, kept for the session's life within the
/// log's byte cap. Stored as JSON: `{"revision", "ops" (the operation exactly as committed, over
/// the whole document), "user_id", "name", "color" (when a participant made it; a host's REST save
/// has none), "ts" (Redis TIME, ms), "bytes" (the document's byte bound after it)}`.
public struct LogEntry: Sendable {
    public var revision: Int
    public var ops: JSON
    public var userID: String?
    public var name: String?
    public var color: String?
    public var timestamp: Int64
    /// What it counts against the log cap: its stored length (as `append_op` in prelude.lua).
    public var cost: Int

    /// Decodes a stored entry.
    init?(_ value: RedisValue) {
        guard let bytes = value.bytes, let json = try? JSON.parse(bytes), let revision = json["revision"]?.intValue,
              let ops = json["ops"], let timestamp = json["ts"]?.doubleValue else { return nil }
        self.revision = revision
        self.ops = ops
        userID = json["user_id"]?.stringValue
        name = json["name"]?.stringValue
        color = json["color"]?.stringValue
        self.timestamp = Int64(timestamp)
        cost = bytes.count
    }

    public func operation() throws(InterviewError) -> TextOperation {
        try TextOperation(json: ops, maxComponents: .max)
    }

    /// The `data` of its `op` message (as broadcast when it was committed).
    public var data: JSON {
        var data: JSON = ["revision": .integer(revision), "ops": ops]
        if let userID {
            data.set("user_id", .string(userID))
            data.set("name", .string(name ?? ""))
            data.set("color", .string(color ?? ""))
        }
        return data
    }

    /// Its op message (`op`, `notes-op`), as broadcast when it was committed.
    public func frame(_ document: Document) -> [UInt8] {
        let frame: JSON = ["type": .string(document.opType), "data": data, "timestamp": .integer(Int(timestamp))]
        return frame.bytes
    }
}

/// Reads documents (a snapshot plus the log entries after it, applied here, not in Redis) and
/// keeps their snapshots and checkpoints moving: commits say when one is due, and the gateway
/// that committed writes it, checked by revision in Redis. Every method works on either of a
/// session's documents (the code unless told).
public final class Documents {
    let redis: RedisConnection
    let settings: SessionSettings
    /// Documents ("code <id>", "notes <id>") whose snapshot or fold this process is writing (one at
    /// a time per document).
    private var snapshotting: Set<String> = []
    private var folding: Set<String> = []

    public init(redis: RedisConnection, settings: SessionSettings) {
        self.redis = redis
        self.settings = settings
    }

    /// The current text, in one round trip. Sessions of the previous layout are read as they are;
    /// notes never written are empty at revision 0.
    public func read(_ id: String, _ document: Document = .code, _ completion: @escaping (Result<DocumentText, InterviewError>) -> Void) {
        read(id, document, from: .snapshot, limit: nil, completion)
    }

    /// The text at `revision`, or, when that revision was folded into the checkpoint, the
    /// checkpoint's (a later revision: the caller says what is missing).
    public func read(_ id: String, _ document: Document = .code, at revision: Int,
                     _ completion: @escaping (Result<DocumentText, InterviewError>) -> Void) {
        read(id, document, from: .revision(revision), limit: nil, completion)
    }

    /// The text of a base and the entries after it (at most `limit`), applied.
    func read(_ id: String, _ document: Document, from base: Scripts.DocumentBase, limit: Int?,
              _ completion: @escaping (Result<DocumentText, InterviewError>) -> Void) {
        redis.run(Scripts.document, keys: SessionKeys(id).all,
                  arguments: Scripts.documentArguments(document, base: base, limit: limit)) { result in
            switch result {
            case .failure(let error): completion(.failure(translate(error, session: id)))
            case .success(let value): completion(Self.decode(value))
            }
        }
    }

    /// Decodes document.lua's reply: {layout, base revision, base text, log entries...}.
    static func decode(_ value: RedisValue) -> Result<DocumentText, InterviewError> {
        guard let items = value.array, items.count >= 3, let baseRevision = items[1].integer, let bytes = items[2].bytes else {
            return .failure(InterviewError(.internalError, "the document script returned an unexpected reply"))
        }
        let base = String(decoding: bytes, as: UTF8.self)
        let baseLength = scalarCount(base)
        if items.count == 3 { return .success(DocumentText(text: base, revision: baseRevision, length: baseLength)) }
        // Compose the run of ops first, then apply once: the text is copied once, not per op.
        var composed = TextOperation()
        composed.retain(baseLength)
        var revision = baseRevision
        let text: String
        do {
            for item in items.dropFirst(3) {
                guard let entry = LogEntry(item), entry.revision == revision + 1 else {
                    throw InterviewError(.internalError, "the op log has a gap after revision \(revision)")
                }
                composed = try TextOperation.compose(composed, entry.operation())
                revision = entry.revision
            }
            text = try composed.apply(base)
        } catch let error as InterviewError {
            return .failure(error)
        } catch {
            return .failure(InterviewError(.internalError, "\(error)"))
        }
        return .success(DocumentText(text: text, revision: revision, length: composed.targetLength))
    }

    /// `text.unicodeScalars.count`, counted on its UTF-8 bytes (every byte that does not continue a
    /// scalar starts one): the scalar view's walk cost more than the rest of a session GET's read.
    static func scalarCount(_ text: String) -> Int {
        text.utf8.withContiguousStorageIfAvailable { bytes in
            var count = 0
            for byte in bytes where byte & 0xC0 != 0x80 { count += 1 }
            return count
        } ?? text.unicodeScalars.count
    }

    /// The log entries of `document` after `revision` (at most `limit`, none from before the
    /// checkpoint), oldest first.
    public func entries(_ id: String, _ document: Document = .code, after revision: Int, limit: Int,
                        _ completion: @escaping (Result<[LogEntry], InterviewError>) -> Void) {
        redis.run(Scripts.log, keys: SessionKeys(id).all, arguments: Scripts.logArguments(document, after: revision, limit: limit)) { result in
            switch result {
            case .failure(let error): completion(.failure(translate(error, session: id)))
            case .success(let value): completion(.success((value.array ?? []).dropFirst().compactMap(LogEntry.init)))
            }
        }
    }

    // MARK: Upkeep

    /// After a commit: writes what it said is due.
    func upkeep(_ id: String, _ document: Document, snapshotDue: Bool, foldDue: Bool) {
        if snapshotDue { writeSnapshot(id, document) }
        if foldDue { fold(id, document) }
    }

    /// Reads the text and writes it as the snapshot (the script refuses an older one).
    func writeSnapshot(_ id: String, _ document: Document, _ completion: (() -> Void)? = nil) {
        let busy = "\(document.rawValue) \(id)"
        guard snapshotting.insert(busy).inserted else { completion?(); return }
        read(id, document) { [self] result in
            guard case .success(let text) = result else {
                snapshotting.remove(busy)
                completion?()
                return
            }
            let arguments = Scripts.snapshotArguments(document, revision: text.revision, text: text.text, length: text.length)
            redis.run(Scripts.snapshot, keys: SessionKeys(id).all, arguments: arguments) { [self] _ in
                snapshotting.remove(busy)
                completion?()
            }
        }
    }

    /// Folds the oldest entries into the checkpoint, a quarter of the cap (at most a batch of
    /// entries) at a time, until the log is under three quarters of its cap.
    func fold(_ id: String, _ document: Document) {
        guard folding.insert("\(document.rawValue) \(id)").inserted else { return }
        foldStep(id, document)
    }

    private func foldStep(_ id: String, _ document: Document) {
        let done = { [self] in _ = folding.remove("\(document.rawValue) \(id)") }
        redis.run(Scripts.document, keys: SessionKeys(id).all,
                  arguments: Scripts.documentArguments(document, base: .checkpoint, limit: settings.foldBatch)) { [self] result in
            guard case .success(let value) = result, let items = value.array, items.count > 3, let checkpoint = items[1].integer else {
                return done()
            }
            // The oldest entries that make up a quarter of the cap.
            var cost = 0
            var count = 0
            for item in items.dropFirst(3) {
                guard let entry = LogEntry(item) else { break }
                cost += entry.cost
                count += 1
                if cost >= settings.opLogBytes / 4 { break }
            }
            guard case .success(let text) = Self.decode(.array(Array(items.prefix(3 + count)))), text.revision > checkpoint else {
                return done()
            }
            let arguments = Scripts.foldArguments(settings: settings, document, checkpointRead: checkpoint, revision: text.revision,
                                                  text: text.text, length: text.length)
            redis.run(Scripts.fold, keys: SessionKeys(id).all, arguments: arguments) { [self] result in
                if let left = (try? result.get())?.integer, left > settings.opLogBytes / 4 * 3 {
                    foldStep(id, document)
                } else {
                    done()
                }
            }
        }
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
