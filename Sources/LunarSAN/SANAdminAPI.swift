import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import LunarModel
import NIOCore

/// The node's admin HTTP/JSON API, every route behind `Authorization: Bearer <token>`:
///
///     GET    /v1/volumes                          list
///     POST   /v1/volumes  {"name","size","source"?} create (size: bytes or "1G"), a copy of source
///     GET    /v1/volumes/{name}                   show
///     POST   /v1/volumes/{name}/resize {"size"}   grow online
///     DELETE /v1/volumes/{name}                   delete (refused while sessions exist)
///     GET    /v1/volumes/{name}/initiators        allowed initiator names
///     POST   /v1/volumes/{name}/initiators {"iqn"} allow
///     DELETE /v1/volumes/{name}/initiators/{iqn}  disallow (drops its sessions)
///     PUT    /v1/volumes/{name}/grants/{iqn}      allow and return the connection (SANGrant)
///     DELETE /v1/volumes/{name}/grants/{iqn}      revoke; 204 once fenced, 404 when not granted
///     PUT    /v1/volumes/{name}/qos {"min_iops","max_iops","burst_iops"}  change QoS live
///     PUT    /v1/volumes/{name}/data  (raw bytes, Content-Length)  write from offset 0 (no sessions)
///     GET    /v1/volumes/{name}/stats             I/O statistics (last second and totals)
///     GET    /v1/qos                              the node's QoS: enabled, capacity
///     PUT    /v1/qos {"enabled","capacity_iops"}  either or both
///     GET    /metrics                             Prometheus text (no token: loopback scrapers)
///     GET    /v1/capacity                         space and IOPS: total, free, provisioned, reserved
///     GET    /v1/groups                           volume access groups
///     POST   /v1/groups {"name"}                  create
///     GET    /v1/groups/{name}                    show
///     DELETE /v1/groups/{name}                    delete (fences what it granted)
///     POST   /v1/groups/{name}/initiators {"iqn"}      add an initiator
///     DELETE /v1/groups/{name}/initiators/{iqn}        remove one (fenced before the reply)
///     POST   /v1/groups/{name}/volumes {"volume"}      add a volume
///     DELETE /v1/groups/{name}/volumes/{volume}        remove one (fenced before the reply)
///     GET    /v1/accounts                         accounts (never their secrets)
///     POST   /v1/accounts {"name","initiator_secret"?,"target_secret"?}  create; the secrets, once
///     GET    /v1/accounts/{name}                  show (no secrets)
///     GET    /v1/accounts/{name}/secrets          the CHAP secrets, asked for explicitly
///     DELETE /v1/accounts/{name}                  delete (refused while it owns volumes)
///
/// Every call that takes access away answers only after the initiators that lost it are fenced:
/// their queued commands dropped, those at the disk finished, their sessions closed.
///
/// Errors are `{"error":{"code":"volume_not_found","message":"..."}}` with the code's status.
enum SANAdminAPI {
    static let maximumBodyBytes = 64 * 1024

    struct CreateRequest: Decodable {
        var name: String
        var size: SizeValue
        var qos: SANVolumeQoS?
        var account: String?
        /// A volume whose data the new one starts with (copied on the node).
        var source: String?
    }

    struct UploadResult: Encodable {
        var volume: String
        var bytes: UInt64
    }

    struct AccountRequest: Decodable {
        var name: String
        var initiatorSecret: String?
        var targetSecret: String?

        enum CodingKeys: String, CodingKey {
            case name
            case initiatorSecret = "initiator_secret"
            case targetSecret = "target_secret"
        }
    }

    struct AccountList: Encodable {
        var accounts: [SANAccountInfo]
    }

    struct NodeQoSRequest: Decodable {
        var enabled: Bool?
        var capacityIOPS: Int?

        enum CodingKeys: String, CodingKey {
            case enabled
            case capacityIOPS = "capacity_iops"
        }
    }

    struct ResizeRequest: Decodable {
        var size: SizeValue
    }

    struct AllowRequest: Decodable {
        var iqn: String
    }

