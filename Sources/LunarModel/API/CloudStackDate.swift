/// CloudStack's timestamp format, `yyyy-MM-dd'T'HH:mm:ssZ` (e.g. `2026-11-23T06:01:12+0000`), used
/// for `created` fields and the `expires` parameter of signature version 3.
public enum CloudStackDate {
    /// Formats seconds since 1970 (UTC) as CloudStack does.
    public static func format(epochSeconds: Int64) -> String {
        let days = floorDivide(epochSeconds, 86_400)
        let secondsOfDay = epochSeconds - days * 86_400
        let (year, month, day) = civil(fromDays: days)
        func pad(_ value: Int64, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T"
            + "\(pad(secondsOfDay / 3600, 2)):\(pad(secondsOfDay / 60 % 60, 2)):\(pad(secondsOfDay % 60, 2))+0000"
    }

    /// Parses `yyyy-MM-ddTHH:mm:ss` followed by `Z`, `±hhmm` or `±hh:mm` (optionally with
    /// fractional seconds) into seconds since 1970, or nil when it is not such a timestamp.
    public static func parse(_ text: String) -> Int64? {
        let characters = Array(text.utf8)
        guard characters.count >= 19 else { return nil }
        func number(_ range: Range<Int>) -> Int64? {
            var value: Int64 = 0
            for index in range {
                let digit = Int64(characters[index]) - 48
                guard (0...9).contains(digit) else { return nil }
                value = value * 10 + digit
            }
            return value
        }
        guard characters[4] == UInt8(ascii: "-"), characters[7] == UInt8(ascii: "-"),
            characters[10] == UInt8(ascii: "T") || characters[10] == UInt8(ascii: " "),
            characters[13] == UInt8(ascii: ":"), characters[16] == UInt8(ascii: ":"),
            let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var index = 19
        if index < characters.count, characters[index] == UInt8(ascii: ".") {
            index += 1
            while index < characters.count, (48...57).contains(characters[index]) { index += 1 }
        }
        var offsetSeconds: Int64 = 0
        let zone = Array(characters[index...])
        if zone == [UInt8(ascii: "Z")] {
            offsetSeconds = 0
        } else if zone.count == 5 || zone.count == 6, zone[0] == UInt8(ascii: "+") || zone[0] == UInt8(ascii: "-") {
            let base = index + 1
            let colon = zone.count == 6
            if colon && zone[3] != UInt8(ascii: ":") { return nil }
            guard let hours = number(base..<base + 2), let minutes = number((colon ? base + 3 : base + 2)..<(colon ? base + 5 : base + 4))
            else { return nil }
            offsetSeconds = (hours * 3600 + minutes * 60) * (zone[0] == UInt8(ascii: "-") ? -1 : 1)
        } else {
            return nil
        }
        let days = days(fromCivil: year, month, day)
        return days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
    }

    // Howard Hinnant's civil-calendar algorithms.
    static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDivide(y, 400)
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = floorDivide(z, 146_097)
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func floorDivide(_ lhs: Int64, _ rhs: Int64) -> Int64 {
        lhs >= 0 ? lhs / rhs : (lhs - rhs + 1) / rhs
    }
}
