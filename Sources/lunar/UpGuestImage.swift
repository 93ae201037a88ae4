import Foundation

/// The test guest `lunar up --hypervisor qemu` registers as its template: built once by
/// `scripts/build-test-guest` (a cloud kernel and a static /init from Debian packages, seconds)
/// into a cache folder shared by every data folder, or taken from `--guest-image`.
enum UpGuestImage {
    static let fileName = "lunar-guest.img"

    /// `$LUNAR_GUEST_CACHE`, else `$XDG_CACHE_HOME/lunar/guest`, else `~/.cache/lunar/guest`.
    static var cacheFolder: String {
        let environment = ProcessInfo.processInfo.environment
        if let folder = environment["LUNAR_GUEST_CACHE"], !folder.isEmpty { return folder }
        let base = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (NSHomeDirectory() as NSString).appendingPathComponent(".cache")
        return (base as NSString).appendingPathComponent("lunar/guest")
    }

    /// The build script beside this source tree (`lunar up` runs from a checkout), or
    /// `$LUNAR_GUEST_SCRIPT`.
    static var script: String? {
        if let path = ProcessInfo.processInfo.environment["LUNAR_GUEST_SCRIPT"], !path.isEmpty { return path }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = root.appendingPathComponent("scripts/build-test-guest").path
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The image and its SHA-256, building it when the cache has none.
    static func ensure(log: String) async throws -> (path: String, sha256: String) {
        let folder = cacheFolder
        let image = (folder as NSString).appendingPathComponent(fileName)
        let digestFile = (folder as NSString).appendingPathComponent("lunar-guest.sha256")
        if !FileManager.default.fileExists(atPath: image) || !FileManager.default.fileExists(atPath: digestFile) {
            guard let script else {
                throw Failure(description: "no scripts/build-test-guest beside this lunar (set LUNAR_GUEST_SCRIPT, or LUNAR_GUEST_CACHE to a folder holding lunar-guest.img and lunar-guest.sha256)")
            }
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: log, contents: nil)
            let output = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = [script, folder]
            process.standardOutput = output
            process.standardError = output
            let (exited, continuation) = AsyncStream.makeStream(of: Int32.self, bufferingPolicy: .bufferingNewest(1))
            process.terminationHandler = { continuation.yield($0.terminationStatus) }
            try process.run()
            // Installing packages on a fresh machine takes minutes; a build that takes longer hangs.
            let status = await withTaskGroup(of: Int32?.self) { group in
                group.addTask { await exited.first { _ in true } }
                group.addTask {
                    try? await Task.sleep(for: .seconds(900))
                    return nil
                }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first
            }
            guard let status else {
                process.terminate()
                throw Failure(description: "building the test guest took over 15 minutes; see \(log)")
            }
            guard status == 0 else { throw Failure(description: "building the test guest failed (exit \(status)); see \(log)") }
        }
        let digest = String(decoding: try Data(contentsOf: URL(fileURLWithPath: digestFile)), as: UTF8.self).split(separator: " ").first.map(String.init) ?? ""
        guard digest.count == 64 else { throw Failure(description: "\(digestFile) holds no SHA-256") }
        return (image, digest)
    }
}
