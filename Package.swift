// swift-tools-version:6.0
import PackageDescription

// One setting list for every target, as Hummingbird does.
let swiftSettings: [SwiftSetting] = [
    .unsafeFlags(["-wmo"], .when(configuration: .release)),
]

let package = Package(
    name: "codeinterview",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "codeinterview", targets: ["codeinterview"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // C shims: a module map over one header each, found through pkg-config.
        .systemLibrary(name: "CLibUV", pkgConfig: "libuv", providers: [.apt(["libuv1-dev"])]),
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        // hiredis' libuv adapter, with its error-status fix (see adapter.c).
        .target(name: "CHiredisLibUV", dependencies: ["CHiredis", "CLibUV"]),
        .systemLibrary(name: "CHTTPParser", providers: [.apt(["libhttp-parser-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // OpenSSL's TLS (libssl), for the webhook client's https.
        .systemLibrary(name: "CTLS", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),

        // A small JSON value type: strict parser, byte serializer.
        .target(name: "JSON", swiftSettings: swiftSettings),
        // Transport: the libuv loop, TCP, HTTP/1.1 (and WebSocket) server.
        .target(name: "Transport", dependencies: ["CLibUV", "CHTTPParser", "CCrypto", "CTLS",
                                                  .product(name: "Logging", package: "swift-log")],
                swiftSettings: swiftSettings),
        // Redis client: hiredis async on the same libuv loop.
        .target(name: "Redis", dependencies: ["CHiredis", "CHiredisLibUV", "CLibUV", "CCrypto", "Transport",
                                              .product(name: "Logging", package: "swift-log")],
                swiftSettings: swiftSettings),
        // PostgreSQL client: libpq's non-blocking API on the same libuv loop, a small pool.
        .target(name: "Postgres", dependencies: ["CLibPQ", "CLibUV", "Transport",
                                                 .product(name: "Logging", package: "swift-log")],
                swiftSettings: swiftSettings),
        // Domain: text operations, sessions, participants, questions, executions, validation; no Redis.
        .target(name: "Interview", dependencies: ["JSON", "CCrypto"],
                swiftSettings: swiftSettings),
        // Stores: one type per thing kept in Redis (its keys, scripts, typed arguments and replies).
        // Its Redis scripts are the .lua files in Sources/Stores/Lua, embedded in the binary.
        .target(name: "Stores", dependencies: ["Interview", "Redis", "JSON", "CCrypto", "Transport"],
                resources: [
                               .embedInCode("Lua/activity_add.lua"),
                               .embedInCode("Lua/archive_claim.lua"),
                               .embedInCode("Lua/terminal_open.lua"),
                               .embedInCode("Lua/terminal_input.lua"),
                               .embedInCode("Lua/terminal_renew.lua"),
                               .embedInCode("Lua/terminal_record.lua"),
                               .embedInCode("Lua/archive_complete.lua"),
                               .embedInCode("Lua/archive_release.lua"),
                               .embedInCode("Lua/archive_renew.lua"),
                               .embedInCode("Lua/archive_retry.lua"),
                               .embedInCode("Lua/archive_schedule.lua"),
                               .embedInCode("Lua/archive_stats.lua"),
                               .embedInCode("Lua/available_languages.lua"),
                               .embedInCode("Lua/commit.lua"),
                               .embedInCode("Lua/connect.lua"),
                               .embedInCode("Lua/control.lua"),
                               .embedInCode("Lua/create.lua"),
                               .embedInCode("Lua/delete.lua"),
                               .embedInCode("Lua/disconnect.lua"),
                               .embedInCode("Lua/document.lua"),
                               .embedInCode("Lua/session_read.lua"),
                               .embedInCode("Lua/drop_gateway.lua"),
                               .embedInCode("Lua/execution_claim.lua"),
                               .embedInCode("Lua/execution_finish.lua"),
                               .embedInCode("Lua/execution_heartbeat.lua"),
                               .embedInCode("Lua/execution_output.lua"),
                               .embedInCode("Lua/execution_pull_parked.lua"),
                               .embedInCode("Lua/execution_release.lua"),
                               .embedInCode("Lua/execution_session_context.lua"),
                               .embedInCode("Lua/execution_session_jobs.lua"),
                               .embedInCode("Lua/execution_submit.lua"),
                               .embedInCode("Lua/execution_test_case.lua"),
                               .embedInCode("Lua/execution_test_run.lua"),
                               .embedInCode("Lua/fold.lua"),
                               .embedInCode("Lua/forget_gateway.lua"),
                               .embedInCode("Lua/function.lua"),
                               .embedInCode("Lua/function_head.lua"),
                               .embedInCode("Lua/gateway_heartbeat.lua"),
                               .embedInCode("Lua/history.lua"),
                               .embedInCode("Lua/jobs.lua"),
                               .embedInCode("Lua/join.lua"),
                               .embedInCode("Lua/leave.lua"),
                               .embedInCode("Lua/lib.lua"),
                               .embedInCode("Lua/library_delete.lua"),
                               .embedInCode("Lua/library_list.lua"),
                               .embedInCode("Lua/library_save.lua"),
                               .embedInCode("Lua/log.lua"),
                               .embedInCode("Lua/notes_put.lua"),
                               .embedInCode("Lua/participant_for_token.lua"),
                               .embedInCode("Lua/prelude.lua"),
                               .embedInCode("Lua/question.lua"),
                               .embedInCode("Lua/rate_check.lua"),
                               .embedInCode("Lua/runner_deregister.lua"),
                               .embedInCode("Lua/runner_register.lua"),
                               .embedInCode("Lua/runner_slots.lua"),
                               .embedInCode("Lua/save_code.lua"),
                               .embedInCode("Lua/scorecard_put.lua"),
                               .embedInCode("Lua/snapshot.lua"),
                               .embedInCode("Lua/update.lua"),
                               .embedInCode("Lua/webhook_claim.lua"),
                               .embedInCode("Lua/webhook_delete.lua"),
                               .embedInCode("Lua/webhook_emit.lua"),
                               .embedInCode("Lua/webhook_register.lua"),
                               .embedInCode("Lua/webhook_result.lua"),
                               .embedInCode("Lua/webhook_update.lua")
                ],
                swiftSettings: swiftSettings),
        // Records: the interview record's PostgreSQL contract (as Stores is the Redis one): its
        // schema, the versioned .sql files in Sources/Records/Migrations embedded in the binary,
        // its named statements, typed calls.
        .target(name: "Records", dependencies: ["Interview", "Postgres", "JSON",
                                                .product(name: "Logging", package: "swift-log")],
                resources: [
                    .embedInCode("Migrations/001_interviews.sql"),
                ],
                swiftSettings: swiftSettings),
        // Gateway: routes, problems, OpenAPI document, configuration.
        .target(name: "Gateway", dependencies: ["Transport", "Redis", "Interview", "Stores", "JSON", "Records", "Postgres", "Webhooks",
                                                .product(name: "Logging", package: "swift-log")],
                resources: [.copy("Resources/openapi.json")],
                swiftSettings: swiftSettings),
        // Runner: pulls execution jobs from Redis and runs them in a bubblewrap sandbox.
        .target(name: "Runner", dependencies: ["Transport", "Redis", "Interview", "Stores", "JSON", "CLibUV",
                                               .product(name: "Logging", package: "swift-log")],
                swiftSettings: swiftSettings),
        // Webhooks: the delivery worker (leased jobs from Redis, signed HTTP(S) requests); hosted by
        // gateways and archivers alike.
        .target(name: "Webhooks", dependencies: ["Transport", "Redis", "Interview", "Stores", "JSON",
                                                 .product(name: "Logging", package: "swift-log")],
                swiftSettings: swiftSettings),
        // Archiver: moves ended sessions from Redis to the interview record (PostgreSQL).
        .target(name: "Archiver", dependencies: ["Transport", "Redis", "Interview", "Stores", "JSON", "Webhooks",
                                                 .product(name: "Logging", package: "swift-log")],
                swiftSettings: swiftSettings),
        // The sandbox supervisor: PID 1 inside each bubblewrap sandbox (plain C), and its launcher
        // (`codeinterview-sandbox launch`: mounts, cgroup, seccomp filter, then bubblewrap).
        // The Swift driver links every executable against the Swift runtime, which the sandbox
        // does not have (it sees only /usr): link it statically, and libseccomp too (libseccomp-dev),
        // so the supervisor needs only libc.
        .executableTarget(name: "codeinterview-sandbox", path: "Sources/RunnerSandbox",
                          linkerSettings: [.unsafeFlags(["-static-stdlib", "-Xlinker", "--gc-sections", "-Xlinker", "--as-needed",
                                                         "-Xlinker", "-l:libseccomp.a"])]),
        .executableTarget(name: "codeinterview", dependencies: [
            "Gateway", "Runner", "Archiver", "Webhooks", "Interview", "Stores", "JSON", "Postgres", "Records",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: swiftSettings),

        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        // The integration suites' shared harness: real redis-server and codeinterview processes,
        // a raw HTTP client.
        .target(name: "TestSupport", dependencies: ["Transport", "CLibUV", .product(name: "Logging", package: "swift-log")],
                path: "Tests/TestSupport"),
        .testTarget(name: "InterviewTests", dependencies: ["Interview", "Stores", "Archiver", "JSON", "TestSupport", "Redis", "Transport", "CLibUV",
                                                          .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "GatewayTests", dependencies: ["Gateway", "JSON", "TestSupport"]),
        // The record store against a real PostgreSQL (TestSupport's PostgresServer).
        .testTarget(name: "RecordsTests", dependencies: ["Records", "Postgres", "Interview", "JSON", "Transport", "CLibUV", "TestSupport",
                                                        .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "RunnerTests", dependencies: ["Runner", "JSON", "TestSupport"]),
        // The Redis Cluster client against a real cluster (6 redis-server processes).
        .testTarget(name: "RedisTests", dependencies: ["Redis", "Transport", "CLibUV", "TestSupport",
                                                       .product(name: "Logging", package: "swift-log")]),
        // The PostgreSQL client against a real PostgreSQL (initdb + postgres started by the harness).
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "Transport", "CLibPQ", "CLibUV", "TestSupport",
                                                          .product(name: "Logging", package: "swift-log")]),
    ]
)
