import Interview
import Stores
import JSON

/// Integrity signals over the WebSocket (issue 22, part 1): a joined client reports
/// `{"type": "activity", "data": {"kind": "paste" | "away" | "back" | "insert", ...}}`. The
/// gateway validates it (ActivitySignal: a known kind, its own fields within bounds, a size cap),
/// bounds its rate per connection (its own bucket, Activity.rate, on whatever the other rate
/// limits are set to: it bounds what is stored), and stores it (Activity); the script stamps who
/// and when and publishes the `activity` frame on the private channel, to interviewers only. A
/// refusal is an `error` about `activity`; the connection stays, nothing is stored. The sender gets
/// no reply on success (an interviewer sees the frame as everyone else does).
extension Client {
    func reportActivity(_ data: JSON, request: String, author: Participant) {
        guard activityBucket.take(now: collaboration.loop.now) else {
            collaboration.counters.rateLimitedMessages += 1
            return sendError("rate_limited", "too many activity messages (\(Activity.rate.count) per \(Activity.rate.periodMillis) ms "
                             + "on one connection); this one was not kept", about: request)
        }
        let signal: ActivitySignal
        do {
            signal = try ActivitySignal(data)
        } catch {
            return sendError(error, about: request)
        }
        collaboration.activity.add(sessionID, participant: author.id, signal) { [weak self] result in
            if case .failure(let error) = result { self?.sendError(error, about: request) }
        }
    }
}