    /// A size as a number of bytes or a string such as "1G".
    struct SizeValue: Decodable {
        var bytes: UInt64

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let number = try? container.decode(UInt64.self) {
                bytes = number
            } else if let text = try? container.decode(String.self), let parsed = ByteSize.parse(text) {
                bytes = parsed
            } else {
                throw SANError(.invalidSize, "size must be a number of bytes or a string such as \"10G\"")
            }
        }
    }

    struct VolumeList: Encodable {
        var volumes: [SANVolumeInfo]
    }

    struct InitiatorList: Encodable {
        var initiators: [String]
    }

    struct GroupList: Encodable {
        var groups: [SANAccessGroupInfo]
    }

    struct NameRequest: Decodable {
        var name: String
    }

    struct VolumeRequest: Decodable {
        var volume: String
    }

    static func router(store: VolumeStore, token: String, portal: String = "") -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        let expected = Array(SHA256.hash(data: Data(token.utf8)))
        let volumes = router.group("v1/volumes")
        func guarded(
            _ body: @escaping @Sendable (Request, BasicRequestContext) async throws -> Response
        ) -> @Sendable (Request, BasicRequestContext) async throws -> Response {
            { request, context in
                do {
                    // Hashes compared, so the comparison's time says nothing about the token.
                    let presented = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil } ?? ""
                    guard Array(SHA256.hash(data: Data(presented.utf8))) == expected else {
                        throw SANError(.unauthorized, "a valid bearer token is required (see \(SANConfiguration.tokenFileName) in the data folder)")
                    }
                    return try await body(request, context)
                } catch let error as SANError {
                    return errorResponse(error)
                } catch let error as DecodingError {
                    return errorResponse(SANError(.invalidRequest, "the JSON body does not match: \(describe(error))"))
                } catch {
                    return errorResponse(SANError(.invalidRequest, "malformed request: \(error)"))
                }
            }
        }
        volumes.get(use: guarded { _, _ in try json(VolumeList(volumes: await store.list())) })
        volumes.post(
            use: guarded { request, _ in
                let body = try await decode(CreateRequest.self, request)
                return try json(
                    try await store.create(name: body.name, sizeBytes: body.size.bytes, qos: body.qos, account: body.account, source: body.source), status: .created
                )
            }
        )
        volumes.get(":name", use: guarded { _, context in try json(try await store.show(try name(context))) })
        volumes.delete(
            ":name",
            use: guarded { _, context in
                try await store.delete(name: try name(context))
                return Response(status: .noContent)
            }
        )
        volumes.post(
            ":name/resize",
            use: guarded { request, context in
                let body = try await decode(ResizeRequest.self, request)
                return try json(try await store.resize(name: try name(context), sizeBytes: body.size.bytes))
            }
        )
        volumes.get(":name/initiators", use: guarded { _, context in try json(InitiatorList(initiators: try await store.show(try name(context)).allowedInitiators)) })
        volumes.post(
            ":name/initiators",
            use: guarded { request, context in
                let body = try await decode(AllowRequest.self, request)
                return try json(try await store.allow(name: try name(context), initiator: body.iqn))
            }
        )
        volumes.delete(
            ":name/initiators/:iqn",
            use: guarded { _, context in
                guard let iqn = context.parameters.get("iqn")?.removingPercentEncoding else { throw SANError(.invalidInitiator, "no initiator name") }
                return try json(try await store.disallow(name: try name(context), initiator: iqn))
            }
        )
        // One idempotent call allows the initiator and returns the whole connection; its mirror
        // answers only after the fence (the management server's grant and revoke).
        volumes.put(
            ":name/grants/:iqn",
            use: guarded { _, context in
                guard let iqn = context.parameters.get("iqn")?.removingPercentEncoding else { throw SANError(.invalidInitiator, "no initiator name") }
                return try json(try await store.grant(name: try name(context), initiator: iqn, portal: portal))
            }
        )
        volumes.delete(
            ":name/grants/:iqn",
            use: guarded { _, context in
                guard let iqn = context.parameters.get("iqn")?.removingPercentEncoding else { throw SANError(.invalidInitiator, "no initiator name") }
                try await store.revokeGrant(name: try name(context), initiator: iqn)
                return Response(status: .noContent)
            }
        )
        volumes.put(
            ":name/qos",
            use: guarded { request, context in
                let body = try await decode(SANVolumeQoS.self, request)
                return try json(try await store.setQoS(name: try name(context), qos: body))
            }
        )
        volumes.put(
            ":name/data",
            use: guarded { request, context in
                let volume = try name(context)
                guard let text = request.headers[.contentLength], let length = UInt64(text) else {
                    throw SANError(.invalidRequest, "an upload needs a Content-Length (the bytes to write from offset 0)")
                }
                let device = try await store.beginUpload(name: volume, length: length)
                do {
                    try await SANUpload.write(request.body, length: length, into: device)
                } catch {
                    await store.endUpload(name: volume)
                    throw error
                }
                await store.endUpload(name: volume)
                return try json(UploadResult(volume: volume, bytes: length))
            }
        )
        volumes.get(":name/stats", use: guarded { _, context in try json(try await store.statistics(try name(context))) })
        let groups = router.group("v1/groups")
        groups.get(use: guarded { _, _ in try json(GroupList(groups: await store.listGroups())) })
        groups.post(use: guarded { request, _ in try json(try await store.createGroup(try await decode(NameRequest.self, request).name), status: .created) })
        groups.get(":name", use: guarded { _, context in try json(try await store.showGroup(try name(context))) })
        groups.delete(
            ":name",
            use: guarded { _, context in
                try await store.deleteGroup(try name(context))
                return Response(status: .noContent)
            }
        )
        groups.post(
            ":name/initiators",
            use: guarded { request, context in
                try json(try await store.addInitiator(try await decode(AllowRequest.self, request).iqn, toGroup: try name(context)))
            }
        )
        groups.delete(
            ":name/initiators/:iqn",
            use: guarded { _, context in
                guard let iqn = context.parameters.get("iqn")?.removingPercentEncoding else { throw SANError(.invalidInitiator, "no initiator name") }
                return try json(try await store.removeInitiator(iqn, fromGroup: try name(context)))
            }
        )
        groups.post(
            ":name/volumes",
            use: guarded { request, context in
                try json(try await store.addVolume(try await decode(VolumeRequest.self, request).volume, toGroup: try name(context)))
            }
        )
        groups.delete(
            ":name/volumes/:volume",
            use: guarded { _, context in
                guard let volume = context.parameters.get("volume") else { throw SANError(.invalidName, "no volume name") }
                return try json(try await store.removeVolume(volume, fromGroup: try name(context)))
            }
        )
        let accounts = router.group("v1/accounts")
        accounts.get(use: guarded { _, _ in try json(AccountList(accounts: await store.listAccounts())) })
        accounts.post(
            use: guarded { request, _ in
                let body = try await decode(AccountRequest.self, request)
                return try json(try await store.createAccount(body.name, initiatorSecret: body.initiatorSecret, targetSecret: body.targetSecret), status: .created)
            }
        )
        accounts.get(":name", use: guarded { _, context in try json(try await store.showAccount(try name(context))) })
        accounts.get(":name/secrets", use: guarded { _, context in try json(try await store.accountSecrets(try name(context))) })
        accounts.delete(
            ":name",
            use: guarded { _, context in
                try await store.deleteAccount(try name(context))
                return Response(status: .noContent)
            }
        )
        router.get(
            "v1/capacity",
            use: guarded { _, _ in
                var capacity = await store.capacity()
                capacity.portal = portal
                return try json(capacity)
            }
        )
        router.get("v1/qos", use: guarded { _, _ in try json(store.qos.settings) })
        router.put(
            "v1/qos",
            use: guarded { request, _ in
                let body = try await decode(NodeQoSRequest.self, request)
                if let capacity = body.capacityIOPS, !(100...10_000_000).contains(capacity) {
                    throw SANError(.invalidQoS, "capacity_iops must be 100 to 10,000,000")
                }
                return try json(store.qos.update(enabled: body.enabled, capacityIOPS: body.capacityIOPS))
            }
        )
        router.get(
            "metrics",
            use: { _, _ in
                let capacity = await store.capacity()
                // The node's disk beside the per-volume series: thin provisioning's real free space.
                let node = """
                    # HELP lunar_san_disk_bytes Bytes of the node's disk (total and free) and provisioned to volumes.
                    # TYPE lunar_san_disk_bytes gauge
                    lunar_san_disk_bytes{kind="total"} \(capacity.totalBytes)
                    lunar_san_disk_bytes{kind="free"} \(capacity.freeBytes)
                    lunar_san_disk_bytes{kind="provisioned"} \(capacity.provisionedBytes)
                    lunar_san_disk_bytes{kind="allocated"} \(capacity.allocatedBytes)
                    # HELP lunar_san_free_space_low 1 when under 10 % of the node's disk is free.
                    # TYPE lunar_san_free_space_low gauge
                    lunar_san_free_space_low \(capacity.totalBytes > 0 && capacity.freeBytes < capacity.totalBytes / 10 ? 1 : 0)

                    """
                return Response(
                    status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                    body: ResponseBody(byteBuffer: ByteBuffer(string: store.qos.renderMetrics() + node))
                )
            }
        )
        router.get(
            "v1/initiators/:iqn/activity",
            use: guarded { _, context in
                guard let iqn = context.parameters.get("iqn") else { throw SANError(.invalidName, "no initiator name") }
                return try json(await store.initiatorActivity(iqn))
            }
        )
        router.get("v1/health", use: { _, _ in try json(["status": "ok"]) })
        return router
    }

    static func name(_ context: BasicRequestContext) throws -> String {
        guard let name = context.parameters.get("name") else { throw SANError(.invalidName, "no volume name") }
        return name
    }

    static func decode<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: maximumBodyBytes)
        } catch {
            throw SANError(.invalidRequest, "the body is larger than \(maximumBodyBytes) bytes or could not be read")
        }
        do {
            return try JSONDecoder().decode(type, from: Data(body.readableBytesView))
        } catch let error as SANError {
            throw error
        } catch let error as DecodingError {
            if case .dataCorrupted(let context) = error, let underlying = context.underlyingError as? SANError { throw underlying }
            throw SANError(.invalidRequest, "the JSON body does not match: \(describe(error))")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, _): "missing field \(key.stringValue)"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            "wrong type at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        case .dataCorrupted: "not valid JSON"
        @unknown default: "\(error)"
        }
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(data: try encoder.encode(value)))
        )
    }

    static func errorResponse(_ error: SANError) -> Response {
        let body = (try? encoder.encode(SANErrorBody(code: error.code.name, message: error.message))) ?? Data()
        return Response(
            status: HTTPResponse.Status(code: error.code.httpStatus), headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(data: body))
        )
    }
}
