import Interview
import JSON
import Redis

/// How every script is put together from the .lua files in Lua/ (embedded in the binary): the one
/// helper library (Lua/lib.lua: time, the channel message form, load-or-gone, the session's key
/// layout), then the layer of the thing it keeps (Lua/prelude.lua for a session, Lua/jobs.lua for
/// an execution job), then its own body.
enum RedisScripts {
    static func lua(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
    static let library = lua(PackageResources.lib_lua)
    static let sessionLayer = lua(PackageResources.prelude_lua)
    static let jobLayer = lua(PackageResources.jobs_lua)

    /// The library and the body.
    static func script(_ name: String, _ body: [UInt8]) -> RedisScript {
        RedisScript(name: name, prefix: library, body: lua(body), layer: "")
    }

    /// A session script: the library, the session layer, the body.
    static func session(_ name: String, _ body: [UInt8]) -> RedisScript {
        RedisScript(name: name, prefix: library + sessionLayer, body: lua(body), layer: "session")
    }

    /// A job script: the library, the job layer, the body (ARGV begins with ExecutionKeys.schema).
    static func job(_ name: String, _ body: [UInt8]) -> RedisScript {
        RedisScript(name: name, prefix: library + jobLayer, body: lua(body), layer: "jobs")
    }
}

/// Every script as one Redis Functions library (Lua/function_head.lua, then lib.lua and both
/// layers once, then each script's body as a function, Lua/function.lua): the helpers are defined
/// when the library is loaded, not on every call. Its version is a hash of all of it, in its name
/// (`ci_<12 hex>`) and in each function's (`ci_<12 hex>_<script>`), so the libraries of two
/// versions of the program coexist during a rolling upgrade.
public enum RedisFunctions {
    static let family = "ci_"

    /// Every script the program runs (the gateway's and the runner's alike: one library for both).
    static var scripts: [RedisScript] {
        Scripts.all + ExecutionScripts.gateway + ExecutionScripts.runner + [Executions.slotsScript, RateLimiter.script]
            + ArchiveQueue.all + [SessionArchive.release, Activity.add, Scorecards.put] + TerminalScripts.all + WebhookOutbox.all
    }

    public static let library: RedisFunctionLibrary = {
        let head = RedisScripts.lua(PackageResources.function_head_lua)
        // The wrapper without its header comment (it would be repeated once per function).
        let wrapper = RedisScripts.lua(PackageResources.function_lua).split(separator: "\n", omittingEmptySubsequences: false)
            .drop { $0.hasPrefix("--") }.joined(separator: "\n")
        var seen = Set<String>()
        let all = scripts.filter { seen.insert($0.name).inserted }
        let parts = [head, wrapper, RedisScripts.library, RedisScripts.sessionLayer, RedisScripts.jobLayer]
            + all.map { $0.name + "\n" + $0.layer + "\n" + $0.body }
        let name = family + RedisScript.sha1Hex(parts.joined(separator: "\n")).prefix(12)
        var source = head.replacing("%LIBRARY%", with: name) + RedisScripts.library + RedisScripts.sessionLayer + RedisScripts.jobLayer
        var functions: [String: String] = [:]
        for script in all {
            let function = name + "_" + script.name
            functions[script.name] = function
            source += wrapper.replacing("%FUNCTION%", with: function).replacing("%LAYER%", with: script.layer)
                .replacing("%BODY%", with: script.body)
        }
        return RedisFunctionLibrary(name: name, family: family, source: source, functions: functions)
    }()
}

/// Every change that touches more than one key is one of these scripts, so gateways racing each
/// other can never break an invariant (capacity, revision order, token ownership). Every session
/// script is the library and the session layer (RedisScripts.session) plus its own body, and takes
/// SessionKeys.all as KEYS. Each script's arguments are built by one typed function here, in the
/// order its header comment lists them.
enum Scripts {
    private static func session(_ name: String, _ body: [UInt8]) -> RedisScript { RedisScripts.session(name, body) }
    private static func standalone(_ name: String, _ body: [UInt8]) -> RedisScript { RedisScripts.script(name, body) }

