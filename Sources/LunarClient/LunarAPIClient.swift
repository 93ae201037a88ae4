import AsyncHTTPClient
import Foundation
import LunarModel
import NIOCore

/// A signed CloudStack API client: what `lunar <noun> <verb>` and `lunar api` use.
public struct LunarAPIClient: Sendable {
    public let endpoint: String
    public let keys: UserKeys
    let time: any TimeSource
    let httpClient: HTTPClient
    /// How long a signed request stays valid (signature version 3).
    let signatureLifetimeSeconds: Int64 = 600

    public init(endpoint: String, keys: UserKeys, time: any TimeSource = SystemTimeSource(), httpClient: HTTPClient = .shared) {
        self.endpoint = endpoint
        self.keys = keys
        self.time = time
        self.httpClient = httpClient
    }

    /// A client for the Lunar whose data folder is `path` (reads `endpoints.json` and `admin-keys.json`).
    public static func forDataFolder(_ path: String) throws -> LunarAPIClient {
        func read<T: Decodable>(_ type: T.Type, _ name: String) throws -> T {
            let file = (path as NSString).appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: file) else {
                throw LunarClientError.notConfigured("cannot read \(file): is Lunar running with --data \(path)?")
            }
            return try JSONDecoder().decode(type, from: data)
        }
        let endpoints = try read(LunarEndpoints.self, LunarEndpoints.fileName)
        guard let api = endpoints.api else { throw LunarClientError.notConfigured("\(LunarEndpoints.fileName) has no api URL yet") }
        return LunarAPIClient(endpoint: api, keys: try read(UserKeys.self, LunarEndpoints.adminKeysFileName))
    }

    /// The parameters of a signed request, `signature` last.
    public func signedParameters(_ command: String, _ parameters: [String: String]) -> [(name: String, value: String)] {
        var pairs: [(name: String, value: String)] = parameters.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        pairs.append(("command", command))
        pairs.append(("response", "json"))
        pairs.append(("apiKey", keys.apiKey))
        pairs.append(("signatureVersion", "3"))
        pairs.append(("expires", CloudStackDate.format(epochSeconds: time.nowEpochSeconds() + signatureLifetimeSeconds)))
        pairs.append(("signature", CloudStackSignature.sign(pairs, secretKey: keys.secretKey)))
        return pairs
    }

    /// Calls a command and returns what is inside `<command>response`.
    /// - Throws: ``LunarClientError/api(_:)`` with the server's error, or a transport error.
    public func call(_ command: String, _ parameters: [String: String] = [:]) async throws -> JSONObject {
        let body = signedParameters(command, parameters).map { "\(CloudStackSignature.encode($0.name))=\(CloudStackSignature.encode($0.value))" }
            .joined(separator: "&")
        var request = HTTPClientRequest(url: endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .bytes(ByteBuffer(string: body))
        let response: HTTPClientResponse
        let bytes: ByteBuffer
        do {
            response = try await httpClient.execute(request, timeout: .seconds(60))
            bytes = try await response.body.collect(upTo: 256 << 20)
        } catch {
            throw LunarClientError.transport("cannot reach \(endpoint): \(error)")
        }
        guard let parsed = try? JSONValue.parse(Data(bytes.readableBytesView)), let outer = parsed.objectValue, outer.entries.count == 1,
            let inner = outer.entries[0].value.objectValue
        else {
            throw LunarClientError.badResponse("HTTP \(response.status.code): not a CloudStack JSON reply")
        }
        if response.status.code != 200 {
            throw LunarClientError.api(
                LunarError(
                    LunarError.Code(rawValue: Int(inner["errorcode"]?.intValue ?? Int64(response.status.code))),
                    csErrorCode: Int(inner["cserrorcode"]?.intValue ?? 9999),
                    inner["errortext"]?.stringValue ?? "error \(response.status.code)"
                )
            )
        }
        return inner
    }

    /// Polls `queryAsyncJobResult` until the job ends.
    /// - Returns: the job's result object.
    /// - Throws: ``LunarClientError/api(_:)`` when the job failed, ``LunarClientError/timedOut(_:)`` past `timeoutSeconds`.
    public func waitForJob(
        _ jobID: String,
        timeoutSeconds: Double = 600,
        pollInterval: Duration = .milliseconds(250),
        onProgress: @Sendable (Int) -> Void = { _ in }
    ) async throws -> JSONObject {
        let deadline = ContinuousClock.now + .milliseconds(Int64(timeoutSeconds * 1000))
        while ContinuousClock.now < deadline {
            let job = try await call("queryAsyncJobResult", ["jobid": jobID])
            switch job["jobstatus"]?.intValue ?? 0 {
            case 0:
                onProgress(Int(job["jobprocstatus"]?.intValue ?? 0))
                try await Task.sleep(for: pollInterval)
            case 1:
                return job["jobresult"]?.objectValue ?? JSONObject()
            default:
                let result = job["jobresult"]?.objectValue ?? JSONObject()
                throw LunarClientError.api(
                    LunarError(
                        LunarError.Code(rawValue: Int(result["errorcode"]?.intValue ?? 530)),
                        csErrorCode: Int(result["cserrorcode"]?.intValue ?? 9999),
                        result["errortext"]?.stringValue ?? "the job failed"
                    )
                )
            }
        }
        throw LunarClientError.timedOut("job \(jobID) did not finish within \(Int(timeoutSeconds)) s")
    }
}

/// Why a client call failed.
public enum LunarClientError: Error, Sendable, CustomStringConvertible {
    /// The server answered with an error.
    case api(LunarError)
    case transport(String)
    /// No connection could be made: nothing was sent, so nothing was done.
    case unreachable(String)
    case badResponse(String)
    case notConfigured(String)
    case timedOut(String)
    /// The SAN's admin API answered with an error.
    case san(status: Int, code: String, message: String)

    public var description: String {
        switch self {
        case .api(let error): "error \(error.code.rawValue) (\(error.csErrorCode)): \(error.text)"
        case .san(let status, let code, let message): "error \(status) \(code): \(message)"
        case .transport(let text), .unreachable(let text), .badResponse(let text), .notConfigured(let text), .timedOut(let text): text
        }
    }
}
