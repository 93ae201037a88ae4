import Crypto
import Foundation

/// CloudStack's request signature, exactly as its management server checks it
/// (`ApiServer.verifyRequest`): every parameter but `signature`, sorted by name as Java sorts
/// strings, each value URL-encoded as `java.net.URLEncoder` does with `+` replaced by `%20`,
/// joined with `&`, the whole string lower-cased, HMAC-SHA1 with the secret key, Base64.
public enum CloudStackSignature {
    /// Percent-encodes a value as `URLEncoder.encode(value, "UTF-8").replace("+", "%20")`:
    /// letters, digits and `.-*_` stay, a space becomes `%20`, every other UTF-8 byte becomes `%XX`.
    public static func encode(_ value: String) -> String {
        var output = ""
        output.reserveCapacity(value.utf8.count)
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "-"),
                UInt8(ascii: "*"), UInt8(ascii: "_"):
                output.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                output += "%"
                output += String(byte >> 4, radix: 16, uppercase: true)
                output += String(byte & 0x0F, radix: 16, uppercase: true)
            }
        }
        return output
    }

    /// The lower-cased string that is signed. Parameter names keep the case the client sent for
    /// sorting (Java's `Arrays.sort` on the names, i.e. UTF-16 code-unit order).
    /// - Parameter parameters: the request's parameters as received (first value of each name).
    public static func canonicalString(_ parameters: [(name: String, value: String)]) -> String {
        parameters
            .filter { $0.name.lowercased() != "signature" }
            .sorted { $0.name.utf16.lexicographicallyPrecedes($1.name.utf16) }
            .map { $0.name + "=" + encode($0.value) }
            .joined(separator: "&")
            .lowercased()
    }

    /// The Base64 HMAC-SHA1 signature of the parameters.
    public static func sign(_ parameters: [(name: String, value: String)], secretKey: String) -> String {
        let message = Data(canonicalString(parameters).utf8)
        let mac = HMAC<Insecure.SHA1>.authenticationCode(for: message, using: SymmetricKey(data: Data(secretKey.utf8)))
        return Data(mac).base64EncodedString()
    }

    /// Whether `signature` is the right one, compared in constant time.
    public static func isValid(
        signature: String,
        for parameters: [(name: String, value: String)],
        secretKey: String
    ) -> Bool {
        let expected = Array(sign(parameters, secretKey: secretKey).utf8)
        let given = Array(signature.utf8)
        guard expected.count == given.count else { return false }
        var difference: UInt8 = 0
        for (lhs, rhs) in zip(expected, given) { difference |= lhs ^ rhs }
        return difference == 0
    }
}
