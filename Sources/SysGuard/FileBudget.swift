/// Whether the configured connection limits fit the open-file budget (RLIMIT_NOFILE).
public enum FileBudgetResult: Equatable, Sendable {
    case fits(neededFiles: Int)
    case exceeds(neededFiles: Int, availableFiles: Int)
}

public enum FileBudget {
    /// Files for the process itself: standard streams, epoll, eventfd, signalfd, log files,
    /// /proc reads and what libraries open.
    public static let baseReserveFiles = 32

    /// A client connection holds its socket and its timerfd, plus its backend socket when
    /// relayed over TCP (a mux listener shares backend connections).
    public static func filesPerConnection(relayMode: Bool) -> Int {
        relayMode ? 3 : 2
    }

    /// Each listener counts twice (its socket and the copy held while handing it to a new
    /// worker); each backend server once (a health check or mux connection); stats sockets once.
    public static func reserveFiles(listenerCount: Int, backendServerCount: Int, statsSockets: Int) -> Int {
        saturatingSum([baseReserveFiles, saturatingProduct(max(0, listenerCount), 2), max(0, backendServerCount),
                       max(0, statsSockets)])
    }

    /// `maxConnections` is the effective global cap (max_connections, or the sum of the
    /// listeners' caps when that is smaller); `relayMode` is true when any listener relays TCP.
    public static func check(maxFiles: Int, maxConnections: Int, listenerCount: Int, backendServerCount: Int,
                             statsSockets: Int, relayMode: Bool) -> FileBudgetResult {
        let connectionFiles = saturatingProduct(max(0, maxConnections), filesPerConnection(relayMode: relayMode))
        let needed = saturatingSum([connectionFiles, reserveFiles(listenerCount: listenerCount,
                                                                  backendServerCount: backendServerCount,
                                                                  statsSockets: statsSockets)])
        return needed <= maxFiles ? .fits(neededFiles: needed) : .exceeds(neededFiles: needed, availableFiles: maxFiles)
    }

    /// The most connections the budget holds; 0 when even the reserve does not fit.
    public static func maxConnectionsThatFit(maxFiles: Int, listenerCount: Int, backendServerCount: Int,
                                             statsSockets: Int, relayMode: Bool) -> Int {
        let reserve = reserveFiles(listenerCount: listenerCount, backendServerCount: backendServerCount,
                                   statsSockets: statsSockets)
        return max(0, maxFiles - reserve) / filesPerConnection(relayMode: relayMode)
    }

    private static func saturatingProduct(_ left: Int, _ right: Int) -> Int {
        let (product, overflow) = left.multipliedReportingOverflow(by: right)
        return overflow ? .max : product
    }

    private static func saturatingSum(_ terms: [Int]) -> Int {
        terms.reduce(0) { total, term in
            let (sum, overflow) = total.addingReportingOverflow(term)
            return overflow ? .max : sum
        }
    }
}
