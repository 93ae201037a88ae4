import Foundation
import LunarModel

/// Turns a downloaded image into the raw image root disks are copied from: a RAW image is
/// taken as it is (whole 512-byte sectors, and not secretly a QCOW2); a QCOW2 is checked with
/// `qemu-img info` (no backing file: it would read any file on this server) and converted with
/// `qemu-img convert`, which writes zeros as holes.
enum TemplateImage {
    static let qcow2Magic: [UInt8] = [0x51, 0x46, 0x49, 0xFB]  // "QFI\xfb"
    /// A conversion that takes longer than this has hung.
    static let conversionLimit: Duration = .seconds(1800)

    /// - Returns: the disk size the raw image holds.
    static func makeRaw(from downloaded: String, format: Template.Format, to raw: String) async throws -> Int64 {
        let isQCOW2 = try magic(of: downloaded) == qcow2Magic
        switch format {
        case .raw:
            guard !isQCOW2 else { throw TemplateDownloadError("the image is QCOW2; register it with format=QCOW2") }
            let size = try fileSize(downloaded)
            guard size > 0, size % 512 == 0 else { throw TemplateDownloadError("a RAW image is a whole number of 512-byte sectors; this one is \(size) bytes") }
            try replace(raw, with: downloaded)
            return size
        case .qcow2:
            guard isQCOW2 else { throw TemplateDownloadError("the image is not QCOW2 (no QFI\\xfb header)") }
            let info = try await run(["info", "--output=json", "-f", "qcow2", downloaded])
            guard let object = try? JSONSerialization.jsonObject(with: Data(info.utf8)) as? [String: Any], let size = (object["virtual-size"] as? NSNumber)?.int64Value
            else { throw TemplateDownloadError("qemu-img info gave no virtual size") }
            if object["backing-filename"] != nil || object["full-backing-filename"] != nil {
                throw TemplateDownloadError("the QCOW2 image has a backing file; templates must be self-contained")
            }
            guard size > 0, size % 512 == 0 else { throw TemplateDownloadError("the QCOW2 image's virtual size \(size) is not a whole number of 512-byte sectors") }
            let converting = raw + ".converting"
            try? FileManager.default.removeItem(atPath: converting)
            _ = try await run(["convert", "-q", "-f", "qcow2", "-O", "raw", downloaded, converting])
            try replace(raw, with: converting)
            return size
        }
    }

    static func magic(of path: String) throws -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw TemplateDownloadError("cannot open \(path)") }
        defer { try? handle.close() }
        return [UInt8](try handle.read(upToCount: 4) ?? Data())
    }

    static func fileSize(_ path: String) throws -> Int64 {
        guard let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value else {
            throw TemplateDownloadError("cannot measure \(path)")
        }
        return size
    }

    static func replace(_ destination: String, with source: String) throws {
        guard rename(source, destination) == 0 else { throw TemplateDownloadError("cannot move \(source) to \(destination): \(String(cString: strerror(errno)))") }
    }

    /// Runs `qemu-img` with a time bound; its standard output, or its error text as the failure.
    static func run(_ arguments: [String]) async throws -> String {
        guard let executable = ["/usr/bin/qemu-img", "/usr/local/bin/qemu-img"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw TemplateDownloadError("QCOW2 templates need qemu-img on the management server (apt-get install qemu-utils)")
        }
        let output = Pipe()
        let errors = Pipe()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = errors
        let exited = AsyncStream<Int32>.makeStream(bufferingPolicy: .bufferingNewest(1))
        process.terminationHandler = { exited.continuation.yield($0.terminationStatus) }
        do {
            try process.run()
        } catch {
            throw TemplateDownloadError("cannot run qemu-img: \(error)")
        }
        // Read both pipes while it runs, so a chatty qemu-img never blocks on a full pipe.
        async let out = Task.detached { output.fileHandleForReading.readDataToEndOfFile() }.value
        async let err = Task.detached { errors.fileHandleForReading.readDataToEndOfFile() }.value
        let status = await withTaskGroup(of: Int32?.self) { group in
            group.addTask {
                for await status in exited.stream { return status }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: conversionLimit)
                return nil
            }
            let first = await group.next() ?? nil
            if first == nil, process.isRunning { process.terminate() }
            group.cancelAll()
            return first
        }
        let (stdout, stderr) = await (out, err)
        guard let status else { throw TemplateDownloadError("qemu-img \(arguments.first ?? "") did not finish within \(conversionLimit)") }
        guard status == 0 else {
            throw TemplateDownloadError("qemu-img \(arguments.first ?? "") failed (\(status)): \(String(decoding: stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return String(decoding: stdout, as: UTF8.self)
    }
}

