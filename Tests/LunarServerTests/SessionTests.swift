import Foundation
import LunarModel
import NIOHTTP1
import Testing

@testable import LunarServer

/// CloudStack's `login` and `logout` over real HTTP: a session key (and cookie) for the generated
/// admin password, unsigned calls with the key, a wrong password refused (531), the key useless
/// after logout and after its expiry (injected time).
struct SessionTests {
    static func form(_ pairs: [(String, String)]) -> String {
        pairs.map { "\(CloudStackSignature.encode($0.0))=\(CloudStackSignature.encode($0.1))" }.joined(separator: "&")
    }

    @Test func signInUseTheSessionSignOutAndExpire() async throws {
        let time = ManualTimeSource(epochSeconds: 1_800_000_000)
        try await TestSupport.withServer(time: time) { server in
            let password = try String(contentsOfFile: server.dataDirectory + "/admin-password", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            let attributes = try FileManager.default.attributesOfItem(atPath: server.dataDirectory + "/admin-password")
            #expect((attributes[.posixPermissions] as? Int) == 0o600)

            // Wrong password: 531, nothing else said.
            let wrong = try await server.raw(
                method: .POST, query: "", body: Self.form([("command", "login"), ("username", "admin"), ("password", "nope"), ("response", "json")]),
                contentType: "application/x-www-form-urlencoded"
            )
            #expect(wrong.status == 531 && wrong.json?["loginresponse"]?["cserrorcode"]?.intValue == 4290)

            // Right password: a session key in the reply and in a cookie.
            let login = try await server.raw(
                method: .POST, query: "",
                body: Self.form([("command", "login"), ("username", "admin"), ("password", password), ("domain", "/"), ("response", "json")]),
                contentType: "application/x-www-form-urlencoded"
            )
            #expect(login.status == 200, "\(login.text)")
            let session = try #require(login.json?["loginresponse"]?["sessionkey"]?.stringValue)
            #expect(login.headers.contains { $0.0.lowercased() == "set-cookie" && $0.1.hasPrefix("sessionkey=\(session);") && $0.1.contains("HttpOnly") })

            // Unsigned calls with the key work; without it they are 401.
            let zones = try await server.raw(query: Self.form([("command", "listZones"), ("sessionkey", session), ("response", "json")]))
            #expect(zones.status == 200, "\(zones.text)")
            #expect(try await server.raw(query: Self.form([("command", "listZones"), ("response", "json")])).status == 401)
            #expect(try await server.raw(query: Self.form([("command", "listZones"), ("sessionkey", "forged"), ("response", "json")])).status == 401)

            // Idle for longer than the timeout: expired.
            time.advance(bySeconds: Store.sessionTimeoutSeconds - 10)
            #expect(try await server.raw(query: Self.form([("command", "listZones"), ("sessionkey", session)])).status == 200, "use extends it")
            time.advance(bySeconds: Store.sessionTimeoutSeconds + 1)
            #expect(try await server.raw(query: Self.form([("command", "listZones"), ("sessionkey", session)])).status == 401)

            // A new session, then logout: the key is useless after it.
            let again = try await server.raw(
                method: .POST, query: "", body: Self.form([("command", "login"), ("username", "admin"), ("password", password)]),
                contentType: "application/x-www-form-urlencoded"
            )
            let second = try #require(again.json?["loginresponse"]?["sessionkey"]?.stringValue)
            let logout = try await server.raw(query: Self.form([("command", "logout"), ("sessionkey", second)]))
            #expect(logout.status == 200 && logout.json?["logoutresponse"]?["description"]?.stringValue == "success")
            #expect(try await server.raw(query: Self.form([("command", "listZones"), ("sessionkey", second)])).status == 401)
        }
    }
}