    static let create = session("create", PackageResources.create_lua)
    static let join = session("join", PackageResources.join_lua)
    static let leave = session("leave", PackageResources.leave_lua)
    static let saveCode = session("save_code", PackageResources.save_code_lua)
    static let update = session("update", PackageResources.update_lua)
    static let delete = session("delete", PackageResources.delete_lua)
    static let history = session("history", PackageResources.history_lua)
    static let participantForToken = session("participant_for_token", PackageResources.participant_for_token_lua)
    static let commit = session("commit", PackageResources.commit_lua)
    static let connect = session("connect", PackageResources.connect_lua)
    static let disconnect = session("disconnect", PackageResources.disconnect_lua)
    static let dropGateway = session("drop_gateway", PackageResources.drop_gateway_lua)
    /// The document read stands alone (no prelude): it runs on every welcome and GET.
    static let document = standalone("document", PackageResources.document_lua)
    /// The session GET's read (session hash, participants, presence, code) stands alone too.
    static let sessionRead = standalone("session_read", PackageResources.session_read_lua)
    static let snapshot = session("snapshot", PackageResources.snapshot_lua)
    static let fold = session("fold", PackageResources.fold_lua)
    static let log = session("log", PackageResources.log_lua)
    static let notesPut = session("notes_put", PackageResources.notes_put_lua)
    static let availableLanguages = standalone("available_languages", PackageResources.available_languages_lua)
    static let gatewayHeartbeat = standalone("gateway_heartbeat", PackageResources.gateway_heartbeat_lua)
    static let forgetGateway = standalone("forget_gateway", PackageResources.forget_gateway_lua)

    static let question = session("question", PackageResources.question_lua)
    /// The question library's scripts stand alone: its keys are no session's.
    static let librarySave = standalone("library_save", PackageResources.library_save_lua)
    static let libraryDelete = standalone("library_delete", PackageResources.library_delete_lua)
    static let libraryList = standalone("library_list", PackageResources.library_list_lua)

    static let all: [RedisScript] = [create, join, leave, saveCode, update, delete, history, participantForToken, commit,
                                     connect, disconnect, dropGateway, document, sessionRead, snapshot, fold, log, notesPut, availableLanguages,
                                     gatewayHeartbeat, forgetGateway,
                                     question, librarySave, libraryDelete, libraryList, RoomControlsStore.control]

    // MARK: Arguments, one builder per script

    /// The bounds every commit is checked against (bounds_at in the prelude).
    private static func bounds(_ settings: SessionSettings) -> [String] {
        [String(settings.snapshotEveryOps), String(settings.snapshotEveryBytes), String(settings.opLogBytes)]
    }

    static func createArguments(settings: SessionSettings, name: String, code: String, language: String, maxParticipants: Int,
                                hostTokenHash: String, creator: (id: String, name: String, color: String, tokenHash: String)?) -> [String] {
        var arguments = [String(settings.ttlMillis), name, code, String(code.unicodeScalars.count), language, String(maxParticipants),
                         hostTokenHash, String(settings.historyLimit), String(settings.goneRetentionMillis),
                         settings.archiveHoldMillis.map(String.init) ?? ""]
        if let creator { arguments += [creator.id, creator.name, creator.color, creator.tokenHash] }
        return arguments
    }

    static func joinArguments(settings: SessionSettings, id: String, name: String, role: Role, tokenHash: String,
                              presentedTokenHash: String, palette: String, connected: Bool) -> [String] {
        [id, name, role.rawValue, tokenHash, presentedTokenHash, String(settings.historyLimit), palette,
         connected ? String(settings.maxConnectionsPerSession) : ""]
    }

    static func leaveArguments(settings: SessionSettings, participant: String, presentedTokenHash: String) -> [String] {
        [participant, presentedTokenHash, String(settings.historyLimit)]
    }

    static func saveCodeArguments(settings: SessionSettings, code: String, language: String?, presentedTokenHash: String) -> [String] {
        [code, String(code.unicodeScalars.count), language ?? "", presentedTokenHash, String(settings.historyLimit)] + bounds(settings)
    }

    static func updateArguments(settings: SessionSettings, changes: SessionChanges, presentedTokenHash: String,
                                author: String?, connection: String) -> [String] {
        func pair(_ value: String?) -> [String] { value.map { ["1", $0] } ?? ["0", ""] }
        return [presentedTokenHash, String(settings.historyLimit)] + pair(changes.code) + pair(changes.language)
            + pair(changes.status?.rawValue) + pair(changes.name)
            + [String(changes.code?.unicodeScalars.count ?? 0), author ?? "", connection] + bounds(settings)
    }

    static func deleteArguments(settings: SessionSettings, presentedTokenHash: String) -> [String] {
        [presentedTokenHash, String(settings.goneRetentionMillis), String(settings.historyLimit)]
    }

    /// `op` is sent without its trailing retain (the script writes out the document's real tail).
    static func commitArguments(settings: SessionSettings, _ document: Document, base: Int, op: TextOperation, connection: String,
                                author: CommitAuthor) -> [String] {
        let trimmed = op.withoutTrailingRetain
        return [String(base), trimmed.json.text, String(op.baseLength), String(trimmed.baseLength), String(trimmed.targetLength),
                String(trimmed.insertedBytes - trimmed.deletedCount), connection, author.id, author.json,
                String(settings.maxBytes(document)), String(settings.opLogLimit)] + bounds(settings) + [document.rawValue]
    }

