import Interview
import Stores
import JSON
import Transport

/// The languages code runs in.
///
///     GET /languages                         every language, and whether a live runner offers it
///     GET /languages/{language}/template     its starter code
final class LanguageController: Controller {
    private let sessions: Sessions

    init(sessions: Sessions) {
        self.sessions = sessions
    }

    var routes: [Route] {
        [
            Route("languages", .get(auth: .none, rate: .requests, languages)),
            Route("languages/{language}/template", .get(auth: .none, rate: .requests, template)),
        ]
    }

    func languages(_ context: RequestContext) {
        sessions.availableLanguages { result in
            context.reply(result) { available in
                let list = Language.all.map { language -> JSON in
                    ["id": .string(language.id), "name": .string(language.name), "version": .string(language.version),
                     "extension": .string(language.fileExtension), "available": .bool(available.contains(language.id))]
                }
                context.reply(["languages": .array(list)])
            }
        }
    }

    func template(_ context: RequestContext) {
        guard let language = Language.named(context.parameters[0]) else {
            return context.reply(Problem(404, "no language '\(context.parameters[0])'; known: \(Language.ids.joined(separator: ", "))"))
        }
        context.reply(["language": .string(language.id), "template": .string(language.template)])
    }
}
