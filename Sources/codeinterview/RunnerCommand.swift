import ArgumentParser

struct RunnerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "runner", abstract: "Run code execution jobs from Redis in a sandbox.")
    @OptionGroup var common: CommonOptions
    func run() throws {
        throw ValidationError("the runner is not built yet")
    }
}
