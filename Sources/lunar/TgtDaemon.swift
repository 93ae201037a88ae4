import Foundation

/// A tgtd we start for comparison: its own control port and portal, one target with the file at
/// LUN 1, the same negotiation limits as Lunar's target. Stopped with tgtadm (it ignores SIGTERM).
final class TgtDaemon {
    let process = Process()
    let controlPort: Int
    let portalPort: Int
    let targetName: String
    static let tid = "1"

    init(file: String, portalPort: Int, controlPort: Int, targetName: String, limits: [String: String]) throws {
        self.controlPort = controlPort
        self.portalPort = portalPort
        self.targetName = targetName
        guard let tgtd = Self.which("tgtd"), Self.which("tgtadm") != nil else {
            throw BenchFailure("tgtd/tgtadm not found: apt-get install tgt")
        }
        process.executableURL = URL(fileURLWithPath: tgtd)
        process.arguments = ["-f", "-C", String(controlPort), "--iscsi", "portal=127.0.0.1:\(portalPort)"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // tgtd takes a moment to open its control socket.
        var ready = false
        for _ in 0..<100 {
            if (try? admin(["--op", "show", "--mode", "sys"])) != nil {
                ready = true
                break
            }
            usleep(50_000)
        }
        guard ready else {
            stop()
            throw BenchFailure("tgtd did not come up on control port \(controlPort)")
        }
        try admin(["--lld", "iscsi", "--op", "new", "--mode", "target", "--tid", Self.tid, "-T", targetName])
        try admin(["--lld", "iscsi", "--op", "new", "--mode", "logicalunit", "--tid", Self.tid, "--lun", "1", "-b", file])
        try admin(["--lld", "iscsi", "--op", "bind", "--mode", "target", "--tid", Self.tid, "-I", "ALL"])
        for (key, value) in limits.sorted(by: { $0.key < $1.key }) {
            try admin(["--lld", "iscsi", "--op", "update", "--mode", "target", "--tid", Self.tid, "-n", key, "-v", value])
        }
    }

    var pid: Int32 { process.processIdentifier }

    @discardableResult
    func admin(_ arguments: [String]) throws -> String {
        let tool = Process()
        tool.executableURL = URL(fileURLWithPath: Self.which("tgtadm") ?? "/usr/sbin/tgtadm")
        tool.arguments = ["-C", String(controlPort)] + arguments
        let pipe = Pipe()
        tool.standardOutput = pipe
        tool.standardError = pipe
        try tool.run()
        tool.waitUntilExit()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard tool.terminationStatus == 0 else { throw BenchFailure("tgtadm \(arguments.joined(separator: " ")): \(output)") }
        return output
    }

    /// Offline, delete the target, delete the system; SIGKILL our own tgtd if it lingers.
    func stop() {
        _ = try? admin(["--op", "update", "--mode", "sys", "--name", "State", "-v", "offline"])
        _ = try? admin(["--lld", "iscsi", "--op", "delete", "--mode", "target", "--tid", Self.tid, "--force"])
        _ = try? admin(["--op", "delete", "--mode", "system"])
        for _ in 0..<50 where process.isRunning { usleep(100_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    static func which(_ name: String) -> String? {
        for directory in ["/usr/sbin", "/usr/bin", "/sbin", "/usr/local/sbin", "/usr/local/bin"] {
            let path = directory + "/" + name
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }
}

struct BenchFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// CPU time and resident memory of a process, from /proc.
enum ProcessUsage {
    /// user + system CPU seconds of all its threads.
    static func cpuSeconds(_ pid: Int32) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command name: state is field 3, utime 14, stime 15 (1-based) → indices 11, 12.
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    static func residentBytes(_ pid: Int32) -> UInt64? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return line.split(separator: " ").dropFirst().first.flatMap { UInt64($0) }.map { $0 * 1024 }
        }
        return nil
    }
}
