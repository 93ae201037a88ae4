import LunarModel
import LunarWire

/// The QEMU command line and block graph of one guest, pure: a spec and paths in, arguments and
/// QMP objects out. The same builders serve the command line (`-blockdev JSON`) and hot-plug
/// (`blockdev-add`), so a disk attached later is configured exactly as one present at start.
///
/// Each disk becomes, bottom to top:
///
///     secret k… (CHAP password, read from a 0600 file, never on the command line)
///     source s… (driver iscsi: QEMU's own initiator logs in with the host's IQN; or file)
///     throttle v… (only when the hypervisor enforces limits: a throttle-group t… object)
///     device d… (virtio-blk-pci, werror=stop,rerror=stop: a fenced guest pauses, never corrupts)
///
/// Names derive from the volume id, so an adopted guest's `query-block` maps back to volumes.
public struct QEMUCommandLine: Sendable {
    public var spec: VMSpec
    public var accel: String
    public var initiatorIQN: String
    /// The guest's folder: `qmp` (socket), `qemu.pid`, `secrets/`.
    public var directory: String
    public var consoleLog: String
    /// Receive a migration (`-incoming defer`) instead of booting.
    public var incoming: Bool

    public init(spec: VMSpec, accel: String, initiatorIQN: String, directory: String, consoleLog: String, incoming: Bool) {
        self.spec = spec
        self.accel = accel
        self.initiatorIQN = initiatorIQN
        self.directory = directory
        self.consoleLog = consoleLog
        self.incoming = incoming
    }

    /// Long enough that a SAN busy with QoS queues never trips it, short enough that a fence shows.
    public static let iscsiTimeoutSeconds = 10

    public var qmpSocket: String { directory + "/qmp" }
    public var pidFile: String { directory + "/qemu.pid" }

    /// Every argument after the binary. `-daemonize`: QEMU returns once the guest's devices are
    /// open (a refused login fails the start) and then lives in its own session, past the agent.
    public func arguments() -> [String] {
        var arguments = [
            "-name", spec.id.uuid, "-uuid", spec.id.uuid,
            "-machine", "pc", "-accel", accel,
            "-m", "\(max(64, spec.memoryMB))", "-smp", "\(max(1, spec.cpuCores))",
            "-nodefaults", "-no-user-config", "-display", "none",
            "-chardev", "file,id=console,path=\(consoleLog),append=on", "-serial", "chardev:console",
            "-qmp", "unix:\(qmpSocket),server=on,wait=off",
            "-pidfile", pidFile, "-daemonize",
        ]
        for disk in spec.disks.sorted(by: { $0.deviceID < $1.deviceID }) {
            let names = Self.names(disk.volumeID)
            if Self.chap(disk) != nil { arguments += ["-object", "secret,id=\(names.secret),file=\(secretFile(disk.volumeID)),format=raw"] }
            if let group = Self.throttleGroup(disk) { arguments += ["-object", group.serialized] }
            for node in blockNodes(disk) { arguments += ["-blockdev", node.serialized] }
            var device = "virtio-blk-pci,id=\(names.device),drive=\(names.top),serial=\(Self.serial(disk.volumeID)),werror=stop,rerror=stop"
            if disk.deviceID == 0 { device += ",bootindex=0" }
            arguments += ["-device", device]
        }
        if incoming { arguments += ["-incoming", "defer"] }
        return arguments
    }

    public func secretFile(_ volume: VolumeID) -> String { directory + "/secrets/" + Self.names(volume).secret }

    /// The CHAP user and secret of a disk on iSCSI, if it has them.
    static func chap(_ disk: DiskSpec) -> (user: String, secret: String)? {
        guard case .iscsi(_, _, _, let user?, let secret?) = disk.connection else { return nil }
        return (user, secret)
    }

    public struct Names: Sendable, Equatable {
        public var secret, source, throttleGroup, top, device: String
    }

    public static func names(_ volume: VolumeID) -> Names {
        let hex = String(volume.uuid.lowercased().filter { $0 != "-" }.prefix(24))
        return Names(secret: "k" + hex, source: "s" + hex, throttleGroup: "t" + hex, top: "v" + hex, device: "d" + hex)
    }

    /// virtio-blk's serial (20 characters at most): how the guest tells its disks apart.
    static func serial(_ volume: VolumeID) -> String { String(volume.uuid.lowercased().filter { $0 != "-" }.prefix(20)) }

    /// `blockdev-add` arguments, bottom first.
    public func blockNodes(_ disk: DiskSpec) -> [JSONObject] {
        let names = Self.names(disk.volumeID)
        let throttled = Self.throttleGroup(disk) != nil
        var source: JSONObject
        switch disk.connection {
        case .iscsi(let portal, let iqn, let lun, let user, _):
            source = JSONObject([
                "driver": "iscsi", "transport": "tcp", "portal": portal.json, "target": iqn.json, "lun": lun.json,
                "initiator-name": initiatorIQN.json,
                // A request the SAN does not answer fails after this many seconds, and werror=stop
                // pauses the guest. (A fence is different: the SAN drops the session and refuses
                // the re-login, which libiscsi retries without end, so the writes hang unanswered;
                // nothing reaches the disk either way. docs/qemu.md.)
                "timeout": Self.iscsiTimeoutSeconds.json,
            ])
            if let user, Self.chap(disk) != nil {
                source["user"] = user.json
                source["password-secret"] = names.secret.json
            }
        case .file(let path):
            source = JSONObject(["driver": "file", "filename": path.json, "aio": "threads"])
        }
        source["node-name"] = (throttled ? names.source : names.top).json
        source["cache"] = .object(JSONObject(["direct": true, "no-flush": false]))
        source["discard"] = "unmap"
        guard throttled else { return [source] }
        let throttle = JSONObject(["driver": "throttle", "node-name": names.top.json, "throttle-group": names.throttleGroup.json, "file": names.source.json])
        return [source, throttle]
    }

    /// `device_add` arguments for hot-plug.
    public func device(_ disk: DiskSpec) -> JSONObject {
        let names = Self.names(disk.volumeID)
        return JSONObject([
            "driver": "virtio-blk-pci", "id": names.device.json, "drive": names.top.json, "serial": Self.serial(disk.volumeID).json, "werror": "stop",
            "rerror": "stop",
        ])
    }

    /// The throttle-group object (`object-add` / `-object` JSON), when the disk has limits.
    public static func throttleGroup(_ disk: DiskSpec) -> JSONObject? {
        let limits = throttleLimits(disk)
        guard !limits.isEmpty else { return nil }
        return JSONObject(["qom-type": "throttle-group", "id": names(disk.volumeID).throttleGroup.json, "limits": .object(limits)])
    }

    /// QEMU's ThrottleLimits from the offering's twelve rate limits (and a total IOPS cap).
    public static func throttleLimits(_ disk: DiskSpec) -> JSONObject {
        var limits = JSONObject()
        if let limit = disk.limits {
            for (kind, stem) in [(HypervisorRateLimits.Kind.bytesRead, "bps-read"), (.bytesWrite, "bps-write"), (.iopsRead, "iops-read"), (.iopsWrite, "iops-write")] {
                let value = limit[kind]
                guard let rate = value.rate, rate > 0 else { continue }
                limits[stem] = rate.json
                if let max = value.max, max > 0 { limits[stem + "-max"] = max.json }
                if let length = value.maxLength, length > 0, value.max != nil { limits[stem + "-max-length"] = length.json }
            }
        }
        if let total = disk.totalIOPSLimit, total > 0 { limits["iops-total"] = total.json }
        return limits
    }
}
