import LunarWire
import Synchronization

/// Faults named on the command line (`lunar agent --fault StartVM=lose-answer`), for tests of the
/// whole system: each rule applies to the first `count` commands of its name. `delay:MS` holds the
/// command that long before carrying it out (to kill something mid-step).
public final class ScriptedFaults: AgentFaultInjector {
    public struct Rule: Sendable, Equatable {
        public enum Action: Sendable, Equatable {
            case fault(AgentFault)
            case delay(milliseconds: Int)
        }

        public var command: String
        public var action: Action
        public var count: Int
    }

    let rules: Mutex<[Rule]>

    public init(rules: [Rule]) {
        self.rules = Mutex(rules)
    }

    /// Parses `COMMAND=ACTION[*COUNT]` with ACTION one of lose-command, lose-answer, refuse, delay:MS.
    public static func parse(_ text: String) -> Rule? {
        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty else { return nil }
        let actionAndCount = parts[1].split(separator: "*", maxSplits: 1).map(String.init)
        let count = actionAndCount.count == 2 ? Int(actionAndCount[1]) : 1
        guard let count, count > 0 else { return nil }
        let action: Rule.Action
        switch actionAndCount[0] {
        case "lose-command": action = .fault(.loseCommand)
        case "lose-answer": action = .fault(.loseAnswer)
        case "refuse": action = .fault(.refuse)
        case let delay where delay.hasPrefix("delay:"):
            guard let milliseconds = Int(delay.dropFirst(6)), (0...600_000).contains(milliseconds) else { return nil }
            action = .delay(milliseconds: milliseconds)
        default: return nil
        }
        return Rule(command: parts[0], action: action, count: count)
    }

    public func fault(for command: AgentCommand) async -> AgentFault? {
        let action = rules.withLock { rules -> Rule.Action? in
            guard let index = rules.firstIndex(where: { $0.command == command.name && $0.count > 0 }) else { return nil }
            rules[index].count -= 1
            return rules[index].action
        }
        switch action {
        case .fault(let fault)?: return fault
        case .delay(let milliseconds)?:
            try? await Task.sleep(for: .milliseconds(milliseconds))
            return nil
        case nil: return nil
        }
    }
}
