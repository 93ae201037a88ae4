import Foundation

/// A QEMU process seen from outside: started with `-daemonize` (so it is not the agent's child
/// and outlives it), found again by its pid file, and checked by `/proc` so a reused pid is never
/// mistaken for the guest.
public struct QEMUProcess: Sendable {
    public let pid: Int32
    /// A string its command line contains (the VM's id).
    public let marker: String

    /// Whether the process runs (a zombie does not count).
    public var isAlive: Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")"), stat.index(close, offsetBy: 2) < stat.endIndex
        else { return false }
        guard stat[stat.index(close, offsetBy: 2)] != "Z" else { return false }
        guard let command = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        return String(decoding: command, as: UTF8.self).contains(marker)
    }

    /// Waits (bounded, polling) until the process has gone.
    public func waitForExit(within timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while isAlive {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return true
    }

    public func kill9() { _ = kill(pid, SIGKILL) }

    /// Reads the pid file QEMU wrote.
    public static func find(pidFile: String, marker: String) -> QEMUProcess? {
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return nil }
        return QEMUProcess(pid: pid, marker: marker)
    }

    /// Runs QEMU with `-daemonize` and waits for the parent to return (bounded); its stderr goes to
    /// `log`. Returns the exit status and the log's tail.
    public static func launch(binary: String, arguments: [String], log: String, timeout: Duration) async throws -> (status: Int32, output: String) {
        let path = try resolve(binary)
        FileManager.default.createFile(atPath: log, contents: nil)
        // posix_spawn and waitpid on a thread of its own: the daemonizing parent returns within
        // seconds, and nothing else in the agent reaps it.
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, nil, argv, environ)
        guard spawned == 0 else { throw QEMUNotInstalled(binary: "\(binary) (posix_spawn: \(String(cString: strerror(spawned))))") }
        let child = pid
        let status: Int32? = await withTaskGroup(of: Int32?.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    Thread.detachNewThread {
                        var raw: Int32 = 0
                        while waitpid(child, &raw, 0) < 0 && errno == EINTR {}
                        // WIFEXITED / WEXITSTATUS, spelled out (the C macros do not import).
                        continuation.resume(returning: (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f))
                    }
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            if first == nil { kill(child, SIGKILL) }
            // The sleeper ends at once; the waiting thread once the (killed) parent is reaped.
            group.cancelAll()
            _ = await group.next()
            return first
        }
        guard let status else { throw QEMUStartTimeout(seconds: Int(timeout.components.seconds)) }
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return (status, String(output.suffix(2_000)))
    }

    /// The binary's full path (Process needs one).
    static func resolve(_ binary: String) throws -> String {
        if binary.contains("/") { return binary }
        for folder in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(folder)/\(binary)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw QEMUNotInstalled(binary: binary)
    }
}

public struct QEMUStartTimeout: Error, CustomStringConvertible {
    public var seconds: Int
    public var description: String { "QEMU did not finish starting within \(seconds) s" }
}

public struct QEMUNotInstalled: Error, CustomStringConvertible {
    public var binary: String
    public var description: String { "\(binary) is not installed (apt-get install qemu-system-x86 qemu-block-extra)" }
}
