/// One request of a pipeline: a plain command, or a script (EVALSHA, with `run`'s fallback).
public enum RedisRequest {
    case command([String])
    case script(RedisScript, keys: [String], arguments: [String])
}

/// Several requests sent back to back (hiredis writes them in one go) and answered together:
/// the replies in the requests' order, or the first failure. For reads that need no atomicity
/// across the requests, where one script would only copy.
extension RedisClient {
    public func pipeline(_ commands: [[String]], _ completion: @escaping (Result<[RedisValue], RedisError>) -> Void) {
        pipeline(commands.map(RedisRequest.command), completion)
    }

    public func pipeline(_ requests: [RedisRequest], _ completion: @escaping (Result<[RedisValue], RedisError>) -> Void) {
        guard !requests.isEmpty else { return completion(.success([])) }
        if self is RedisClusterClient, let error = RedisClusterClient.crossSlot(requests) { return completion(.failure(error)) }
        let round = PipelineRound(count: requests.count, completion)
        for (index, request) in requests.enumerated() {
            switch request {
            case .command(let command): send(command) { result in round.record(index, result) }
            case .script(let script, let keys, let arguments): run(script, keys: keys, arguments: arguments) { result in round.record(index, result) }
            }
        }
    }
}

extension RedisClusterClient {
    /// With Redis Cluster a pipeline goes to one node in one round trip, so its requests must share
    /// one slot (keyless ones go with the rest): the error when they do not, before anything is sent.
    static func crossSlot(_ requests: [RedisRequest]) -> RedisError? {
        var slot: Int?
        for request in requests {
            switch CommandKeys.slot(of: request) {
            case .failure(let error): return error
            case .success(nil): continue
            case .success(let this?):
                if let slot, slot != this { return CommandKeys.crossSlot("a pipeline spans slots \(slot) and \(this)") }
                slot = this
            }
        }
        return nil
    }
}

/// The replies of one pipeline as they arrive (one event loop: no locking).
private final class PipelineRound {
    private var replies: [RedisValue]
    private var remaining: Int
    private var failure: RedisError?
    private let completion: (Result<[RedisValue], RedisError>) -> Void

    init(count: Int, _ completion: @escaping (Result<[RedisValue], RedisError>) -> Void) {
        replies = Array(repeating: .null, count: count)
        remaining = count
        self.completion = completion
    }

    func record(_ index: Int, _ result: Result<RedisValue, RedisError>) {
        switch result {
        case .success(let value): replies[index] = value
        case .failure(let error): failure = failure ?? error
        }
        remaining -= 1
        guard remaining == 0 else { return }
        completion(failure.map { .failure($0) } ?? .success(replies))
    }
}
