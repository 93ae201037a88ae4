import Foundation
import InMemoryLogging
import Logging
import LunarClient
import LunarModel
import LunarServer
import Testing

struct APIBehaviourTests {
    static let zoneParameters = ["networktype": "Basic", "dns1": "1.1.1.1", "internaldns1": "10.0.0.1"]

    @Test func getAndPostBothWorkAndParameterNamesAreCaseInsensitive() async throws {
        try await TestSupport.withServer { (server: TestServer) async throws in
            let keys = server.admin.keys
            // GET with mixed-case names, as CloudStack clients send them.
            let created = try await server.raw(
                query: server.signedQuery(
                    [("command", "createZone"), ("apiKey", keys.apiKey), ("Name", "z one"), ("networkType", "Basic"), ("DNS1", "1.1.1.1"),
                     ("internalDns1", "10.0.0.1")],
                    keys: keys
                )
            )
            #expect(created.status == 200, "\(created.text)")
            let zoneID = try #require(created.json?["createzoneresponse"]?["zone"]?["id"]?.stringValue)
            // POST form body (the Lunar client posts).
            let listed = try await server.admin.call("listZones", ["zoneId": zoneID.uppercased()])
            #expect(listed["count"]?.intValue == 1)
            #expect(listed["zone"]?.arrayValue?.first?["name"]?.stringValue == "z one")
        }
    }

    @Test func repliesHaveCloudStacksShape() async throws {
        try await TestSupport.withServer { (server: TestServer) async throws in
            let keys = server.admin.keys
            let empty = try await server.raw(query: server.signedQuery([("command", "listZones"), ("apiKey", keys.apiKey)], keys: keys))
            #expect(empty.text == #"{"listzonesresponse":{}}"#)
            _ = try await server.admin.call("createZone", Self.zoneParameters.merging(["name": "z1"]) { $1 })
            let one = try await server.raw(query: server.signedQuery([("command", "listZones"), ("apiKey", keys.apiKey)], keys: keys))
            #expect(one.text.hasPrefix(#"{"listzonesresponse":{"count":1,"zone":[{"id":""#))
            #expect(!one.text.contains("null"), "absent fields are left out, never null")
            #expect(!one.text.contains("\"dns2\""))
        }
    }

    @Test func booleansAcceptAnyCase() async throws {
        try await TestSupport.withServer { (server: TestServer) async throws in
            for value in ["true", "True", "TRUE", "false", "False"] {
                #expect(try await server.admin.call("listAsyncJobs", ["listall": value]) == JSONObject())
            }
        }
    }

