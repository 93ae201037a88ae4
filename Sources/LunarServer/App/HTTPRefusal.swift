import NIOCore
import NIOHTTP1

/// An answer the connection guards give instead of the application, always followed by closing the
/// connection. Written as raw bytes because the refused request may not have parsed at all.
struct HTTPRefusal: Sendable, Equatable {
    /// nil closes without answering: nothing was asked yet.
    var status: HTTPResponseStatus?
    var allow: String?

    init(_ status: HTTPResponseStatus?, allow: String? = nil) {
        self.status = status
        self.allow = allow
    }

    /// The methods the API serves (HEAD comes with GET).
    static let allowedMethods = "GET, HEAD, POST"

    func encoded(allocator: ByteBufferAllocator) -> ByteBuffer? {
        guard let status else { return nil }
        var head = "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\nConnection: close\r\nContent-Length: 0\r\n"
        if let allow { head += "Allow: \(allow)\r\n" }
        return allocator.buffer(string: head + "\r\n")
    }
}
