import AsyncHTTPClient
import Foundation
import LunarClient
import LunarModel
import LunarServer
import Testing

/// Every error code of the API over real HTTP on loopback: status equals `errorcode`, the body is
/// `{"<cmd>response":{errorcode, cserrorcode, errortext}}`, `X-Description` carries the text, and
/// nothing changes state.
struct APIErrorTests {
    static func expectError(_ response: TestServer.RawResponse, code: Int, key: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(response.status == code, "body: \(response.text)", sourceLocation: sourceLocation)
        let inner = response.json?[key]?.objectValue
        #expect(inner?["errorcode"]?.intValue == Int64(code), "body: \(response.text)", sourceLocation: sourceLocation)
        #expect(inner?["cserrorcode"]?.intValue != nil, sourceLocation: sourceLocation)
        let text = inner?["errortext"]?.stringValue
        #expect(text?.isEmpty == false, sourceLocation: sourceLocation)
        #expect(response.header("X-Description") == text, sourceLocation: sourceLocation)
        #expect(response.header("Content-Type")?.hasPrefix("application/json") == true, sourceLocation: sourceLocation)
    }

    @Test func unauthenticatedRequestsGet401() async throws {
        try await TestSupport.withServer { (server: TestServer) async throws in
            let keys = server.admin.keys
            // No key, no signature.
            Self.expectError(try await server.raw(query: "command=listZones&response=json"), code: 401, key: "listzonesresponse")
            // A key nobody holds.
            let stranger = UserKeys(apiKey: "nobody", secretKey: "nothing")
            Self.expectError(
                try await server.raw(query: server.signedQuery([("command", "listZones"), ("apiKey", "nobody")], keys: stranger)),
                code: 401, key: "listzonesresponse"
            )
            // The right key, signed with the wrong secret.
            let wrong = UserKeys(apiKey: keys.apiKey, secretKey: keys.secretKey + "x")
            Self.expectError(
                try await server.raw(query: server.signedQuery([("command", "listZones"), ("apiKey", keys.apiKey)], keys: wrong)),
                code: 401, key: "listzonesresponse"
            )
            // A parameter changed after signing.
            let tampered = server.signedQuery([("command", "listZones"), ("apiKey", keys.apiKey), ("name", "a")], keys: keys)
                .replacingOccurrences(of: "name=a", with: "name=b")
            Self.expectError(try await server.raw(query: tampered), code: 401, key: "listzonesresponse")
            // Signature version 3 without `expires`.
            Self.expectError(
                try await server.raw(query: server.signedQuery([("command", "listZones"), ("apiKey", keys.apiKey), ("signatureVersion", "3")], keys: keys)),
                code: 401, key: "listzonesresponse"
            )
            // The right signature works, so the refusals above were about the credentials.
            let good = try await server.raw(query: server.signedQuery([("command", "listZones"), ("apiKey", keys.apiKey)], keys: keys))
            #expect(good.status == 200)
            #expect(good.text == #"{"listzonesresponse":{}}"#)
        }
    }

    @Test func expiredSignatureVersion3IsRefusedAndAFreshOneAccepted() async throws {
        let clock = ManualTimeSource(epochSeconds: 1_795_414_800)
        try await TestSupport.withServer(time: clock) { (server: TestServer) async throws in
            let keys = server.admin.keys
            func query(expires: Int64) -> String {
                server.signedQuery(
                    [("command", "listZones"), ("apiKey", keys.apiKey), ("signatureVersion", "3"), ("expires", CloudStackDate.format(epochSeconds: expires))],
                    keys: keys
                )
            }
            #expect(try await server.raw(query: query(expires: 1_795_414_800 + 60)).status == 200)
            Self.expectError(try await server.raw(query: query(expires: 1_795_414_800 - 1)), code: 401, key: "listzonesresponse")
            // The same request that was fine becomes expired when time passes.
            let later = query(expires: 1_795_414_800 + 60)
            clock.advance(bySeconds: 61)
            Self.expectError(try await server.raw(query: later), code: 401, key: "listzonesresponse")
            // `cs`'s format with a colon in the offset is understood too.
            let colon = server.signedQuery(
                [("command", "listZones"), ("apiKey", keys.apiKey), ("signatureVersion", "3"), ("expires", "2027-01-01T00:00:00+00:00")], keys: keys
            )
            #expect(try await server.raw(query: colon).status == 200)
        }
    }

    @Test func unknownCommandsAndCommandsAboveTheCallersRoleGet432() async throws {
        try await TestSupport.withServer { (server: TestServer) async throws in
            let keys = server.admin.keys
            Self.expectError(
                try await server.raw(query: server.signedQuery([("command", "frobnicate"), ("apiKey", keys.apiKey)], keys: keys)),
                code: 432, key: "frobnicateresponse"
            )
            let user = try await server.makeAccount("alice")
            let error = await TestSupport.apiError {
                _ = try await server.client(keys: user.keys).call("createZone", ["name": "z", "networktype": "Basic", "dns1": "1.1.1.1", "internaldns1": "1.1.1.1"])
            }
            #expect(error?.code == .unsupportedAction)
            #expect(try await server.admin.call("listZones").isEmpty)
        }
    }

