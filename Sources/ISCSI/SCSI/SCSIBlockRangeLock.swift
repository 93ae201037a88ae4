import Synchronization

/// Striped locks over block ranges: COMPARE AND WRITE holds its range across the compare and the
/// write, and every other write takes the same stripes, so no write lands in between. Stripes are
/// taken in ascending order, so two commands can never wait on each other.
final class SCSIBlockRangeLock: Sendable {
    final class Stripe: Sendable {
        let mutex = Mutex(())
    }

    static let stripeCount = 64
    /// Blocks per stripe: 1 MiB of 512-byte blocks.
    static let stripeBlocks: UInt64 = 2048

    let stripes: [Stripe] = (0..<SCSIBlockRangeLock.stripeCount).map { _ in Stripe() }

    func withLock<T>(block: UInt64, count: UInt64, _ body: () throws -> T) throws -> T {
        let first = block / Self.stripeBlocks
        let last = (count == 0 ? block : block &+ (count - 1)) / Self.stripeBlocks
        if first == last {
            // The common case (any write up to 1 MiB that does not straddle a stripe): one lock, no arrays.
            return try stripes[Int(first % UInt64(Self.stripeCount))].mutex.withLock { (_: inout ()) throws -> T in try body() }
        }
        var indices: [Int]
        if last < first || last - first >= UInt64(Self.stripeCount) {
            indices = Array(0..<Self.stripeCount)
        } else {
            indices = Array(Set((first...last).map { Int($0 % UInt64(Self.stripeCount)) })).sorted()
        }
        var result: T?
        try lock(indices[...]) { result = try body() }
        guard let result else { preconditionFailure("the body ran") }
        return result
    }

    private func lock(_ indices: ArraySlice<Int>, _ body: () throws -> Void) throws {
        guard let index = indices.first else { return try body() }
        try stripes[index].mutex.withLock { (_: inout ()) throws -> Void in try lock(indices.dropFirst(), body) }
    }
}
