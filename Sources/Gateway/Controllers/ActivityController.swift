import Interview
import Stores
import JSON
import Transport

/// The integrity signals of a session over REST (issue 22, part 1), for its interviewers: what an
/// interviewer's page loads on join or rejoin before the live `activity` frames (Client+Activity).
///
///     GET /sessions/{id}/activity?after=N    {session_id, signals, count, cap}: the signals after
///                                            the N-th (all for 0), oldest first; the host token,
///                                            an interviewer's participant token or the admin
///                                            token (401 none, 403 a candidate's)
final class ActivityController: Controller {
    private let activity: Activity
    private let admin: AdminToken

    init(activity: Activity, admin: AdminToken) {
        self.activity = activity
        self.admin = admin
    }

    var routes: [Route] {
        [Route("sessions/{id}/activity", .get(auth: .token, rate: .requests, list))]
    }

    func list(_ context: RequestContext, _ id: SessionID) {
        guard let after = context.integerQuery("after", default: 0, range: 0...Activity.cap) else { return }
        let isAdmin = context.bearerToken.map(admin.matches) ?? false
        activity.list(id.rawValue, token: context.bearerToken, admin: isAdmin, after: after) { result in
            context.reply(result) { signals in
                context.reply(["session_id": .string(id.rawValue), "signals": .array(signals), "count": .integer(after + signals.count),
                               "cap": .integer(Activity.cap)])
            }
        }
    }
}
