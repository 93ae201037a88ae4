import LunarModel
import Testing

/// Vectors computed by the Python `cs` client's signer (an independent implementation that
/// CloudStack servers accept), with secret `secret-Key_1`.
struct CloudStackSignatureTests {
    static let secret = "secret-Key_1"

    struct Vector: Sendable, CustomTestStringConvertible {
        let parameters: [(name: String, value: String)]
        let signature: String
        var testDescription: String { parameters.map(\.name).joined(separator: ",") + " → " + signature }
    }

    static let vectors: [Vector] = [
        Vector(parameters: [("command", "listZones"), ("apiKey", "plainkey"), ("response", "json")], signature: "+B8OBILRYsK3wBtbbNMVgVJvroY="),
        Vector(parameters: [("command", "createZone"), ("apiKey", "K"), ("name", "zone one"), ("dns1", "8.8.8.8")], signature: "rZtR6w6vkzxoTYFYjT6dLk4eY0o="),
        Vector(
            parameters: [("command", "createZone"), ("apiKey", "K"), ("name", "a*b+c=d&e"), ("description", "100% sure; ok?")],
            signature: "S7DiKQP5pzNdOP4ctt0Ge5tyM0U="
        ),
        Vector(
            parameters: [("command", "createZone"), ("apiKey", "K"), ("name", "Zürich ☃ 東京"), ("zoneId", "ABC")],
            signature: "8PDM65prJgcvx0aJk9EvbNFr1aM="
        ),
        Vector(
            parameters: [
                ("command", "listUsers"), ("apiKey", "K"), ("signatureVersion", "3"), ("expires", "2026-11-23T06:20:00+0000"), ("keyword", "x/y\\z"),
            ],
            signature: "MrNAm3yaOoYXlz+9Q6y4vbTKeiU="
        ),
    ]

    @Test(arguments: vectors)
    func signatureMatchesReferenceClient(_ vector: Vector) {
        #expect(CloudStackSignature.sign(vector.parameters, secretKey: Self.secret) == vector.signature)
        #expect(CloudStackSignature.isValid(signature: vector.signature, for: vector.parameters, secretKey: Self.secret))
    }

    @Test(arguments: vectors)
    func wrongSecretIsRefused(_ vector: Vector) {
        #expect(!CloudStackSignature.isValid(signature: vector.signature, for: vector.parameters, secretKey: Self.secret + "x"))
        #expect(!CloudStackSignature.isValid(signature: vector.signature, for: vector.parameters, secretKey: ""))
    }

    @Test func changedValueIsRefused() {
        var parameters = Self.vectors[1].parameters
        parameters[2].value = "zone two"
        #expect(!CloudStackSignature.isValid(signature: Self.vectors[1].signature, for: parameters, secretKey: Self.secret))
    }

    @Test func signatureParameterItselfIsNotSigned() {
        let parameters = Self.vectors[0].parameters
        let withSignature = parameters + [("signature", "anything")]
        #expect(CloudStackSignature.sign(withSignature, secretKey: Self.secret) == Self.vectors[0].signature)
    }

    @Test func encodingFollowsJavaURLEncoderWithSpacesAsPercent20() {
        #expect(CloudStackSignature.encode("a b") == "a%20b")
        #expect(CloudStackSignature.encode("a+b") == "a%2Bb")
        #expect(CloudStackSignature.encode("*._-") == "*._-")
        #expect(CloudStackSignature.encode("=&") == "%3D%26")
        #expect(CloudStackSignature.encode("~") == "%7E")
        #expect(CloudStackSignature.encode("é") == "%C3%A9")
    }

    @Test func canonicalStringSortsNamesCaseSensitivelyThenLowerCases() {
        let canonical = CloudStackSignature.canonicalString([("zoneid", "1"), ("Name", "X Y"), ("apiKey", "K")])
        // Java's sort puts upper case first: Name < apiKey < zoneid.
        #expect(canonical == "name=x%20y&apikey=k&zoneid=1")
    }
}

struct CloudStackDateTests {
    @Test func formatsAsCloudStackDoes() {
        #expect(CloudStackDate.format(epochSeconds: 0) == "1970-01-01T00:00:00+0000")
        #expect(CloudStackDate.format(epochSeconds: 1_795_410_000) == "2026-11-23T05:00:00+0000")
    }

    @Test(arguments: [
        "2026-11-23T05:00:00+0000", "2026-11-23T05:00:00Z", "2026-11-23T05:00:00+00:00", "2026-11-23T06:00:00+0100",
        "2026-11-23T04:30:00-0030", "2026-11-23T05:00:00.123Z",
    ])
    func parsesZonesAndOffsets(_ text: String) {
        #expect(CloudStackDate.parse(text) == 1_795_410_000)
    }

    @Test(arguments: ["", "yesterday", "2026-13-01T00:00:00Z", "2026-11-23T05:00:00", "2026-11-23T05:00:00+00", "2026-11-23T25:00:00Z"])
    func refusesMalformed(_ text: String) {
        #expect(CloudStackDate.parse(text) == nil)
    }

    @Test func roundTripsOverManyDates() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<1000 {
            let seconds = Int64.random(in: 0...4_102_444_800, using: &generator)
            #expect(CloudStackDate.parse(CloudStackDate.format(epochSeconds: seconds)) == seconds)
        }
    }
}
