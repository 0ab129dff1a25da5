import JSON
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// One JSON object per line on standard error: time, level, label, message, source, and every
/// metadata field (node, request_id, ...) at the top level.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    init(label: String) { self.label = label }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var line: JSON = ["time": .string(Self.timestamp()), "level": .string(event.level.rawValue), "label": .string(label),
                          "message": .string(event.message.description), "source": .string(event.source)]
        if let error = event.error { line.set("error", .string("\(error)")) }
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
            line.set(key, .string(value.description))
        }
        var bytes = line.bytes
        bytes.append(10)
        // One write(2) per line: lines from concurrent writers never interleave mid-line.
        bytes.withUnsafeBytes { _ = Glibc.write(2, $0.baseAddress, $0.count) }
    }

    /// RFC 3339 UTC with milliseconds.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        let length = strftime(&buffer, 32, "%Y-%m-%dT%H:%M:%S", &parts)
        let base = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let millis = Int(now.tv_nsec / 1_000_000)
        return base + "." + String(repeating: "0", count: 3 - String(millis).count) + String(millis) + "Z"
    }
}
