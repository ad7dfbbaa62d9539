/// Reads and validates a config file's text. `file` is only used in messages.
///
/// On failure every problem found is reported at once, ordered by line, each as
/// `FILE:LINE: KEY: MESSAGE`. A TOML syntax error stops reading, so it comes alone.
public enum ConfigParser {
    /// `guardOverrides`: `set guard` changes made at run time, applied in order on top of the file.
    public static func parse(text: String, file: String, guardOverrides: [GuardOverride] = []) throws(ConfigErrors) -> GatewayConfig {
        var root: TOMLTable
        do throws(TOMLSyntaxError) {
            root = try TOMLParser.parse(text: text, file: file)
        } catch {
            throw ConfigErrors(issues: [ConfigIssue(file: file, line: error.line, key: "", message: error.message)])
        }
        for override in guardOverrides { root = override.applied(to: root) }
        var validator = ConfigValidator(file: file)
        let config = validator.validate(root)
        if let config, validator.issues.isEmpty { return config }
        if validator.issues.isEmpty {
            // Every path to a nil config reports an issue first; this keeps a bug from
            // turning into an error without a message.
            validator.report(line: 1, key: "", "internal error: the config could not be built")
        }
        throw ConfigErrors(issues: validator.sortedIssues)
    }
}
