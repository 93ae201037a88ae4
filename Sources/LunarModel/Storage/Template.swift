/// A VM template. Lunar ships one built-in template so a newcomer can deploy at once.
public struct Template: Sendable, Hashable {
    public var id: TemplateID
    public var name: String
    public var displayText: String
    public var format: String
    public var sizeBytes: Int64
    public var osTypeName: String
    public var isFeatured: Bool
    public var isPublic: Bool

    /// The built-in template: a tiny raw image the simulator hypervisor boots.
    public static let builtIn = Template(
        id: TemplateID(trusted: "00000000-0000-4000-8000-0000000000a1"),
        name: "lunar-tiny-linux",
        displayText: "Lunar built-in tiny Linux (raw, 1 GiB)",
        format: "RAW",
        sizeBytes: 1 << 30,
        osTypeName: "Other Linux (64-bit)",
        isFeatured: true,
        isPublic: true
    )

    /// CloudStack's `templatefilter` values.
    public enum Filter: String, Sendable, CaseIterable {
        case featured, executable, all, community, selfFilter = "self", selfExecutable = "selfexecutable", sharedExecutable = "sharedexecutable"
    }

    /// Whether a template owned by the system (not the caller) is listed under `filter`.
    public func isListed(under filter: Filter) -> Bool {
        switch filter {
        case .featured: isFeatured
        case .executable, .all, .community: isPublic || isFeatured
        case .selfFilter, .selfExecutable, .sharedExecutable: false
        }
    }
}
