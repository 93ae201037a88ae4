import LunarModel

/// The providers a server knows, by name. Adding a provider is registering it here; nothing
/// else in the server changes.
public struct StorageProviderRegistry: Sendable {
    private var providers: [String: any StorageProvider] = [:]

    public init(_ providers: [any StorageProvider] = []) {
        for provider in providers { register(provider) }
    }

    public mutating func register(_ provider: any StorageProvider) {
        precondition(providers[provider.name.lowercased()] == nil, "provider \(provider.name) registered twice")
        providers[provider.name.lowercased()] = provider
    }

    public func provider(named name: String) -> (any StorageProvider)? {
        providers[name.lowercased()]
    }

    /// The provider for `name`, or a 431 listing the known ones.
    public func require(_ name: String) throws -> any StorageProvider {
        guard let provider = provider(named: name) else {
            throw LunarError.invalidParameter("provider", value: name, reason: "unknown storage provider; known: \(names.joined(separator: ", "))")
        }
        return provider
    }

    public var names: [String] { providers.values.map(\.name).sorted() }
    public var all: [any StorageProvider] { providers.values.sorted { $0.name < $1.name } }
}
