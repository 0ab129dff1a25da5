/// Several plain commands sent back to back (hiredis writes them in one go) and answered
/// together: the replies in the commands' order, or the first failure. For reads that need no
/// atomicity, where a script would only copy.
extension RedisConnection {
    public func pipeline(_ commands: [[String]], _ completion: @escaping (Result<[RedisValue], RedisError>) -> Void) {
        guard !commands.isEmpty else { return completion(.success([])) }
        let round = PipelineRound(count: commands.count, completion)
        for (index, command) in commands.enumerated() {
            send(command) { result in round.record(index, result) }
        }
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
