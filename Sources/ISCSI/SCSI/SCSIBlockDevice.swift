import NIOCore

/// Storage a logical unit serves. Calls block: the transport runs them on a thread pool, never on
/// an event loop.
public protocol SCSIBlockDevice: Sendable {
    var blockSize: Int { get }
    /// May grow while the device is in use (online resize).
    var blockCount: UInt64 { get }
    func read(atBlock block: UInt64, count: Int) throws -> ByteBuffer
    /// Writes; with `forceUnitAccess` returns only once the data is durable.
    func write(_ data: ByteBuffer, atBlock block: UInt64, forceUnitAccess: Bool) throws
    /// Makes every acknowledged write durable (SYNCHRONIZE CACHE).
    func synchronize() throws
    /// Releases the blocks' storage; they read back as zeros (thin provisioning).
    func deallocate(atBlock block: UInt64, count: Int) throws
    /// Whether the blocks from `block` on are mapped, and for how many blocks that holds
    /// (at least 1, at most `limit`).
    func mappingRun(atBlock block: UInt64, limit: UInt64) throws -> (mapped: Bool, blocks: UInt64)
    /// The blocks if they can be read without waiting for the disk (from a cache), else nil.
    func readIfCached(atBlock block: UInt64, count: Int) throws -> ByteBuffer?
    /// Whether a write without FUA only copies into a cache (the page cache), so a small one may
    /// run on an event loop. False: every write goes to the I/O threads.
    var writesAreBuffered: Bool { get }
}

extension SCSIBlockDevice {
    public func readIfCached(atBlock block: UInt64, count: Int) throws -> ByteBuffer? { nil }
    public var writesAreBuffered: Bool { false }
}
