import LunarWire

/// A failure to inject into an agent's handling of one command (tests and simulations).
public enum AgentFault: Sendable, Equatable, CaseIterable {
    /// The command never arrives.
    case loseCommand
    /// The command is carried out but its answer never reaches the server.
    case loseAnswer
    /// The agent answers with a failure without doing anything.
    case refuse
}

/// Decides, per command, whether to inject a failure.
public protocol AgentFaultInjector: Sendable {
    func fault(for command: AgentCommand) async -> AgentFault?
}
