/// How a limit acts: not at all, for real, or only counting what it would do (`dry_run`).
public enum LimitMode: Equatable, Sendable {
    case off
    case enforce
    case dryRun
}
