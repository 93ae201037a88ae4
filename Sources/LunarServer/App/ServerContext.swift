import Logging
import LunarModel
import LunarStorage

/// What commands reach: the store, the job runner, the clock, and the server's settings.
public struct ServerContext: Sendable {
    public let store: Store
    public let jobs: JobRunner
    public let time: any TimeSource
    /// What every wait, retry back-off and timeout sleeps on (a manual clock in simulations).
    public let clock: any Clock<Duration>
    public let logger: Logger
    public let commands: CommandTable
    public let providers: StorageProviderRegistry
    /// Every connected agent, for commands to hosts.
    public let agents: AgentGateway
    public let agentHeartbeatMilliseconds: Int
    /// Template downloads into secondary storage, and where their images are.
    public let templates: TemplateDownloads
    /// One flow at a time per VM.
    public let vmLocks = VMLocks()
    /// One attach or detach at a time per volume (taken before the VM's turn, never after), so
    /// two VMs cannot both pass the "not attached" check for one volume.
    public let volumeLocks = KeyedAsyncLock<VolumeID>()
    /// One maker at a time of a template's volume on a pool (`TemplateService`).
    let templateCopyLocks = KeyedAsyncLock<String>()
    /// Called when the bootstrap root admin's keys change, so `admin-keys.json` follows.
    let rootKeysChanged: @Sendable (_ old: UserKeys, _ new: UserKeys) async -> Void
}
