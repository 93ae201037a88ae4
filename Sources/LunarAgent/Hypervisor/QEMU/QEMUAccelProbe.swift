import Foundation
import Logging

/// Decides once, at agent start, whether guests run on KVM or TCG. An openable `/dev/kvm` is not
/// enough: on kvm-pvm (a software hypervisor nested in Firecracker) KVM_RUN works but a Linux guest
/// dies at its first `int3`, so a CPU without vmx/svm, or the kvm_pvm module, means TCG.
public enum QEMUAccelProbe {
    public static func probe(binary: String, logger: Logger) -> String {
        let reason: String
        if !FileManager.default.isReadableFile(atPath: "/dev/kvm") || !FileManager.default.isWritableFile(atPath: "/dev/kvm") {
            reason = "/dev/kvm is missing or not usable"
        } else if FileManager.default.fileExists(atPath: "/sys/module/kvm_pvm") {
            reason = "this /dev/kvm is kvm-pvm, which cannot boot a Linux guest"
        } else if let cpus = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8), !cpus.contains(" vmx") && !cpus.contains(" svm") {
            reason = "the CPU offers neither vmx nor svm"
        } else {
            logger.info("guests run on KVM")
            return "kvm"
        }
        logger.notice("guests run on TCG (emulated)", metadata: ["reason": .string(reason)])
        return "tcg"
    }
}
