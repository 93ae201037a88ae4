import AsyncHTTPClient
import Foundation
import LunarModel
import NIOCore
import NIOHTTP1
import NIOPosix

/// A client of a storage node's admin API: what the `lunar san volume` verbs use.
public struct SANAdminClient: Sendable {
    public let baseURL: String
    let token: String
    let httpClient: HTTPClient

    /// One client for every SAN node this process talks to. A node that cannot be reached fails a
    /// call within `connect` (3 s of retried connection attempts) instead of the request's whole
    /// timeout: fencing and HA must learn "unreachable" quickly.
    public static let sharedHTTPClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .seconds(3), read: .seconds(60))
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    public init(baseURL: String, token: String, httpClient: HTTPClient = SANAdminClient.sharedHTTPClient) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.token = token
        self.httpClient = httpClient
    }

    /// The node of the Lunar whose data folder is `path` (`endpoints.json`'s `san_admin` and the
    /// `san-admin-token` file).
    public static func forDataFolder(_ path: String) throws -> SANAdminClient {
        let endpointsFile = (path as NSString).appendingPathComponent(LunarEndpoints.fileName)
        guard let data = FileManager.default.contents(atPath: endpointsFile) else {
            throw LunarClientError.notConfigured("cannot read \(endpointsFile): is a SAN node running with --data \(path)?")
        }
        guard let admin = try JSONDecoder().decode(LunarEndpoints.self, from: data).sanAdmin else {
            throw LunarClientError.notConfigured("\(endpointsFile) has no san_admin URL: no SAN node has started with this data folder")
        }
        let tokenFile = (path as NSString).appendingPathComponent("san-admin-token")
        guard let tokenData = FileManager.default.contents(atPath: tokenFile), let token = String(data: tokenData, encoding: .utf8) else {
            throw LunarClientError.notConfigured("cannot read the SAN admin token \(tokenFile)")
        }
        return SANAdminClient(baseURL: admin, token: token.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    struct VolumeList: Decodable { var volumes: [SANVolumeInfo] }
    struct InitiatorList: Decodable { var initiators: [String] }

    public func listVolumes() async throws -> [SANVolumeInfo] {
        try await request(.GET, "/v1/volumes", as: VolumeList.self).volumes
    }

    public func volume(_ name: String) async throws -> SANVolumeInfo {
        try await request(.GET, "/v1/volumes/\(escape(name))", as: SANVolumeInfo.self)
    }

    /// Creates a volume; with `source`, the node fills it with a copy of that volume's data.
    public func createVolume(name: String, size: String, qos: SANVolumeQoS? = nil, account: String? = nil, source: String? = nil) async throws -> SANVolumeInfo {
        struct Create: Encodable {
            var name: String
            var size: String
            var qos: SANVolumeQoS?
            var account: String?
            var source: String?
        }
        return try await request(
            .POST, "/v1/volumes", json: Create(name: name, size: size, qos: qos, account: account, source: source), as: SANVolumeInfo.self,
            // A copy of a large image takes the node a while; a plain create is quick.
            timeout: source == nil ? .seconds(60) : .minutes(30)
        )
    }

    /// Writes the file at `path` into volume `name` from offset 0, streamed a mebibyte at a time
    /// (the node refuses while anyone is logged in to the volume).
    public func upload(_ name: String, fromFile path: String) async throws {
        let reader = try FileChunkReader(path: path)
        var request = HTTPClientRequest(url: baseURL + "/v1/volumes/\(escape(name))/data")
        request.method = .PUT
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Type", value: "application/octet-stream")
        let stream = AsyncThrowingStream<ByteBuffer, any Error>(unfolding: { try reader.next() })
        request.body = .stream(stream, length: .known(reader.length))
        // Minutes per gigabyte at worst on a loaded loopback; never unbounded.
        let seconds = 60 + reader.length / (8 << 20)
        let (response, bytes) = try await exchange(request, retryable: false, timeout: .seconds(seconds))
        try check(response, Data(bytes.readableBytesView))
    }

    public func capacity() async throws -> SANNodeCapacity {
        try await request(.GET, "/v1/capacity", as: SANNodeCapacity.self)
    }

    /// An initiator's sessions on the node and how long they have been silent.
    public func initiatorActivity(_ iqn: String) async throws -> SANInitiatorActivity {
        try await request(.GET, "/v1/initiators/\(escape(iqn))/activity", as: SANInitiatorActivity.self)
    }

    /// The node's iSCSI portal, HOST:PORT.
    public func portal() async throws -> String {
        try await capacity().portal
    }

    struct AccountList: Decodable { var accounts: [SANAccountInfo] }

    public func listAccounts() async throws -> [SANAccountInfo] {
        try await request(.GET, "/v1/accounts", as: AccountList.self).accounts
    }

    public func account(_ name: String) async throws -> SANAccountInfo {
        try await request(.GET, "/v1/accounts/\(escape(name))", as: SANAccountInfo.self)
    }

    public func accountSecrets(_ name: String) async throws -> SANAccountSecrets {
        try await request(.GET, "/v1/accounts/\(escape(name))/secrets", as: SANAccountSecrets.self)
    }

    public func createAccount(_ name: String, initiatorSecret: String? = nil, targetSecret: String? = nil) async throws -> SANAccountSecrets {
        var body = ["name": name]
        body["initiator_secret"] = initiatorSecret
        body["target_secret"] = targetSecret
        return try await request(.POST, "/v1/accounts", body: body, as: SANAccountSecrets.self)
    }

    public func deleteAccount(_ name: String) async throws {
        _ = try await send(.DELETE, "/v1/accounts/\(escape(name))", body: nil)
    }

    public func setQoS(_ name: String, qos: SANVolumeQoS) async throws -> SANVolumeInfo {
        try await request(.PUT, "/v1/volumes/\(escape(name))/qos", json: qos, as: SANVolumeInfo.self)
    }

    public func statistics(_ name: String) async throws -> SANVolumeStats {
        try await request(.GET, "/v1/volumes/\(escape(name))/stats", as: SANVolumeStats.self)
    }

    public func nodeQoS() async throws -> SANNodeQoS {
        try await request(.GET, "/v1/qos", as: SANNodeQoS.self)
    }

    public func updateNodeQoS(enabled: Bool? = nil, capacityIOPS: Int? = nil) async throws -> SANNodeQoS {
        struct Update: Encodable {
            var enabled: Bool?
            var capacityIOPS: Int?
            enum CodingKeys: String, CodingKey {
                case enabled
                case capacityIOPS = "capacity_iops"
            }
        }
        return try await request(.PUT, "/v1/qos", json: Update(enabled: enabled, capacityIOPS: capacityIOPS), as: SANNodeQoS.self)
    }

    /// The node's Prometheus exposition text.
    public func metrics() async throws -> String {
        String(decoding: try await send(.GET, "/metrics", body: nil), as: UTF8.self)
    }

    public func resizeVolume(_ name: String, size: String) async throws -> SANVolumeInfo {
        try await request(.POST, "/v1/volumes/\(escape(name))/resize", body: ["size": size], as: SANVolumeInfo.self)
    }

    public func deleteVolume(_ name: String) async throws {
        _ = try await send(.DELETE, "/v1/volumes/\(escape(name))", body: nil)
    }

    public func allowedInitiators(_ name: String) async throws -> [String] {
        try await request(.GET, "/v1/volumes/\(escape(name))/initiators", as: InitiatorList.self).initiators
    }

    public func allow(_ name: String, initiator: String) async throws -> SANVolumeInfo {
        try await request(.POST, "/v1/volumes/\(escape(name))/initiators", body: ["iqn": initiator], as: SANVolumeInfo.self)
    }

    public func disallow(_ name: String, initiator: String) async throws -> SANVolumeInfo {
        try await request(.DELETE, "/v1/volumes/\(escape(name))/initiators/\(escape(initiator))", as: SANVolumeInfo.self)
    }

    /// Allows the initiator and returns the whole connection in one idempotent call.
    public func grant(_ name: String, initiator: String) async throws -> SANGrant {
        try await request(.PUT, "/v1/volumes/\(escape(name))/grants/\(escape(initiator))", as: SANGrant.self)
    }

    /// Takes the initiator's access away; returns once it is fenced. Throws `.san(404, ...)` when
    /// it was not granted (or there is no such volume): the caller decides whether that is success.
    public func revokeGrant(_ name: String, initiator: String) async throws {
        _ = try await send(.DELETE, "/v1/volumes/\(escape(name))/grants/\(escape(initiator))", body: nil)
    }

    struct GroupList: Decodable { var groups: [SANAccessGroupInfo] }

    public func listGroups() async throws -> [SANAccessGroupInfo] {
        try await request(.GET, "/v1/groups", as: GroupList.self).groups
    }

    public func group(_ name: String) async throws -> SANAccessGroupInfo {
        try await request(.GET, "/v1/groups/\(escape(name))", as: SANAccessGroupInfo.self)
    }

    public func createGroup(_ name: String) async throws -> SANAccessGroupInfo {
        try await request(.POST, "/v1/groups", body: ["name": name], as: SANAccessGroupInfo.self)
    }

    /// Returns once every initiator the group gave access is fenced off.
    public func deleteGroup(_ name: String) async throws {
        _ = try await send(.DELETE, "/v1/groups/\(escape(name))", body: nil)
    }

    public func addInitiator(_ initiator: String, toGroup name: String) async throws -> SANAccessGroupInfo {
        try await request(.POST, "/v1/groups/\(escape(name))/initiators", body: ["iqn": initiator], as: SANAccessGroupInfo.self)
    }

    /// Returns once the initiator is fenced off the group's volumes.
    public func removeInitiator(_ initiator: String, fromGroup name: String) async throws -> SANAccessGroupInfo {
        try await request(.DELETE, "/v1/groups/\(escape(name))/initiators/\(escape(initiator))", as: SANAccessGroupInfo.self)
    }

    public func addVolume(_ volume: String, toGroup name: String) async throws -> SANAccessGroupInfo {
        try await request(.POST, "/v1/groups/\(escape(name))/volumes", body: ["volume": volume], as: SANAccessGroupInfo.self)
    }

    /// Returns once the group's initiators are fenced off the volume.
    public func removeVolume(_ volume: String, fromGroup name: String) async throws -> SANAccessGroupInfo {
        try await request(.DELETE, "/v1/groups/\(escape(name))/volumes/\(escape(volume))", as: SANAccessGroupInfo.self)
    }

    func escape(_ segment: String) -> String {
        segment.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? segment
    }

    func request<T: Decodable>(_ method: HTTPMethod, _ path: String, json: some Encodable, as type: T.Type, timeout: TimeAmount = .seconds(60)) async throws -> T {
        try decode(try await send(method, path, bodyData: try JSONEncoder().encode(json), timeout: timeout), path: path, as: type)
    }

    func request<T: Decodable>(_ method: HTTPMethod, _ path: String, body: [String: String]? = nil, as type: T.Type) async throws -> T {
        try decode(try await send(method, path, body: body), path: path, as: type)
    }

    func decode<T: Decodable>(_ data: Data, path: String, as type: T.Type) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch {
            throw LunarClientError.badResponse("\(baseURL)\(path): unexpected reply: \(error)")
        }
    }

    func send(_ method: HTTPMethod, _ path: String, body: [String: String]?) async throws -> Data {
        try await send(method, path, bodyData: try body.map { try JSONEncoder().encode($0) })
    }

    /// One request and its whole body. Not connected at all (refused, or no connection within the
    /// connect timeout) means nothing was sent: unreachable. Any later failure leaves a change's
    /// outcome unknown, except for a read (`retryable`), which is asked once more: a pooled
    /// connection the SAN closed as it stopped fails on reuse with a reset, and a fresh one then
    /// tells "unreachable" from "no answer".
    func exchange(_ request: HTTPClientRequest, retryable: Bool, timeout: TimeAmount = .seconds(60)) async throws -> (HTTPClientResponse, ByteBuffer) {
        for attempt in 1...2 {
            do {
                let response = try await httpClient.execute(request, timeout: timeout)
                return (response, try await response.body.collect(upTo: 64 << 20))
            } catch {
                if (error as? HTTPClientError) == .connectTimeout || error is NIOConnectionError
                    || (error as? IOError).map({ [ECONNREFUSED, EHOSTUNREACH, ENETUNREACH].contains($0.errnoCode) }) == true
                {
                    throw LunarClientError.unreachable("cannot connect to the SAN admin API at \(baseURL): \(error)")
                }
                guard retryable, attempt == 1 else { throw LunarClientError.transport("no answer from the SAN admin API at \(baseURL): \(error)") }
            }
        }
        throw LunarClientError.transport("no answer from the SAN admin API at \(baseURL)")
    }

    func send(_ method: HTTPMethod, _ path: String, bodyData: Data?, timeout: TimeAmount = .seconds(60)) async throws -> Data {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let bodyData {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: bodyData))
        }
        let (response, bytes) = try await exchange(request, retryable: method == .GET, timeout: timeout)
        let data = Data(bytes.readableBytesView)
        try check(response, data)
        return data
    }

    /// Throws the node's error for a reply that is not a success.
    func check(_ response: HTTPClientResponse, _ data: Data) throws {
        guard (200..<300).contains(Int(response.status.code)) else {
            let detail = try? JSONDecoder().decode(SANErrorBody.self, from: data)
            throw LunarClientError.san(
                status: Int(response.status.code), code: detail?.error.code ?? "http_\(response.status.code)", message: detail?.error.message ?? "HTTP \(response.status.code)"
            )
        }
    }
}
