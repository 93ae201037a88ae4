import Foundation
import LunarClient
import LunarModel
import Testing

@testable import LunarServer

/// Template downloads against a real HTTP server on 127.0.0.1: the size bound holds whether the
/// server announces the length or streams chunks without one; the checksum's forms parse.
struct TemplateDownloadTests {
    /// Serves three paths over HTTP/1.1, one connection at a time, until the test ends:
    /// `/small` (512 KiB with a Content-Length), `/announced` (2 MiB with one), `/chunked`
    /// (2 MiB in chunks with none).
    static func imageServer() throws -> Int {
        let (listener, port) = try LoopbackListener.open()
        Thread.detachNewThread {
            while true {
                let connection = accept(listener, nil, nil)
                guard connection >= 0 else { return }
                var request = [UInt8](repeating: 0, count: 8_192)
                let count = recv(connection, &request, request.count, 0)
                let line = String(decoding: request.prefix(max(0, count)), as: UTF8.self).split(separator: " ").dropFirst().first ?? ""
                func send(_ bytes: [UInt8]) {
                    var sent = 0
                    while sent < bytes.count {
                        let result = bytes.withUnsafeBytes { Glibc.send(connection, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
                        if result <= 0 { return }
                        sent += result
                    }
                }
                let mebibyte = [UInt8](repeating: 0x5A, count: 1 << 20)
                switch line {
                case "/small":
                    send(Array("HTTP/1.1 200 OK\r\nContent-Length: \(1 << 19)\r\nConnection: close\r\n\r\n".utf8) + mebibyte.prefix(1 << 19))
                case "/announced":
                    send(Array("HTTP/1.1 200 OK\r\nContent-Length: \(2 << 20)\r\nConnection: close\r\n\r\n".utf8))
                    send(mebibyte)
                    send(mebibyte)
                case "/chunked":
                    send(Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".utf8))
                    for _ in 0..<32 { send(Array("10000\r\n".utf8) + mebibyte.prefix(65536) + Array("\r\n".utf8)) }
                    send(Array("0\r\n\r\n".utf8))
                default:
                    send(Array("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8))
                }
                close(connection)
            }
        }
        return port
    }

    @Test func theSizeBoundHoldsWithAndWithoutAContentLength() async throws {
        let port = try Self.imageServer()
        try await TestSupport.withServer(configure: { $0.maximumTemplateBytes = 1 << 20 }) { server in
            let api = server.admin
            let osType = OSType.all[0].id
            var ids: [String: String] = [:]
            for path in ["small", "announced", "chunked"] {
                let reply = try await api.call(
                    "registerTemplate",
                    ["name": path, "url": "http://127.0.0.1:\(port)/\(path)", "format": "RAW", "hypervisor": "KVM", "ostypeid": osType, "zoneid": "-1"]
                )
                ids[path] = try #require(reply["template"]?.arrayValue?.first?["id"]?.stringValue)
            }
            // Downloads end on their own (the bound is the server's, not this wait's).
            var settled: [String: JSONObject] = [:]
            for _ in 0..<600 where settled.count < 3 {
                for (path, id) in ids where settled[path] == nil {
                    let template = try await api.call("listTemplates", ["templatefilter": "self", "id": id])["template"]?.arrayValue?.first?.objectValue
                    if let template, template["status"]?.stringValue.map({ $0 == "Download Complete" || $0.hasPrefix("Download Failed") }) == true { settled[path] = template }
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(settled["small"]?["isready"]?.boolValue == true && settled["small"]?["size"]?.intValue == 1 << 19, "\(String(describing: settled["small"]))")
            #expect(settled["announced"]?["status"]?.stringValue?.contains("at most 1048576") == true, "\(String(describing: settled["announced"]))")
            #expect(settled["chunked"]?["status"]?.stringValue?.contains("larger than 1048576") == true, "\(String(describing: settled["chunked"]))")
            for path in ["announced", "chunked"] {
                #expect(settled[path]?["isready"]?.boolValue == false)
                let folder = server.dataDirectory + "/secondary/template/" + ids[path]!
                #expect(!FileManager.default.fileExists(atPath: folder), "a failed download leaves no file behind")
            }
        }
    }

    @Test func checksumsParseInCloudStacksForms() throws {
        let md5 = String(repeating: "a", count: 32)
        let sha256 = String(repeating: "b", count: 64)
        #expect(try TemplateChecksum(parsing: md5).algorithm == .md5, "a bare 32-digit digest is MD5")
        #expect(try TemplateChecksum(parsing: "{SHA-256}" + sha256).algorithm == .sha256)
        #expect(try TemplateChecksum(parsing: "{sha256}" + sha256.uppercased()).hex == sha256, "the algorithm's case and dash, the digest's case")
        #expect(try TemplateChecksum(parsing: String(repeating: "c", count: 128)).algorithm == .sha512)
        for bad in ["{CRC32}00", "{MD5}" + sha256, "xyz", "", "abc"] {
            #expect(throws: LunarError.self, "\(bad)") { _ = try TemplateChecksum(parsing: bad) }
        }
        var hasher = TemplateChecksum.Hasher(.sha256)
        Array("abc".utf8).withUnsafeBytes { hasher.update($0) }
        #expect(hasher.hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "SHA-256 of abc (FIPS 180-2)")
    }
}
