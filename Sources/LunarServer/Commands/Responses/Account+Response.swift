import LunarModel

extension Account {
    /// CloudStack's account response.
    func response(users: [User]) -> JSONObject {
        JSONObject([
            "id": id.uuid.json,
            "name": name.json,
            "accounttype": kind.rawValue.json,
            "roletype": kind.roleType.json,
            "domainid": domainID.uuid.json,
            "domain": Domain.root.name.json,
            "domainpath": Domain.root.path.json,
            "state": state.rawValue.json,
            "created": CloudStackDate.format(epochSeconds: createdEpochSeconds).json,
            "isdefault": (kind == .rootAdmin && name == "admin").json,
            "user": .array(users.map { .object($0.response(account: self)) }),
        ])
    }
}

extension User {
    /// CloudStack's user response. The secret key is never part of it.
    func response(account: Account) -> JSONObject {
        JSONObject([
            "id": id.uuid.json,
            "username": username.json,
            "firstname": firstName.json,
            "lastname": lastName.json,
            "email": email.json,
            "created": CloudStackDate.format(epochSeconds: createdEpochSeconds).json,
            "state": state.rawValue.json,
            "account": account.name.json,
            "accounttype": account.kind.rawValue.json,
            "roletype": account.kind.roleType.json,
            "accountid": account.id.uuid.json,
            "domainid": account.domainID.uuid.json,
            "domain": Domain.root.name.json,
            "apikey": apiKey.json,
        ])
    }
}

extension UserKeys {
    var response: JSONObject {
        JSONObject(["apikey": apiKey.json, "secretkey": secretKey.json])
    }
}