    @Test func pagingAndKeyword() async throws {
        try await TestSupport.withServer { (server: TestServer) async throws in
            for index in 1...7 {
                _ = try await server.admin.call("createZone", Self.zoneParameters.merging(["name": "zone-\(index)"]) { $1 })
            }
            let everything = try await server.admin.call("listZones")["zone"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            #expect(Set(everything).count == 7)
            let page2 = try await server.admin.call("listZones", ["page": "2", "pagesize": "3"])
            #expect(page2["count"]?.intValue == 7)
            #expect(page2["zone"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == Array(everything[3..<6]))
            let page3 = try await server.admin.call("listZones", ["page": "3", "pagesize": "3"])
            #expect(page3["zone"]?.arrayValue?.count == 1)
            let all = try await server.admin.call("listZones", ["pagesize": "-1"])
            #expect(all["zone"]?.arrayValue?.count == 7)
            let keyword = try await server.admin.call("listZones", ["keyword": "ne-7"])
            #expect(keyword["count"]?.intValue == 1)
        }
    }

    @Test func infrastructureTreeAndDeletionRules() async throws {
        try await TestSupport.withServer { (server: TestServer) async throws in
            let admin = server.admin
            let zoneID = try #require(try await admin.call("createZone", Self.zoneParameters.merging(["name": "z"]) { $1 })["zone"]?["id"]?.stringValue)
            let duplicate = await TestSupport.apiError { _ = try await admin.call("createZone", Self.zoneParameters.merging(["name": "z"]) { $1 }) }
            #expect(duplicate?.code == .parameterError)
            // Without a pod, a cluster lands in the zone's default pod, made on demand.
            let cluster = try await admin.call("addCluster", ["clustername": "c1", "zoneid": zoneID, "hypervisor": "simulator", "clustertype": "CloudManaged"])
            let clusterObject = try #require(cluster["cluster"]?.arrayValue?.first)
            #expect(clusterObject["podname"]?.stringValue == "default")
            #expect(clusterObject["hypervisortype"]?.stringValue == "Simulator")
            let pods = try await admin.call("listPods", ["zoneid": zoneID])
            #expect(pods["count"]?.intValue == 1)
            let podID = try #require(pods["pod"]?.arrayValue?.first?["id"]?.stringValue)
            _ = try await admin.call("addCluster", ["clustername": "c2", "zoneid": zoneID, "podid": podID, "hypervisor": "KVM", "clustertype": "CloudManaged"])
            #expect(try await admin.call("listClusters", ["hypervisor": "KVM"])["count"]?.intValue == 1)
            // Parents with children refuse deletion, saying why.
            let zoneInUse = await TestSupport.apiError { _ = try await admin.call("deleteZone", ["id": zoneID]) }
            #expect(zoneInUse?.text.contains("pod") == true)
            let podInUse = await TestSupport.apiError { _ = try await admin.call("deletePod", ["id": podID]) }
            #expect(podInUse?.text.contains("cluster") == true)
            for entry in try await admin.call("listClusters")["cluster"]?.arrayValue ?? [] {
                #expect(try await admin.call("deleteCluster", ["id": entry["id"]!.stringValue!])["success"] == true)
            }
            #expect(try await admin.call("deletePod", ["id": podID])["success"] == true)
            #expect(try await admin.call("deleteZone", ["id": zoneID])["success"] == true)
            #expect(try await admin.call("listHosts").isEmpty)
        }
    }

    @Test func asyncJobReportsStatusResultAndJournal() async throws {
        try await TestSupport.withServer { (server: TestServer) async throws in
            let target = try await server.makeAccount("bob")
            let reply = try await server.admin.call("deleteAccount", ["id": target.accountID])
            let jobID = try #require(reply["jobid"]?.stringValue)
            let result = try await server.admin.waitForJob(jobID, timeoutSeconds: 30, pollInterval: .milliseconds(20))
            #expect(result == JSONObject(["success": true]))
            let job = try await server.admin.call("queryAsyncJobResult", ["jobid": jobID])
            #expect(job["jobstatus"]?.intValue == 1)
            #expect(job["jobresultcode"]?.intValue == 0)
            #expect(job["jobresulttype"]?.stringValue == "object")
            #expect(job["jobinstancetype"]?.stringValue == "Account")
            #expect(job["jobinstanceid"]?.stringValue == target.accountID)
            #expect(job["cmd"]?.stringValue == "deleteAccount")
            #expect(job["completed"] != nil)
            let jobs = try await server.admin.call("listAsyncJobs")
            #expect(jobs["asyncjobs"]?.arrayValue?.contains { $0["jobid"]?.stringValue == jobID } == true)
            // The deleted account's keys no longer work.
            let error = await TestSupport.apiError { _ = try await server.client(keys: target.keys).call("listZones") }
            #expect(error?.code == .unauthorized)
            // A failing job reports errorcode and errortext in its result.
            let selfDelete = await TestSupport.apiError {
                let admins = try await server.admin.call("listAccounts", ["name": "admin"])
                _ = try await server.admin.call("deleteAccount", ["id": admins["account"]!.arrayValue![0]["id"]!.stringValue!])
            }
            #expect(selfDelete?.code == .parameterError)
        }
    }

    @Test func accountsCannotSeeEachOther() async throws {
        try await TestSupport.withServer { (server: TestServer) async throws in
            let alice = try await server.makeAccount("alice")
            let bob = try await server.makeAccount("bob")
            let aliceClient = server.client(keys: alice.keys)
            // Alice sees her account and users only, whatever she asks for.
            let accounts = try await aliceClient.call("listAccounts", ["listall": "true"])
            #expect(accounts["account"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["alice"])
            #expect(try await aliceClient.call("listAccounts", ["id": bob.accountID]).isEmpty)
            let users = try await aliceClient.call("listUsers", ["listall": "true"])
            #expect(users["user"]?.arrayValue?.compactMap { $0["username"]?.stringValue } == ["alice"])
            #expect(try await aliceClient.call("listUsers", ["accountid": bob.accountID]).isEmpty)
            #expect(try await aliceClient.call("listUsers", ["id": bob.userID]).isEmpty)
            // She cannot read or replace Bob's keys, and the refusal does not confirm he exists.
            for command in ["getUserKeys", "registerUserKeys"] {
                let error = await TestSupport.apiError { _ = try await aliceClient.call(command, ["id": bob.userID]) }
                #expect(error?.code == .parameterError)
                #expect(error?.text.contains("Unable to find user") == true)
            }
            // Nor see the admin's jobs.
            let carol = try await server.makeAccount("carol")
            let jobID = try #require(try await server.admin.call("deleteAccount", ["id": carol.accountID])["jobid"]?.stringValue)
            _ = try await server.admin.waitForJob(jobID, timeoutSeconds: 30, pollInterval: .milliseconds(20))
            let hidden = await TestSupport.apiError { _ = try await aliceClient.call("queryAsyncJobResult", ["jobid": jobID]) }
            #expect(hidden?.code == .parameterError)
            #expect(try await aliceClient.call("listAsyncJobs", ["listall": "true"]).isEmpty)
            // And admin-only commands do not exist for her.
            for command in ["createAccount", "deleteAccount", "listHosts", "listPods", "listClusters"] {
                let error = await TestSupport.apiError { _ = try await aliceClient.call(command, ["id": bob.accountID]) }
                #expect(error?.code == .unsupportedAction, "\(command)")
            }
            let apis = try await aliceClient.call("listApis")
            let names = Set(apis["api"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [])
            #expect(names.contains("listZones") && !names.contains("createAccount"))
            // She may read and rotate her own keys; the old pair then stops working.
            #expect(try await aliceClient.call("getUserKeys", ["id": alice.userID])["userkeys"]?["secretkey"]?.stringValue == alice.keys.secretKey)
            let rotated = try await aliceClient.call("registerUserKeys", ["id": alice.userID])["userkeys"]
            let newKeys = UserKeys(apiKey: rotated!["apikey"]!.stringValue!, secretKey: rotated!["secretkey"]!.stringValue!)
            let stale = await TestSupport.apiError { _ = try await aliceClient.call("listZones") }
            #expect(stale?.code == .unauthorized)
            #expect(try await server.client(keys: newKeys).call("listZones").isEmpty)
        }
    }

    @Test func listUsersNeverShowsSecrets() async throws {
        try await TestSupport.withServer { (server: TestServer) async throws in
            let alice = try await server.makeAccount("alice")
            let text = try await server.admin.call("listUsers").serialized + (try await server.admin.call("listAccounts").serialized)
            #expect(!text.contains(alice.keys.secretKey))
            #expect(!text.contains(server.admin.keys.secretKey))
            #expect(!text.contains("pw-alice"))
            #expect(text.contains(alice.keys.apiKey))
        }
    }

    @Test func rotatingTheRootKeysRewritesTheKeysFile() async throws {
        try await TestSupport.withServer { (server: TestServer) async throws in
            let users = try await server.admin.call("listUsers", ["username": "admin"])
            let adminUserID = try #require(users["user"]?.arrayValue?.first?["id"]?.stringValue)
            let rotated = try await server.admin.call("registerUserKeys", ["id": adminUserID])
            let file = try JSONDecoder().decode(UserKeys.self, from: Data(contentsOf: URL(fileURLWithPath: server.dataDirectory + "/admin-keys.json")))
            #expect(file.secretKey == rotated["userkeys"]?["secretkey"]?.stringValue)
            let attributes = try FileManager.default.attributesOfItem(atPath: server.dataDirectory + "/admin-keys.json")
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        }
    }

    @Test func listApisIsGeneratedFromTheCommandTable() async throws {
        try await TestSupport.withServer { (server: TestServer) async throws in
            let apis = try await server.admin.call("listApis")
            let list = try #require(apis["api"]?.arrayValue)
            #expect(apis["count"]?.intValue == Int64(list.count))
            let deleteAccount = try #require(list.first { $0["name"]?.stringValue == "deleteAccount" })
            #expect(deleteAccount["isasync"] == true)
            let createZone = try #require(list.first { $0["name"]?.stringValue == "createZone" })
            #expect(createZone["isasync"] == false)
            let params = try #require(createZone["params"]?.arrayValue)
            let name = try #require(params.first { $0["name"]?.stringValue == "name" })
            #expect(name["required"] == true)
            #expect(name["type"]?.stringValue == "string")
            #expect(name["length"]?.intValue == 255)
            #expect(createZone["response"]?.arrayValue?.isEmpty == false)
            let one = try await server.admin.call("listApis", ["name": "listzones"])
            #expect(one["count"]?.intValue == 1)
        }
    }

    @Test func secretsNeverReachTheLog() async throws {
        let handler = InMemoryLogHandler()
        var logger = Logger(label: "test", factory: { _ in handler })
        logger.logLevel = .trace
        let secrets = try await TestSupport.withServer(logger: logger) { (server: TestServer) async throws in
            let alice = try await server.makeAccount("alice")
            _ = try await server.admin.call("listZones")
            _ = await TestSupport.apiError { _ = try await server.client(keys: UserKeys(apiKey: alice.keys.apiKey, secretKey: "wrong")).call("listZones") }
            return [alice.keys.secretKey, server.admin.keys.secretKey]
        }
        let logged = handler.entries.map { "\($0.message) \($0.metadata)" }.joined(separator: "\n")
        #expect(!logged.isEmpty)
        for secret in secrets { #expect(!logged.contains(secret)) }
        #expect(!logged.contains("pw-alice"))
        #expect(!logged.contains("secretkey"))
        #expect(!logged.contains("signature="))
    }
}
