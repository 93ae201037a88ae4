import LunarModel

extension APICall {
    /// Whose items a listing shows, as CloudStack does: a user sees its own account's; an admin
    /// sees every account's only with `listall=true`. Nil means every account.
    func listedAccount() throws -> AccountID? {
        let everyone = try parameters.bool("listall") ?? false
        return caller.isRootAdmin && everyone ? nil : caller.account.id
    }
}
