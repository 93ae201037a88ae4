import AsyncHTTPClient
import Foundation
import Logging
import LunarModel
import NIOCore
import NIOHTTP1
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// Downloads registered templates into secondary storage (`<data>/secondary/template/<id>/`),
/// as CloudStack's secondary storage VM does: the image is fetched over HTTP(S) with a bound on
/// its size, its checksum checked, a QCOW2 converted to raw (`qemu-img`), and the template
/// marked Ready or Failed with the reason.
///
/// The database is the queue: a template in `Downloading` state is one to fetch, so a download a
/// restart interrupted starts again. `poke()` wakes the loop (a bounded signal: one pending wake
/// stands for any number), and at most `maximumConcurrent` downloads run at once.
public actor TemplateDownloads: Service {
    let store: Store
    /// `<secondary>/template`.
    public nonisolated let folder: String
    let maximumBytes: Int64
    let logger: Logger
    let maximumConcurrent = 2
    var running: Set<TemplateID> = []
    nonisolated let wakes: AsyncStream<Void>
    nonisolated let wake: AsyncStream<Void>.Continuation

    static let httpClient: HTTPClient = {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .follow(max: 5, allowCycles: false))
        configuration.timeout = .init(connect: .seconds(10), read: .seconds(60))
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    init(store: Store, secondaryStorage: String, maximumBytes: Int64, logger: Logger) {
        self.store = store
        self.folder = (secondaryStorage as NSString).appendingPathComponent("template")
        self.maximumBytes = maximumBytes
        self.logger = logger
        (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Where a Ready template's raw image is.
    public nonisolated func imagePath(_ id: TemplateID) -> String { directory(id) + "/template.raw" }
    nonisolated func directory(_ id: TemplateID) -> String { (folder as NSString).appendingPathComponent(id.uuid) }

    /// Asks the loop to look for templates to download.
    nonisolated func poke() { wake.yield() }

    /// Downloads templates until shutdown (a download cut short stays Downloading and starts
    /// again at the next start).
    public func run() async throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        wake.yield()  // what a restart left Downloading
        await cancelWhenGracefulShutdown { await self.loop() }
    }

    func loop() async {
        await withDiscardingTaskGroup { group in
            for await _ in wakes {
                do {
                    for template in try await store.allTemplates() where template.state == .downloading && !running.contains(template.id) {
                        guard running.count < maximumConcurrent else { break }
                        running.insert(template.id)
                        group.addTask {
                            await self.download(template)
                            await self.finished(template.id)
                        }
                    }
                } catch {
                    logger.error("cannot read the templates to download", metadata: ["error": .string("\(error)")])
                }
            }
        }
    }

    func finished(_ id: TemplateID) {
        running.remove(id)
        wake.yield()  // another may be waiting for the slot
    }

    /// Removes a template's files (deleteTemplate, or a download that failed).
    nonisolated func removeFiles(_ id: TemplateID) throws {
        let directory = directory(id)
        guard FileManager.default.fileExists(atPath: directory) else { return }
        try FileManager.default.removeItem(atPath: directory)
    }

    func download(_ template: Template) async {
        let directory = directory(template.id)
        let part = directory + "/download.part"
        do {
            guard let url = template.url else { throw TemplateDownloadError("the template has no URL") }
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            logger.info("downloading template", metadata: ["template": .string(template.id.uuid), "url": .string(url)])
            let downloaded = try await fetch(url, to: part, checksum: try template.checksum.map(TemplateChecksum.init(parsing:)), template: template.id)
            let size = try await TemplateImage.makeRaw(from: part, format: template.format, to: imagePath(template.id))
            try? FileManager.default.removeItem(atPath: part)
            guard try await store.template(template.id) != nil else {
                try removeFiles(template.id)  // deleted while it downloaded
                return
            }
            try await store.updateTemplate(template.id, state: .ready, status: "Download Complete", sizeBytes: size, physicalSizeBytes: downloaded)
            logger.info("template ready", metadata: ["template": .string(template.id.uuid), "size": .stringConvertible(size)])
        } catch {
            let reason = (error as? TemplateDownloadError)?.reason ?? "\(error)"
            logger.error("template download failed", metadata: ["template": .string(template.id.uuid), "reason": .string(reason)])
            do {
                try removeFiles(template.id)
                try await store.updateTemplate(template.id, state: .failed, status: "Download Failed: \(reason)")
            } catch {
                logger.error("cannot record the failed download", metadata: ["template": .string(template.id.uuid), "error": .string("\(error)")])
            }
        }
    }

    /// Streams `url` into `path`, at most `maximumBytes`, checking `checksum`.
    /// - Returns: the bytes downloaded.
    func fetch(_ url: String, to path: String, checksum: TemplateChecksum?, template: TemplateID) async throws -> Int64 {
        let request = HTTPClientRequest(url: url)
        let response: HTTPClientResponse
        do {
            response = try await Self.httpClient.execute(request, timeout: .hours(2))
        } catch {
            throw TemplateDownloadError("cannot fetch \(url): \(error)")
        }
        guard response.status == .ok else { throw TemplateDownloadError("\(url) answered HTTP \(response.status.code)") }
        let announced = response.headers.first(name: "content-length").flatMap(Int64.init)
        if let announced, announced > maximumBytes {
            throw TemplateDownloadError("the image is \(announced) bytes; templates here are at most \(maximumBytes) (max_template_bytes)")
        }
        let descriptor = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw TemplateDownloadError("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var hasher = checksum.map { TemplateChecksum.Hasher($0.algorithm) }
        var total: Int64 = 0
        var reported = 0
        for try await buffer in response.body {
            total += Int64(buffer.readableBytes)
            guard total <= maximumBytes else { throw TemplateDownloadError("the image is larger than \(maximumBytes) bytes (max_template_bytes)") }
            try buffer.withUnsafeReadableBytes { bytes in
                hasher?.update(bytes)
                var done = 0
                while done < bytes.count {
                    let written = write(descriptor, bytes.baseAddress! + done, bytes.count - done)
                    guard written > 0 else { throw TemplateDownloadError("cannot write \(path): \(String(cString: strerror(errno)))") }
                    done += written
                }
            }
            if let announced, announced > 0 {
                let percent = Int(total * 100 / announced) / 10 * 10
                if percent > reported, percent < 100 {
                    reported = percent
                    try await store.updateTemplate(template, state: .downloading, status: "\(percent)% Downloaded")
                }
            }
        }
        if let announced, total != announced { throw TemplateDownloadError("the download ended after \(total) of \(announced) bytes") }
        guard fsync(descriptor) == 0 else { throw TemplateDownloadError("cannot sync \(path): \(String(cString: strerror(errno)))") }
        if let checksum, let hasher {
            let found = hasher.hex()
            guard found == checksum.hex else {
                throw TemplateDownloadError("checksum mismatch: \(checksum.algorithm.rawValue) of the image is \(found), expected \(checksum.hex)")
            }
        }
        return total
    }
}

/// Why a download failed, in words for the template's status.
struct TemplateDownloadError: Error, CustomStringConvertible {
    let reason: String
    init(_ reason: String) { self.reason = reason }
    var description: String { reason }
}
