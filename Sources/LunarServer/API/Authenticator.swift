import LunarModel

/// Verifies a request's API key and signature as CloudStack does, including signature version 3
/// with `expires`. Every failure is the same 401 to the client (no hint which part was wrong).
struct Authenticator: Sendable {
    let store: Store
    let time: any TimeSource

    static let refusal = LunarError(.unauthorized, "unable to verify user credentials and/or request signature")

    /// - Parameter raw: the parameters exactly as received (names in their original case).
    func authenticate(_ raw: [(name: String, value: String)], parameters: APIParameters) async throws -> Caller {
        // A signed-in page (CloudStack's UI) sends its session key instead of a signature.
        if parameters["apikey"] == nil, let session = parameters["sessionkey"] {
            guard let caller = try await store.sessionCaller(session) else {
                throw LunarError(.unauthorized, "unable to verify user credentials: the session has ended or expired; sign in again")
            }
            guard caller.user.state == .enabled, caller.account.state == .enabled else { throw LunarError(.unauthorized, "the user or account is disabled") }
            return caller
        }
        guard let apiKey = parameters["apikey"], !apiKey.isEmpty, apiKey.count <= 512,
            let signature = parameters["signature"], !signature.isEmpty
        else { throw Self.refusal }
        if parameters["signatureversion"] == "3" {
            guard let expiresText = parameters["expires"], let expires = CloudStackDate.parse(expiresText) else {
                throw Self.refusal
            }
            guard expires >= time.nowEpochSeconds() else {
                throw LunarError(.unauthorized, "unable to verify user credentials and/or request signature: the request has expired")
            }
        }
        guard let credentials = try await store.credentials(apiKey: apiKey) else { throw Self.refusal }
        // Sign only the first value of each name, as the servlet API hands CloudStack.
        var seen = Set<String>()
        let signed = raw.filter { seen.insert($0.name).inserted }
        guard CloudStackSignature.isValid(signature: signature, for: signed, secretKey: credentials.secretKey) else {
            throw Self.refusal
        }
        guard credentials.user.state == .enabled, credentials.account.state == .enabled else {
            throw LunarError(.unauthorized, "the user or account is disabled")
        }
        return Caller(user: credentials.user, account: credentials.account)
    }
}
