import LunarModel
import Testing

struct JSONValueTests {
    @Test func objectsKeepOrderAndLeaveOutAbsentValues() {
        let absent: String? = nil
        let object = JSONObject(["b": 1, "a": "x", "c": absent.json, "d": .array([true, .object(JSONObject())])])
        #expect(object.serialized == #"{"b":1,"a":"x","d":[true,{}]}"#)
    }

    @Test func escapesStrings() {
        #expect(JSONValue.string("q\"\\\n\u{01}é").serialized == #""q\"\\\n\u0001é""#)
    }

    @Test func parsesWhatItWrites() throws {
        let object = JSONObject(["z": "é ☃", "n": -12, "f": .double(1.5), "l": .array(["a", false]), "o": .object(JSONObject(["k": "v"]))])
        #expect(try JSONValue.parse(object.serialized) == .object(object))
    }

    @Test func parsesSurrogatePairsAndNull() throws {
        #expect(try JSONValue.parse(#"["\ud83d\ude00", null]"#) == .array(["😀", .null]))
        // null stays null (it used to become an empty object), and writes back as null.
        let object = try JSONValue.parse(#"{"a": null, "b": {}}"#)
        #expect(object["a"] == .null && object["b"] == .object(JSONObject()))
        #expect(JSONValue.array([.null]).serialized == "[null]")
    }

    @Test func refusesDeepNesting() {
        let deep = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        #expect(throws: LunarError.self) { try JSONValue.parse(deep) }
    }

    // Foundation's JSONSerialization on Linux accepts a trailing comma ("[1,]"), so it is not here.
    @Test(arguments: ["", "{", #"{"a":}"#, "[,1]", #""abc"#, "tru", "1 2", String(repeating: "[", count: 500)])
    func refusesMalformed(_ text: String) {
        #expect(throws: LunarError.self) { try JSONValue.parse(text) }
    }
}

struct IdentifierTests {
    @Test func acceptsUUIDsOnlyAndLowerCases() {
        #expect(ZoneID("3ECF82FB-6CBE-4565-9F02-A1C8A00B4A01")?.uuid == "3ecf82fb-6cbe-4565-9f02-a1c8a00b4a01")
        #expect(ZoneID("not-a-uuid") == nil)
        #expect(ZoneID("") == nil)
    }

    @Test func seededGenerationReplays() {
        var first = SplitMix64(state: 42)
        var second = SplitMix64(state: 42)
        #expect(ZoneID.random(using: &first) == ZoneID.random(using: &second))
        #expect(ZoneID(ZoneID.random(using: &first).uuid) != nil)
    }

    @Test func generatedKeysLookLikeCloudStacks() {
        var generator = SystemRandomNumberGenerator()
        let keys = UserKeys.generate(using: &generator)
        #expect(keys.apiKey.count == 86)
        #expect(keys.secretKey.count == 86)
        #expect(keys.apiKey != keys.secretKey)
        #expect(keys.apiKey.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
    }
}
