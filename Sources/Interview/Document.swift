import JSON
import Redis

/// One entry of a session's op log (the list `ci:{id}:log`; element i is revision
/// checkpoint_revision + 1 + i): a committed revision, kept for the session's life within the
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

    /// Its `op` message, as broadcast when it was committed.
    public var frame: [UInt8] {
        let frame: JSON = ["type": "op", "data": data, "timestamp": .integer(Int(timestamp))]
        return frame.bytes
    }
}

/// A document's text at a revision.
public struct DocumentText: Sendable {
    public var text: String
    public var revision: Int
    /// Unicode scalars.
    public var length: Int
}

/// Reads documents (a snapshot plus the log entries after it, applied here, not in Redis) and
/// keeps their snapshots and checkpoints moving: commits say when one is due, and the gateway
/// that committed writes it, checked by revision in Redis.
public final class Documents {
    let redis: RedisConnection
    let settings: SessionSettings
    /// Sessions whose snapshot or fold this process is writing (one at a time per session).
    private var snapshotting: Set<String> = []
    private var folding: Set<String> = []

    public init(redis: RedisConnection, settings: SessionSettings) {
        self.redis = redis
        self.settings = settings
    }

    /// The current text, in one round trip. Sessions of the previous layout are read as they are.
    public func read(_ id: String, _ completion: @escaping (Result<DocumentText, InterviewError>) -> Void) {
        read(id, from: .snapshot, limit: nil, completion)
    }

    /// The text at `revision`, or, when that revision was folded into the checkpoint, the
    /// checkpoint's (a later revision: the caller says what is missing).
    public func read(_ id: String, at revision: Int, _ completion: @escaping (Result<DocumentText, InterviewError>) -> Void) {
        read(id, from: .revision(revision), limit: nil, completion)
    }

    /// The text of a base and the entries after it (at most `limit`), applied.
    func read(_ id: String, from base: Scripts.DocumentBase, limit: Int?,
              _ completion: @escaping (Result<DocumentText, InterviewError>) -> Void) {
        redis.run(Scripts.document, keys: SessionKeys(id).all, arguments: Scripts.documentArguments(base: base, limit: limit)) { result in
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
        if items.count == 3 { return .success(DocumentText(text: base, revision: baseRevision, length: base.unicodeScalars.count)) }
        // Compose the run of ops first, then apply once: the text is copied once, not per op.
        var composed = TextOperation()
        composed.retain(base.unicodeScalars.count)
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

    /// The log entries after `revision` (at most `limit`, none from before the checkpoint),
    /// oldest first.
    public func entries(_ id: String, after revision: Int, limit: Int,
                        _ completion: @escaping (Result<[LogEntry], InterviewError>) -> Void) {
        redis.run(Scripts.log, keys: SessionKeys(id).all, arguments: Scripts.logArguments(after: revision, limit: limit)) { result in
            switch result {
            case .failure(let error): completion(.failure(translate(error, session: id)))
            case .success(let value): completion(.success((value.array ?? []).dropFirst().compactMap(LogEntry.init)))
            }
        }
    }

    // MARK: Upkeep

    /// After a commit: writes what it said is due.
    func upkeep(_ id: String, snapshotDue: Bool, foldDue: Bool) {
        if snapshotDue { writeSnapshot(id) }
        if foldDue { fold(id) }
    }

    /// Reads the text and writes it as the snapshot (the script refuses an older one).
    func writeSnapshot(_ id: String, _ completion: (() -> Void)? = nil) {
        guard snapshotting.insert(id).inserted else { completion?(); return }
        read(id) { [self] result in
            guard case .success(let document) = result else {
                snapshotting.remove(id)
                completion?()
                return
            }
            let arguments = Scripts.snapshotArguments(revision: document.revision, text: document.text, length: document.length)
            redis.run(Scripts.snapshot, keys: SessionKeys(id).all, arguments: arguments) { [self] _ in
                snapshotting.remove(id)
                completion?()
            }
        }
    }

    /// Folds the oldest entries into the checkpoint, a quarter of the cap (at most a batch of
    /// entries) at a time, until the log is under three quarters of its cap.
    func fold(_ id: String) {
        guard folding.insert(id).inserted else { return }
        foldStep(id)
    }

    private func foldStep(_ id: String) {
        redis.run(Scripts.document, keys: SessionKeys(id).all,
                  arguments: Scripts.documentArguments(base: .checkpoint, limit: settings.foldBatch)) { [self] result in
            guard case .success(let value) = result, let items = value.array, items.count > 3, let checkpoint = items[1].integer else {
                folding.remove(id)
                return
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
            guard case .success(let document) = Self.decode(.array(Array(items.prefix(3 + count)))), document.revision > checkpoint else {
                folding.remove(id)
                return
            }
            let arguments = Scripts.foldArguments(settings: settings, checkpointRead: checkpoint, revision: document.revision,
                                                  text: document.text, length: document.length)
            redis.run(Scripts.fold, keys: SessionKeys(id).all, arguments: arguments) { [self] result in
                if let left = (try? result.get())?.integer, left > settings.opLogBytes / 4 * 3 {
                    foldStep(id)
                } else {
                    folding.remove(id)
                }
            }
        }
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