    @Test func badParametersGet431() async throws {
        try await TestSupport.withServer { (server: TestServer) async throws in
            let admin = server.admin
            let cases: [(String, [String: String], String)] = [
                ("createZone", ["networktype": "Basic", "dns1": "1.1.1.1", "internaldns1": "1.1.1.1"], "missing parameter name"),
                ("createZone", ["name": "", "networktype": "Basic", "dns1": "1.1.1.1", "internaldns1": "1.1.1.1"], "missing parameter name"),
                ("createZone", ["name": "z", "networktype": "Fancy", "dns1": "1.1.1.1", "internaldns1": "1.1.1.1"], "networktype"),
                ("createZone", ["name": String(repeating: "n", count: 300), "networktype": "Basic", "dns1": "1", "internaldns1": "1"], "longer than 255"),
                ("listZones", ["id": "not-a-uuid"], "not a UUID"),
                ("listZones", ["page": "zero"], "not a whole number"),
                ("listZones", ["pagesize": "100000"], "pagesize"),
                ("listZones", ["available": "yes"], "true or false"),
                ("deleteZone", ["id": UUID().uuidString], "Unable to find zone"),
                ("queryAsyncJobResult", ["jobid": UUID().uuidString], "Unable to find async job"),
                ("deleteAccount", ["id": UUID().uuidString], "Unable to find account"),
                ("addCluster", ["clustername": "c", "zoneid": UUID().uuidString, "hypervisor": "Xen", "clustertype": "CloudManaged"], "hypervisor"),
            ]
            for (command, parameters, fragment) in cases {
                let error = await TestSupport.apiError { _ = try await admin.call(command, parameters) }
                #expect(error?.code == .parameterError, "\(command) \(parameters)")
                #expect(error?.csErrorCode == 4350)
                #expect(error?.text.contains(fragment) == true, "\(error?.text ?? "-") should mention \(fragment)")
            }
            // Nothing was created by any of them.
            #expect(try await admin.call("listZones").isEmpty)
        }
    }

    @Test func unexpectedFailuresGet530AndChangeNothing() async throws {
        struct Boom: Error {}
        let exploding = APICommand(
            name: "explode", description: "fails after writing, inside a transaction", access: .rootAdmin, parameters: [],
            execution: .sync { call in
                try await call.server.store.database.write { sql in
                    try await sql.raw("INSERT INTO settings (name, value) VALUES ('half', 'written')").run()
                    throw Boom()
                }
            }
        )
        try await TestSupport.withServer(extraCommands: [exploding]) { (server: TestServer) async throws in
            let keys = server.admin.keys
            let response = try await server.raw(query: server.signedQuery([("command", "explode"), ("apiKey", keys.apiKey)], keys: keys))
            Self.expectError(response, code: 530, key: "exploderesponse")
            #expect(!response.text.contains("Boom"), "internal details stay in the log")
            // The transaction was rolled back, and the server still answers.
            let count = try await server.admin.call("listZones")
            #expect(count.isEmpty)
        }
    }

    @Test func malformedRequestsAreRefusedWithoutCrashingOrChangingState() async throws {
        try await TestSupport.withServer { (server: TestServer) async throws in
            let keys = server.admin.keys
            // Sent as form bodies: the HTTP client would rewrite such bytes in a URL.
            let form = "application/x-www-form-urlencoded"
            Self.expectError(try await server.raw(method: .POST, query: "", body: "command=listZones&name=%zz", contentType: form), code: 431, key: "errorresponse")
            Self.expectError(try await server.raw(method: .POST, query: "", body: "command=listZones&name=%C3%28", contentType: form), code: 431, key: "errorresponse")
            Self.expectError(try await server.raw(method: .POST, query: "", body: "command=listZones&name=%4", contentType: form), code: 431, key: "errorresponse")
            Self.expectError(
                try await server.raw(method: .POST, query: "", body: #"{"command":"createZone"}"#, contentType: "application/json"),
                code: 431, key: "errorresponse"
            )
            let huge = "command=createZone&name=" + String(repeating: "x", count: 2 << 20)
            let big = try await server.raw(method: .POST, query: "", body: huge, contentType: "application/x-www-form-urlencoded")
            #expect(big.status >= 400)
            Self.expectError(
                try await server.raw(query: server.signedQuery([("command", "listZones"), ("apiKey", keys.apiKey), ("response", "xml")], keys: keys)),
                code: 431, key: "listzonesresponse"
            )
            let flood = (0..<2000).map { "p\($0)=v" }.joined(separator: "&")
            Self.expectError(try await server.raw(query: flood), code: 431, key: "errorresponse")
            #expect(try await server.admin.call("listZones").isEmpty)
            #expect(try await server.admin.call("listCapabilities")["capability"] != nil)
        }
    }
}
