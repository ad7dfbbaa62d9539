/// The HTTP side of `metrics_bind`: just enough HTTP/1.x for a Prometheus scrape. One request
/// per connection (answered with `Connection: close`); `GET /metrics` (any query string) and
/// `HEAD` get the exposition, any other path 404, any other method 405. Request lines and
/// headers arrive through the stats connection's line reader (4 KiB a line); the whole head is
/// capped too, so a client cannot make the gateway hold more than a few KiB.
public struct MetricsHTTPRequest: Sendable {
    public init() {}

    static let maxHeadBytes = 16 * 1024
    private var requestLine: String?
    private var headBytes = 0

    /// Takes one line of the request head; returns the response once the head is complete.
    public mutating func take(line rawLine: String, body: () -> String) -> String? {
        let line = rawLine.hasSuffix("\r") ? String(rawLine.dropLast()) : rawLine
        headBytes += rawLine.utf8.count + 1
        if headBytes > Self.maxHeadBytes { return Self.response(431, "Request Header Fields Too Large") }
        guard let requestLine else {
            if line.isEmpty && headBytes <= 2 { headBytes = 0; return nil }  // a stray CRLF before the request
            requestLine = line
            return nil
        }
        guard line.isEmpty else { return nil }  // a header: none of them changes the answer
        return Self.answer(requestLine, body: body)
    }

    private static func answer(_ requestLine: String, body: () -> String) -> String {
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else { return response(400, "Bad Request") }
        let path = parts[1].split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
        guard parts[0] == "GET" || parts[0] == "HEAD" else {
            return response(405, "Method Not Allowed", extraHeaders: "Allow: GET, HEAD\r\n")
        }
        guard path == "/metrics" else { return response(404, "Not Found") }
        let text = body()
        return head(200, "OK", contentType: "text/plain; version=0.0.4; charset=utf-8", length: text.utf8.count)
            + (parts[0] == "HEAD" ? "" : text)
    }

    static func response(_ status: Int, _ reason: String, extraHeaders: String = "") -> String {
        let text = "\(status) \(reason)\n"
        return head(status, reason, contentType: "text/plain; charset=utf-8", length: text.utf8.count, extraHeaders: extraHeaders) + text
    }

    private static func head(_ status: Int, _ reason: String, contentType: String, length: Int, extraHeaders: String = "") -> String {
        "HTTP/1.1 \(status) \(reason)\r\nContent-Type: \(contentType)\r\nContent-Length: \(length)\r\n"
            + "Connection: close\r\n\(extraHeaders)\r\n"
    }
}
