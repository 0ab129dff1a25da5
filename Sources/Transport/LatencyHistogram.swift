/// A Prometheus-style histogram of durations with fixed buckets (seconds).
public struct LatencyHistogram: Sendable {
    public static let bounds: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
    /// Per bucket, not cumulative; the last slot is +Inf.
    private var counts = [Int](repeating: 0, count: bounds.count + 1)
    public private(set) var count = 0
    public private(set) var sum = 0.0

    public init() {}

    public mutating func record(nanoseconds: UInt64) {
        let seconds = Double(nanoseconds) / 1e9
        var index = 0
        while index < Self.bounds.count && seconds > Self.bounds[index] { index += 1 }
        counts[index] += 1
        count += 1
        sum += seconds
    }

    /// Adds another histogram's observations (several connections reported as one).
    public mutating func add(_ other: LatencyHistogram) {
        for index in counts.indices { counts[index] += other.counts[index] }
        count += other.count
        sum += other.sum
    }

    /// The text exposition lines (bucket, sum, count) for `name` with extra `labels` ("a=\"b\"").
    public func render(_ name: String, labels: String = "") -> String {
        var out = ""
        var cumulative = 0
        let prefix = labels.isEmpty ? "" : labels + ","
        for (index, bound) in Self.bounds.enumerated() {
            cumulative += counts[index]
            out += "\(name)_bucket{\(prefix)le=\"\(bound)\"} \(cumulative)\n"
        }
        cumulative += counts[Self.bounds.count]
        out += "\(name)_bucket{\(prefix)le=\"+Inf\"} \(cumulative)\n"
        let braces = labels.isEmpty ? "" : "{\(labels)}"
        out += "\(name)_sum\(braces) \(sum)\n\(name)_count\(braces) \(count)\n"
        return out
    }
}