    static func notesPutArguments(settings: SessionSettings, text: String, revision: Int?, presentedTokenHash: String) -> [String] {
        [presentedTokenHash, text, String(text.unicodeScalars.count), revision.map(String.init) ?? ""] + bounds(settings)
    }

    static func connectArguments(settings: SessionSettings, connection: String, participant: String, since: Int?) -> [String] {
        [connection, participant, since.map(String.init) ?? "", String(settings.maxConnectionsPerSession), String(settings.opLogLimit)]
    }

    /// Where a document read starts: the latest snapshot, the checkpoint, or the newest of the two
    /// at or before a revision (and then it stops at that revision).
    enum DocumentBase {
        case snapshot, checkpoint, revision(Int)
    }

    static func documentArguments(_ document: Document, base: DocumentBase, limit: Int?) -> [String] {
        let most = limit.map(String.init) ?? ""
        switch base {
        case .snapshot: return [document.rawValue, "snapshot", most]
        case .checkpoint: return [document.rawValue, "checkpoint", most]
        case .revision(let revision): return [document.rawValue, "revision", most, String(revision)]
        }
    }

    static func logArguments(_ document: Document, after revision: Int, limit: Int) -> [String] {
        [document.rawValue, String(revision), String(limit)]
    }

    static func snapshotArguments(_ document: Document, revision: Int, text: String, length: Int) -> [String] {
        [document.rawValue, String(revision), text, String(length), String(text.utf8.count)]
    }

    static func foldArguments(settings: SessionSettings, _ document: Document, checkpointRead: Int, revision: Int, text: String,
                              length: Int) -> [String] {
        [document.rawValue, String(checkpointRead), String(revision), text, String(length), String(text.utf8.count),
         String(settings.historyLimit)]
    }

    /// `starterCode`: the question's starter code when it is to be loaded into the document
    /// (the script takes the session's language's), else nil.
    static func setQuestionArguments(settings: SessionSettings, question: SessionQuestion, starterCode: [(language: String, code: String)]?,
                                     presentedTokenHash: String) -> [String] {
        var arguments = ["set", presentedTokenHash, String(settings.historyLimit)] + bounds(settings) + [String(settings.maxCodeBytes)]
        arguments += [question.json(forInterviewer: true).text, question.json(forInterviewer: false).text, question.question.title,
                      question.sourceQuestionID ?? ""]
        for (language, code) in starterCode ?? [] { arguments += [language, code, String(code.unicodeScalars.count)] }
        return arguments
    }

    static func clearQuestionArguments(settings: SessionSettings, presentedTokenHash: String) -> [String] {
        ["clear", presentedTokenHash, String(settings.historyLimit)] + bounds(settings) + [String(settings.maxCodeBytes)]
    }

    static func librarySaveArguments(id: String, creating: Bool, question: Question, maxQuestions: Int) -> [String] {
        [id, creating ? "create" : "replace", question.json.text, question.summary.text, String(maxQuestions)]
    }

    /// `after`: the previous page's last question (its updated_at and id), nil for the first page.
    static func libraryListArguments(limit: Int, after: (updatedAt: Int64, id: String)?) -> [String] {
        [String(limit), after.map { String($0.updatedAt) } ?? "", after?.id ?? ""]
    }

    static func heartbeatArguments(instance: String, leaseMillis: Int, info: String) -> [String] {
        [instance, String(leaseMillis), info]
    }
}

/// Who commits an operation, as the gateway knows them (stamped on the broadcast and the log). A
/// class: a connection makes its author once, at its first op, and keeps it (a reference costs a
/// connection that never types 8 bytes).
public final class CommitAuthor: Sendable {
    public let id: String
    public let name: String
    public let color: String
    /// The author's fields as the log entry and the op frame carry them,
    /// `,"user_id":...,"name":...,"color":...` ("" without an id): made once here, so the commit
    /// script encodes no JSON on its hot path (author_json in prelude.lua makes the same for the
    /// other writers).
    let json: String

    public init(id: String, name: String, color: String) {
        self.id = id
        self.name = name
        self.color = color
        guard !id.isEmpty else {
            json = ""
            return
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(40 + id.utf8.count + name.utf8.count + color.utf8.count)
        for (key, value) in [(#","user_id":"#, id), (#","name":"#, name), (#","color":"#, color)] {
            bytes.append(contentsOf: key.utf8)
            JSON.string(value).serialize(into: &bytes)
        }
        json = String(decoding: bytes, as: UTF8.self)
    }

    public convenience init(_ participant: Participant) {
        self.init(id: participant.id, name: participant.name, color: participant.color)
    }
}
