import LunarModel

/// One flow at a time per VM: jobs (start, stop, attach, migrate, ...) and HA's recoveries take
/// the VM's turn here, so a stop cannot miss a disk an attach is adding, nor HA undo a live job.
/// In this process only; several servers on one database would claim VMs by row instead.
public typealias VMLocks = KeyedAsyncLock<VirtualMachineID>
